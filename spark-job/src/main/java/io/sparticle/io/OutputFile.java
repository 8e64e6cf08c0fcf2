package io.sparticle.io;

import java.io.IOException;

/**
 * A file written once, all or nothing: what the compressed-checkpoint writer needs from storage,
 * matching {@link InputFile}. Nothing appears under the file's name unless {@link Output#commit}
 * succeeds; closing without committing discards what was written.
 *
 * <p>Implementations: {@link LocalOutputFile} (java.nio: a temp file renamed into place) and the
 * Spark job's part writer (temp file and rename on HDFS, an abortable direct upload on object
 * stores; FORMAT.md section 4).
 *
 * <pre>{@code
 * try (OutputFile.Output out = file.create()) {
 *   out.write(bytes, 0, bytes.length);
 *   OutputFile.Committed c = out.commit(bytes.length);
 * }
 * }</pre>
 */
public interface OutputFile {
  /** The path, for messages. */
  String path();

  /** Starts writing; the caller commits, then closes. */
  Output create() throws IOException;

  /** The bytes being written. */
  interface Output extends AutoCloseable {
    void write(byte[] b, int offset, int length) throws IOException;

    /** Copies {@code length} bytes from {@code offset} of {@code in}, at most chunkBytes at a time. */
    default void copy(RangeReader in, long offset, long length, long chunkBytes) throws IOException {
      byte[] buf = new byte[(int) Math.max(1, Math.min(chunkBytes, length))];
      for (long done = 0; done < length; ) {
        int n = (int) Math.min(buf.length, length - done);
        in.readFully(offset + done, buf, 0, n);
        write(buf, 0, n);
        done += n;
      }
    }

    /**
     * Publishes the file under its name after checking that exactly {@code expectedLength}
     * bytes were written.
     */
    Committed commit(long expectedLength) throws IOException;

    /** Discards the file unless it was committed. */
    @Override
    void close() throws IOException;
  }

  /** A published file's size and CRC-32C (8 lowercase hex digits). */
  record Committed(long size, String crc32c) {}
}
