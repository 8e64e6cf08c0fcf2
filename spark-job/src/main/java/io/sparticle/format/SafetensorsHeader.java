package io.sparticle.format;

import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * The validated header of one safetensors file: where the data section starts, the
 * {@code __metadata__} strings, and the tensors sorted by offset. Obtained from
 * {@link SafetensorsReader}; immutable.
 *
 * <pre>{@code
 * SafetensorsHeader header = SafetensorsReader.readHeader(new LocalInputFile(path));
 * for (TensorInfo t : header.tensors()) {
 *   long position = header.absoluteOffset(t);  // read t.byteLength() bytes from here
 * }
 * }</pre>
 */
public final class SafetensorsHeader {
  private final String file;
  private final long headerLength;
  private final long fileLength;
  private final Map<String, String> metadata;
  private final List<TensorInfo> tensors;
  private final Map<String, TensorInfo> byName;

  /**
   * Takes ownership of its arguments and trusts them: only {@link SafetensorsReader#parse} calls
   * this, after validating.
   */
  SafetensorsHeader(
      String file,
      long headerLength,
      long fileLength,
      Map<String, String> metadata,
      List<TensorInfo> sortedTensors,
      Map<String, TensorInfo> byName) {
    this.file = file;
    this.headerLength = headerLength;
    this.fileLength = fileLength;
    this.metadata = Collections.unmodifiableMap(metadata);
    this.tensors = Collections.unmodifiableList(sortedTensors);
    this.byName = Collections.unmodifiableMap(byName);
  }

  /** The file as the user named it, for messages. */
  public String file() {
    return file;
  }

  /** The header's JSON length {@code n}, from the file's 8-byte little-endian prefix. */
  public long headerLength() {
    return headerLength;
  }

  /** Where the data section starts in the file: {@code 8 + headerLength()}. */
  public long dataStart() {
    return 8 + headerLength;
  }

  public long fileLength() {
    return fileLength;
  }

  /** The {@code __metadata__} entries in file order; empty if absent. */
  public Map<String, String> metadata() {
    return metadata;
  }

  /** All tensors, sorted by offset (so in the order their bytes appear in the file). */
  public List<TensorInfo> tensors() {
    return tensors;
  }

  /** The tensor named {@code name}, or null. */
  public TensorInfo tensor(String name) {
    return byName.get(name);
  }

  /** Position of the tensor's first byte in the file. */
  public long absoluteOffset(TensorInfo t) {
    return dataStart() + t.begin();
  }

  @Override
  public String toString() {
    return "SafetensorsHeader[" + file + ", " + tensors.size() + " tensors, dataStart=" + dataStart()
        + ", fileLength=" + fileLength + "]";
  }
}
