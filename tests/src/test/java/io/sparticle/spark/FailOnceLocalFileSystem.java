package io.sparticle.spark;

import java.io.IOException;
import java.io.OutputStream;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.util.Progressable;

/**
 * The local file system, except that while armed, writing a {@code part-*} file fails after
 * {@link #FAIL_AFTER_BYTES}: an encode task dying half-way through its output. Registered as
 * {@code fs.file.impl} by tests; executors of local mode share this JVM, so the counter is shared.
 */
public class FailOnceLocalFileSystem extends RawLocalFileSystem {
  static final AtomicInteger FAILURES_LEFT = new AtomicInteger();
  static final AtomicInteger FAILED = new AtomicInteger();
  static final int FAIL_AFTER_BYTES = 4096;

  @Override
  public FSDataOutputStream create(Path f, FsPermission permission, boolean overwrite,
      int bufferSize, short replication, long blockSize, Progressable progress) throws IOException {
    return maybeFailing(f,
        super.create(f, permission, overwrite, bufferSize, replication, blockSize, progress));
  }

  // RawLocalFileSystem's create(Path, boolean) lands here, not in the overload above.
  @Override
  public FSDataOutputStream create(Path f, boolean overwrite, int bufferSize, short replication,
      long blockSize, Progressable progress) throws IOException {
    return maybeFailing(f, super.create(f, overwrite, bufferSize, replication, blockSize, progress));
  }

  private static FSDataOutputStream maybeFailing(Path f, FSDataOutputStream out) {
    if (!f.getName().startsWith("part-") || FAILURES_LEFT.getAndDecrement() <= 0) {
      return out;
    }
    OutputStream failing = new OutputStream() {
      long written;

      @Override
      public void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
      }

      @Override
      public void write(byte[] b, int off, int len) throws IOException {
        if (written + len > FAIL_AFTER_BYTES) {
          int n = (int) (FAIL_AFTER_BYTES - written);
          out.write(b, off, n);
          written += n;
          out.hflush();
          FAILED.incrementAndGet();
          throw new IOException("Injected fault after " + written + " bytes of " + f);
        }
        out.write(b, off, len);
        written += len;
      }

      @Override
      public void close() throws IOException {
        out.close();
      }
    };
    return new FSDataOutputStream(failing, null);
  }
}
