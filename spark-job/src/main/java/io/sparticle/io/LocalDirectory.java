package io.sparticle.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** A {@link Directory} on the local file system, for tools and unit tests. */
public final class LocalDirectory implements Directory {
  private final Path dir;

  public LocalDirectory(Path dir) {
    this.dir = dir;
  }

  @Override
  public String path() {
    return dir.toString();
  }

  @Override
  public String child(String name) {
    return dir.resolve(name).toString();
  }

  @Override
  public boolean exists() {
    return Files.isDirectory(dir);
  }

  @Override
  public boolean exists(String name) {
    return Files.exists(dir.resolve(name));
  }

  @Override
  public long length(String name) throws IOException {
    Path p = dir.resolve(name);
    return Files.exists(p) ? Files.size(p) : -1;
  }

  @Override
  public InputFile file(String name, long length) {
    return new LocalInputFile(dir.resolve(name));
  }

  @Override
  public List<String> list() throws IOException {
    return list(dir);
  }

  @Override
  public List<String> list(String name) throws IOException {
    return list(dir.resolve(name));
  }

  private static List<String> list(Path dir) throws IOException {
    List<String> out = new ArrayList<>();
    try (Stream<Path> s = Files.list(dir)) {
      s.forEach(p -> out.add(p.getFileName() + (Files.isDirectory(p) ? "/" : "")));
    }
    return out;
  }
}
