package io.sparticle.storage;

import java.io.IOException;
import java.io.OutputStream;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.hadoop.fs.Abortable;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.fs.s3a.S3AFileSystem;
import org.apache.hadoop.util.Progressable;

/**
 * S3A, except that while armed an upload of a {@code part-*} object fails after 4 KiB. Its
 * stream stays abortable, as S3A's own is, so the test sees whether the writer aborts (nothing
 * published) or closes (partial object published). Registered as {@code fs.s3a.impl}.
 */
public class FailOnceS3AFileSystem extends S3AFileSystem {
  static final AtomicInteger FAILURES_LEFT = new AtomicInteger();
  static final AtomicInteger FAILED = new AtomicInteger();

  @Override
  public FSDataOutputStream create(Path f, FsPermission permission, boolean overwrite,
      int bufferSize, short replication, long blockSize, Progressable progress) throws IOException {
    FSDataOutputStream real =
        super.create(f, permission, overwrite, bufferSize, replication, blockSize, progress);
    if (!f.getName().startsWith("part-") || FAILURES_LEFT.getAndDecrement() <= 0) {
      return real;
    }
    return new FSDataOutputStream(new Failing(real, f), null);
  }

  private static final class Failing extends OutputStream implements Abortable {
    private final FSDataOutputStream real;
    private final Path path;
    private long written;

    Failing(FSDataOutputStream real, Path path) {
      this.real = real;
      this.path = path;
    }

    @Override
    public void write(int b) throws IOException {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      if (written + len > 4096) {
        FAILED.incrementAndGet();
        throw new IOException("Injected fault after " + written + " bytes of " + path);
      }
      real.write(b, off, len);
      written += len;
    }

    @Override
    public void close() throws IOException {
      real.close();
    }

    @Override
    public AbortableResult abort() {
      return real.abort();
    }
  }
}
