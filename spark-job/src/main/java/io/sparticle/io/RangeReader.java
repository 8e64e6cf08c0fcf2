package io.sparticle.io;

import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;

/** Positioned reads of byte ranges from one open file. Not thread-safe. */
public interface RangeReader extends Closeable {
  /**
   * Reads exactly {@code length} bytes starting at {@code position} into {@code buffer}.
   *
   * @throws EOFException if the file ends before {@code position + length}
   */
  void readFully(long position, byte[] buffer, int offset, int length) throws IOException;

  /** Bytes read so far. */
  default long bytesRead() {
    return 0;
  }

  /** Requests the store served so far (e.g. S3 GETs), or -1 if it does not say. */
  default long requests() {
    return -1;
  }
}
