package io.sparticle.io;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * Positioned reads from a local file's {@link FileChannel}, through one small direct buffer that
 * the reader reuses. Reading into a heap array straight from a channel makes the JDK stage the
 * whole request in a temporary direct buffer of its size (kept per thread: a 64 MiB read pins
 * 64 MiB of native memory), and {@code FileInputStream} mallocs one per call; a buffer that fits
 * in the core's cache makes the copy into the caller's array nearly free. Not thread-safe.
 */
final class ChannelRangeReader implements RangeReader {
  /** Bytes per read system call: big enough to amortize the call, small enough to stay cached. */
  static final int PIECE_BYTES = 256 << 10;

  private final String path;
  private final FileChannel channel;
  private ByteBuffer piece;
  private long bytes;

  ChannelRangeReader(String path, FileChannel channel) {
    this.path = path;
    this.channel = channel;
  }

  @Override
  public void readFully(long position, byte[] buffer, int offset, int length) throws IOException {
    java.util.Objects.checkFromIndexSize(offset, length, buffer.length);
    if (piece == null && length > 0) {
      piece = ByteBuffer.allocateDirect(PIECE_BYTES);
    }
    long pos = position;
    int done = 0;
    while (done < length) {
      piece.clear().limit(Math.min(PIECE_BYTES, length - done));
      while (piece.hasRemaining()) {
        int n = channel.read(piece, pos + piece.position());
        if (n < 0) {
          throw new EOFException(path + ": end of file at byte " + (pos + piece.position())
              + ", wanted " + length + " bytes from " + position);
        }
      }
      piece.flip();
      int n = piece.remaining();
      piece.get(buffer, offset + done, n);
      done += n;
      pos += n;
    }
    bytes += length;
  }

  @Override
  public long bytesRead() {
    return bytes;
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
