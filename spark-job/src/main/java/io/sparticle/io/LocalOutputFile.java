package io.sparticle.io;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.zip.CRC32C;

/** An {@link OutputFile} on the local file system: a temp file beside it, renamed into place. */
public final class LocalOutputFile implements OutputFile {
  private final Path file;

  public LocalOutputFile(Path file) {
    this.file = file;
  }

  @Override
  public String path() {
    return file.toString();
  }

  @Override
  public Output create() throws IOException {
    Path temp = Files.createTempFile(file.toAbsolutePath().getParent(), "." + file.getFileName(), ".tmp");
    OutputStream os = Files.newOutputStream(temp);
    return new Output() {
      final CRC32C crc = new CRC32C();
      long written;
      boolean done;

      @Override
      public void write(byte[] b, int offset, int length) throws IOException {
        os.write(b, offset, length);
        crc.update(b, offset, length);
        written += length;
      }

      @Override
      public Committed commit(long expectedLength) throws IOException {
        if (written != expectedLength) {
          throw new IllegalStateException("Wrote " + written + " bytes for " + file
              + " but its layout says " + expectedLength);
        }
        os.close();
        Files.move(temp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        done = true;
        return new Committed(written, String.format("%08x", crc.getValue()));
      }

      @Override
      public void close() throws IOException {
        if (!done) {
          done = true;
          os.close();
          Files.deleteIfExists(temp);
        }
      }
    };
  }
}
