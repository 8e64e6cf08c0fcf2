package io.sparticle.spark;

import io.sparticle.format.TensorDecoder;
import io.sparticle.io.OutputFile;
import io.sparticle.io.OutputFile.Committed;
import io.sparticle.io.RangeReader;
import io.sparticle.io.Storage;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.UUID;
import java.util.zip.CRC32C;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.TaskContext;

/**
 * Writes one output file so that its final name only ever holds a complete file.
 *
 * <ul>
 *   <li>File systems with atomic rename (HDFS, local): bytes go to
 *       {@code <out>/_temporary/<attempt>/<name>} and are renamed into place on {@link #commit}.
 *       The first attempt's rename wins; a later attempt finds the name taken and deletes its temp
 *       file (all attempts of a task write identical bytes).
 *   <li>Object stores (S3A and the like, see {@link Storage#isObjectStore}): no rename, which would
 *       be a copy. An object only becomes visible when its upload completes, so bytes go straight
 *       to the final name, and an attempt that fails is <em>aborted</em>, never closed: closing
 *       would complete the upload with partial bytes.
 * </ul>
 *
 * <p>Closing without {@link #commit} discards what was written.
 */
final class PartWriter implements OutputFile.Output {
  static final String TEMP_DIR = "_temporary";
  private static final int BUFFER_BYTES = 1 << 20;

  private final FileSystem fs;
  private final Path temp; // null when writing straight to the target
  private final Path target;
  private final FSDataOutputStream raw;
  private final OutputStream out;
  private final CRC32C crc = new CRC32C();
  private byte[] copyBuffer;
  private long written;
  private boolean done;

  private PartWriter(FileSystem fs, Path temp, Path target) throws IOException {
    this.fs = fs;
    this.temp = temp;
    this.target = target;
    this.raw = fs.create(temp != null ? temp : target, true);
    this.out = new BufferedOutputStream(raw, BUFFER_BYTES);
  }

  /** {@code name} in {@code outputDir} as an {@link OutputFile} written by a PartWriter. */
  static OutputFile file(String outputDir, String name, Configuration conf) {
    return new OutputFile() {
      @Override
      public String path() {
        return new Path(outputDir, name).toString();
      }

      @Override
      public Output create() throws IOException {
        return open(outputDir, name, conf);
      }
    };
  }

  static PartWriter open(String outputDir, String name, Configuration conf) throws IOException {
    Path dir = new Path(outputDir);
    FileSystem fs = Storage.forWriting(dir, conf);
    Path target = new Path(dir, name);
    if (Storage.isObjectStore(fs)) {
      return new PartWriter(fs, null, target);
    }
    return new PartWriter(fs, new Path(new Path(new Path(dir, TEMP_DIR), attemptId()), name), target);
  }

  private static String attemptId() {
    TaskContext tc = TaskContext.get();
    if (tc == null) {
      return "driver-" + UUID.randomUUID();
    }
    return "stage-" + tc.stageId() + "." + tc.stageAttemptNumber() + "-task-" + tc.taskAttemptId();
  }

  /**
   * Stops here if Spark cancelled this task: a cancelled job does not interrupt its running
   * tasks, and one that carried on would publish a part into an output whose job already failed.
   */
  static void stopIfKilled() {
    TaskContext tc = TaskContext.get();
    if (tc != null) {
      tc.killTaskIfInterrupted();
    }
  }

  /**
   * Writes in pieces of at most the buffer's size: a larger write bypasses the buffer, and the
   * local file system's {@code FileOutputStream} then copies it through a fresh native buffer of
   * its whole size (mapped, faulted in and unmapped again for every 64 MiB chunk). Each piece is
   * checksummed while it is still in the CPU's cache.
   */
  @Override
  public void write(byte[] b, int off, int len) throws IOException {
    java.util.Objects.checkFromIndexSize(off, len, b.length);
    for (int done = 0; done < len; ) {
      int n = Math.min(BUFFER_BYTES, len - done);
      out.write(b, off + done, n);
      crc.update(b, off + done, n);
      done += n;
    }
    written += len;
  }

  /**
   * Copies {@code length} bytes from {@code offset} of {@code in}, at most chunkBytes (and
   * {@link TensorDecoder#READ_BYTES}) at a time, through one buffer reused across copies.
   */
  @Override
  public void copy(RangeReader in, long offset, long length, long chunkBytes) throws IOException {
    int size = (int) Math.max(1, Math.min(Math.min(chunkBytes, TensorDecoder.READ_BYTES), length));
    if (copyBuffer == null || copyBuffer.length < size) {
      copyBuffer = new byte[size];
    }
    for (long done = 0; done < length; ) {
      stopIfKilled();
      int n = (int) Math.min(size, length - done);
      in.readFully(offset + done, copyBuffer, 0, n);
      write(copyBuffer, 0, n);
      done += n;
    }
  }

  /** Completes the file under its final name after checking its length. */
  @Override
  public Committed commit(long expectedLength) throws IOException {
    if (written != expectedLength) {
      // Checked before close: on an object store, close is what publishes the object.
      throw new IllegalStateException("Wrote " + written + " bytes for " + target
          + " but its layout says " + expectedLength);
    }
    stopIfKilled();
    // Flush, then close the raw stream ourselves: BufferedOutputStream.close() closes the stream
    // under it even when its flush fails, which on an object store publishes a partial object.
    out.flush();
    raw.close();
    done = true;
    Path file = temp != null ? temp : target;
    long len = fs.getFileStatus(file).getLen();
    if (len != expectedLength) {
      throw new IOException(file + " holds " + len + " bytes after close, expected " + expectedLength);
    }
    if (temp != null) {
      if (!fs.rename(temp, target)) {
        // Another attempt of this task committed first; its bytes are the same as ours.
        FileStatus existing = fs.exists(target) ? fs.getFileStatus(target) : null;
        if (existing == null || existing.getLen() != expectedLength) {
          throw new IOException("Could not rename " + temp + " to " + target);
        }
        fs.delete(temp, false);
      }
      fs.delete(temp.getParent(), true);
    }
    return new Committed(expectedLength, String.format("%08x", crc.getValue()));
  }

  @Override
  public void close() throws IOException {
    if (done) {
      return;
    }
    done = true;
    if (temp != null) {
      try {
        raw.close();
      } finally {
        fs.delete(temp.getParent(), true);
      }
    } else {
      // Discard the upload: nothing may appear under the final name. A store whose streams
      // cannot abort is left unclosed rather than closed: closing would publish partial bytes.
      try {
        raw.abort();
      } catch (UnsupportedOperationException e) {
        // Nothing safer to do.
      }
    }
  }
}
