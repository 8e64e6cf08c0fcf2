package io.sparticle.io;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** An {@link InputFile} on the local file system, without Hadoop. */
public final class LocalInputFile implements InputFile {
  private final Path file;

  public LocalInputFile(Path file) {
    this.file = file;
  }

  @Override
  public String path() {
    return file.toString();
  }

  @Override
  public long length() throws IOException {
    return Files.size(file);
  }

  @Override
  public RangeReader open() throws IOException {
    FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
    return new RangeReader() {
      @Override
      public void readFully(long position, byte[] buffer, int offset, int length) throws IOException {
        ByteBuffer dst = ByteBuffer.wrap(buffer, offset, length);
        long pos = position;
        while (dst.hasRemaining()) {
          int n = channel.read(dst, pos);
          if (n < 0) {
            throw new EOFException(
                file + ": end of file at byte " + pos + ", wanted " + length + " bytes from " + position);
          }
          pos += n;
        }
      }

      @Override
      public void close() throws IOException {
        channel.close();
      }
    };
  }
}
