package io.sparticle.io;

import java.io.IOException;

/**
 * A readable file of known length: the only thing the format readers need from storage.
 *
 * <p>Implementations: {@link LocalInputFile} (java.nio, for tools and unit tests) and
 * {@code HadoopInputFile} (any Hadoop FileSystem: {@code file:}, {@code hdfs:}, {@code s3a:}).
 *
 * <pre>{@code
 * try (RangeReader in = file.open()) {
 *   byte[] head = new byte[8];
 *   in.readFully(0, head, 0, 8);
 * }
 * }</pre>
 */
public interface InputFile {
  /** The path as the user named it, for messages. */
  String path();

  /** The file's length in bytes. */
  long length() throws IOException;

  /** Opens the file for positioned reads; the caller closes it. */
  RangeReader open() throws IOException;
}
