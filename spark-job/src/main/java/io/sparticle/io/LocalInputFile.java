package io.sparticle.io;

import java.io.IOException;
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
    return new ChannelRangeReader(file.toString(), FileChannel.open(file, StandardOpenOption.READ));
  }
}
