package io.sparticle.cluster;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.URI;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.util.Progressable;
import org.apache.spark.TaskContext;

/**
 * The local file system under the scheme {@code slowfile}, with the encode pass slowed down so a
 * test can hurt the job while parts are being written. Lives on the cluster's executors (shipped
 * with {@code --jars}), so it is configured through Hadoop keys, never through statics:
 *
 * <ul>
 *   <li>{@value #SIGNAL_DIR}: a local directory where every task attempt that starts writing a
 *       {@code part-*} file drops an empty file named
 *       {@code write.<part>.attempt<N>.pid<executor pid>}, for the test to watch;
 *   <li>{@value #DELAY_MS}: after its first bytes, each part write pauses this long;
 *   <li>{@value #STALL_PART}: the first attempt to write this part stalls (up to
 *       {@value #STALL_MS} ms) until it is killed: a straggler for speculation.
 * </ul>
 */
public class SlowWriteFileSystem extends RawLocalFileSystem {
  public static final String SCHEME = "slowfile";
  public static final String SIGNAL_DIR = "sparticle.test.signal-dir";
  public static final String DELAY_MS = "sparticle.test.part-delay-ms";
  public static final String STALL_PART = "sparticle.test.stall-part";
  static final long STALL_MS = 120_000;

  @Override
  public URI getUri() {
    return URI.create(SCHEME + ":///");
  }

  @Override
  public String getScheme() {
    return SCHEME;
  }

  @Override
  public FSDataOutputStream create(org.apache.hadoop.fs.Path f, FsPermission permission,
      boolean overwrite, int bufferSize, short replication, long blockSize, Progressable progress)
      throws IOException {
    return slowed(f,
        super.create(f, permission, overwrite, bufferSize, replication, blockSize, progress));
  }

  @Override
  public FSDataOutputStream create(org.apache.hadoop.fs.Path f, boolean overwrite, int bufferSize,
      short replication, long blockSize, Progressable progress) throws IOException {
    return slowed(f, super.create(f, overwrite, bufferSize, replication, blockSize, progress));
  }

  private FSDataOutputStream slowed(org.apache.hadoop.fs.Path f, FSDataOutputStream out) {
    TaskContext task = TaskContext.get();
    String part = f.getName();
    if (task == null || !part.startsWith("part-")) {
      return out;
    }
    Path signals = Path.of(getConf().get(SIGNAL_DIR));
    long delayMs = getConf().getLong(DELAY_MS, 0);
    String stallPart = getConf().get(STALL_PART, "");
    OutputStream slow = new OutputStream() {
      boolean paused;

      @Override
      public void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
      }

      @Override
      public void write(byte[] b, int off, int len) throws IOException {
        out.write(b, off, len);
        if (!paused) {
          paused = true;
          out.hflush(); // a partial file is really on disk while we wait
          signal(signals, "write." + part + ".attempt" + task.attemptNumber()
              + ".pid" + ProcessHandle.current().pid());
          pause(part.equals(stallPart) && claim(signals, part) ? STALL_MS : delayMs);
        }
      }

      @Override
      public void close() throws IOException {
        out.close();
      }
    };
    return new FSDataOutputStream(slow, null);
  }

  private static void signal(Path dir, String name) throws IOException {
    Files.createDirectories(dir);
    try {
      Files.createFile(dir.resolve(name));
    } catch (FileAlreadyExistsException e) {
      // The same attempt number on another stage attempt: one signal is enough.
    }
  }

  /** True for the first attempt to ask, across all executors (the file system is shared). */
  private static boolean claim(Path dir, String part) throws IOException {
    try {
      Files.createFile(dir.resolve("stall." + part));
      return true;
    } catch (FileAlreadyExistsException e) {
      return false;
    }
  }

  private static void pause(long ms) throws IOException {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while slowed down");
    }
  }
}
