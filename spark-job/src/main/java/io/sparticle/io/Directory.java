package io.sparticle.io;

import java.io.IOException;
import java.util.List;

/**
 * A directory of files, read-only: what the compressed-checkpoint reader needs from storage.
 * {@link LocalDirectory} (java.nio) and {@link HadoopDirectory} (any Hadoop FileSystem).
 *
 * <pre>{@code
 * CompressedCheckpoint c = CompressedCheckpoint.open(new LocalDirectory(Path.of("out")));
 * }</pre>
 */
public interface Directory {
  /** The directory as the user named it (qualified where the store does that), for messages. */
  String path();

  /** The path of a file in it, as {@link InputFile#path()} and tasks name it. */
  String child(String name);

  boolean exists() throws IOException;

  /** Whether {@code name} exists in it. */
  boolean exists(String name) throws IOException;

  /** The length of {@code name}, or -1 when it does not exist. */
  long length(String name) throws IOException;

  /** {@code name} as a file of known length. */
  InputFile file(String name, long length) throws IOException;

  /** The names in it; directories end with '/'. */
  List<String> list() throws IOException;

  /** The names in its subdirectory {@code name}; directories end with '/'. */
  List<String> list(String name) throws IOException;
}
