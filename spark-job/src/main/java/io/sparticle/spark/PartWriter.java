package io.sparticle.spark;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.UUID;
import java.util.zip.CRC32C;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.TaskContext;
import io.sparticle.io.Storage;

/**
 * Writes one output file so that its final name only ever holds a complete file: bytes go to
 * {@code <out>/_temporary/<attempt>/<name>} and are renamed into place on {@link #commit}. Two
 * attempts of the same task (a retry, a speculative copy) write identical bytes; the first rename
 * wins and the other attempt deletes its temp file. Not closing without commit deletes the temp.
 */
final class PartWriter implements AutoCloseable {
  static final String TEMP_DIR = "_temporary";

  private final FileSystem fs;
  private final Path temp;
  private final Path target;
  private final OutputStream out;
  private final CRC32C crc = new CRC32C();
  private long written;
  private boolean done;

  record Committed(long size, String crc32c) {}

  private PartWriter(FileSystem fs, Path temp, Path target) throws IOException {
    this.fs = fs;
    this.temp = temp;
    this.target = target;
    this.out = new BufferedOutputStream(fs.create(temp, true), 1 << 20);
  }

  static PartWriter open(String outputDir, String name, Configuration conf) throws IOException {
    Path dir = new Path(outputDir);
    FileSystem fs = Storage.forWriting(dir, conf);
    return new PartWriter(fs, new Path(new Path(new Path(dir, TEMP_DIR), attemptId()), name),
        new Path(dir, name));
  }

  private static String attemptId() {
    TaskContext tc = TaskContext.get();
    if (tc == null) {
      return "driver-" + UUID.randomUUID();
    }
    return "stage-" + tc.stageId() + "." + tc.stageAttemptNumber() + "-task-" + tc.taskAttemptId();
  }

  void write(byte[] b, int off, int len) throws IOException {
    out.write(b, off, len);
    crc.update(b, off, len);
    written += len;
  }

  /** Closes the temp file, checks its length, and renames it to the final name. */
  Committed commit(long expectedLength) throws IOException {
    out.close();
    if (written != expectedLength) {
      throw new IllegalStateException("Wrote " + written + " bytes to " + target + " but its layout says "
          + expectedLength);
    }
    long tempLen = fs.getFileStatus(temp).getLen();
    if (tempLen != expectedLength) {
      throw new IOException(temp + " holds " + tempLen + " bytes after close, expected " + expectedLength);
    }
    if (!fs.rename(temp, target)) {
      // Another attempt of this task committed first; its bytes are the same as ours.
      FileStatus existing = fs.exists(target) ? fs.getFileStatus(target) : null;
      if (existing == null || existing.getLen() != expectedLength) {
        throw new IOException("Could not rename " + temp + " to " + target);
      }
      fs.delete(temp, false);
    }
    done = true;
    fs.delete(temp.getParent(), true);
    return new Committed(written, String.format("%08x", crc.getValue()));
  }

  @Override
  public void close() throws IOException {
    if (!done) {
      try {
        out.close();
      } finally {
        fs.delete(temp.getParent(), true);
      }
    }
  }
}
