package io.sparticle.format;

import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The header of a safetensors file about to be written: tensors are added in the order their
 * bytes will follow, and get contiguous offsets. Immutable once built.
 *
 * <p>The header is deterministic: the same calls give the same bytes. The JSON is compact, has
 * {@code __metadata__} first (keys in insertion order), then the tensors in insertion order, and
 * is padded with spaces so the data section starts at a multiple of 8, as the reference writer
 * does.
 *
 * <pre>{@code
 * SafetensorsLayout layout = SafetensorsLayout.builder()
 *     .metadata("format", "pt")
 *     .add("embed.weight", DType.F16, new long[] {32000, 4096})
 *     .build();
 * out.write(layout.headerBytes());
 * // then exactly layout.tensor("embed.weight").byteLength() bytes of data
 * }</pre>
 */
public final class SafetensorsLayout {
  private static final int PREFIX_LENGTH = 8;

  private final byte[] headerBytes;
  private final Map<String, String> metadata;
  private final List<TensorInfo> tensors;
  private final Map<String, TensorInfo> byName;
  private final long fileLength;

  private SafetensorsLayout(Builder b) {
    this.metadata = Collections.unmodifiableMap(new LinkedHashMap<>(b.metadata));
    this.tensors = List.copyOf(b.tensors);
    this.byName = Collections.unmodifiableMap(new HashMap<>(b.byName));
    byte[] json = json(metadata, tensors);
    int padded = Math.multiplyExact((json.length + PREFIX_LENGTH - 1) / PREFIX_LENGTH, PREFIX_LENGTH);
    if (padded > SafetensorsReader.MAX_HEADER_LENGTH) {
      throw new IllegalArgumentException(
          "Cannot build header of " + padded + " bytes: must be at most " + SafetensorsReader.MAX_HEADER_LENGTH);
    }
    byte[] bytes = new byte[PREFIX_LENGTH + padded];
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
    System.arraycopy(json, 0, bytes, PREFIX_LENGTH, json.length);
    Arrays.fill(bytes, PREFIX_LENGTH + json.length, bytes.length, (byte) ' ');
    this.headerBytes = bytes;
    try {
      this.fileLength = Math.addExact(bytes.length, b.end);
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException("Cannot build header: file length overflows a long", e);
    }
  }

  public static Builder builder() {
    return new Builder();
  }

  private static byte[] json(Map<String, String> metadata, List<TensorInfo> tensors) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (JsonGenerator g = Json.FACTORY.createGenerator(out)) {
      g.writeStartObject();
      if (!metadata.isEmpty()) {
        g.writeObjectFieldStart(SafetensorsReader.METADATA_KEY);
        for (Map.Entry<String, String> e : metadata.entrySet()) {
          g.writeStringField(e.getKey(), e.getValue());
        }
        g.writeEndObject();
      }
      for (TensorInfo t : tensors) {
        g.writeObjectFieldStart(t.name());
        g.writeStringField("dtype", t.dtype().name());
        g.writeArrayFieldStart("shape");
        for (int i = 0; i < t.rank(); i++) {
          g.writeNumber(t.dim(i));
        }
        g.writeEndArray();
        g.writeArrayFieldStart("data_offsets");
        g.writeNumber(t.begin());
        g.writeNumber(t.end());
        g.writeEndArray();
        g.writeEndObject();
      }
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException("I/O error writing to memory", e);
    }
    return out.toByteArray();
  }

  /** The 8-byte little-endian length prefix followed by the padded JSON; a copy. */
  public byte[] headerBytes() {
    return headerBytes.clone();
  }

  /** The JSON length {@code n} written in the prefix, padding included; a multiple of 8. */
  public long headerLength() {
    return headerBytes.length - PREFIX_LENGTH;
  }

  /** Where the data section starts: {@code headerBytes().length}. */
  public long dataStart() {
    return headerBytes.length;
  }

  /** The length of the complete file. */
  public long fileLength() {
    return fileLength;
  }

  public Map<String, String> metadata() {
    return metadata;
  }

  /** The tensors in insertion order, which is offset order. */
  public List<TensorInfo> tensors() {
    return tensors;
  }

  /** The tensor named {@code name}, or null. */
  public TensorInfo tensor(String name) {
    return byName.get(name);
  }

  /** Collects metadata and tensors; not thread-safe. */
  public static final class Builder {
    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final List<TensorInfo> tensors = new ArrayList<>();
    private final Map<String, TensorInfo> byName = new HashMap<>();
    private long end;

    private Builder() {}

    /**
     * Adds a {@code __metadata__} entry.
     *
     * @throws IllegalArgumentException if {@code key} was already added
     */
    public Builder metadata(String key, String value) {
      Objects.requireNonNull(key, "key");
      Objects.requireNonNull(value, "value");
      if (metadata.putIfAbsent(key, value) != null) {
        throw new IllegalArgumentException("Cannot add metadata '" + key + "': already added");
      }
      return this;
    }

    /**
     * Appends a tensor whose bytes follow those of the tensor added before it.
     *
     * @throws IllegalArgumentException if the name is taken or is {@code __metadata__}, a
     *     dimension is negative, or the size overflows a long
     */
    public Builder add(String name, DType dtype, long[] shape) {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(dtype, "dtype");
      Objects.requireNonNull(shape, "shape");
      if (SafetensorsReader.METADATA_KEY.equals(name)) {
        throw new IllegalArgumentException("Cannot add tensor '" + name + "': the name is reserved");
      }
      if (byName.containsKey(name)) {
        throw new IllegalArgumentException("Cannot add tensor '" + name + "': already added");
      }
      long bytes;
      long newEnd;
      try {
        bytes = Math.multiplyExact(TensorInfo.numel(shape), dtype.byteSize());
        newEnd = Math.addExact(end, bytes);
      } catch (ArithmeticException e) {
        throw new IllegalArgumentException(
            "Cannot add tensor '" + name + "': size of shape " + Arrays.toString(shape) + " of " + dtype
                + " overflows a long",
            e);
      }
      // TensorInfo rejects negative dimensions (whose product may still look valid).
      TensorInfo t = new TensorInfo(name, dtype, shape, end, newEnd);
      tensors.add(t);
      byName.put(name, t);
      end = newEnd;
      return this;
    }

    public SafetensorsLayout build() {
      return new SafetensorsLayout(this);
    }
  }
}
