package io.sparticle.format.onnx;

import java.util.Objects;

/**
 * Where an ONNX initializer's data lies: {@code length} bytes at absolute offset {@code offset}
 * of {@code file}, a plain file name in the model's directory (the model file itself, or the
 * external data file).
 *
 * <p>For {@link Kind#RAW}, {@link Kind#FLOAT_DATA} and {@link Kind#EXTERNAL} the range is exactly
 * the tensor's elements, little-endian, row-major: read it with one positioned read. For
 * {@link Kind#TYPED_DATA} it is protobuf fields (tags included) that only a protobuf decoder can
 * turn into elements; callers keep such initializers dense.
 *
 * <pre>{@code
 * Payload p = initializer.payload();
 * byte[] bytes = new byte[(int) p.length()];
 * try (RangeReader in = directory.file(p.file()).open()) {
 *   in.readFully(p.offset(), bytes, 0, bytes.length);
 * }
 * }</pre>
 */
public record Payload(String file, long offset, long length, Kind kind) {

  /** How the TensorProto holds its data. */
  public enum Kind {
    /** {@code raw_data} (field 9): the value of that bytes field. */
    RAW,
    /**
     * {@code float_data} (field 4) of a FLOAT tensor as one packed field: the packed value's bytes
     * are the floats, little-endian, exactly as in {@code raw_data}.
     */
    FLOAT_DATA,
    /** {@code data_location = EXTERNAL}: a range of another file in the model's directory. */
    EXTERNAL,
    /**
     * Any other encoding: {@code int32_data} (which holds FLOAT16/BFLOAT16 and small integer
     * types), {@code int64_data}, {@code uint64_data}, {@code double_data}, {@code string_data},
     * {@code float_data} of a non-FLOAT type, unpacked or split over several fields. The range
     * spans those fields from the first tag to the end of the last value.
     */
    TYPED_DATA,
    /**
     * No data field at all, allowed only for a tensor with zero elements: an empty range at the
     * end of the TensorProto.
     */
    NONE
  }

  /**
   * @throws IllegalArgumentException if the offset or length is negative, or the range overflows
   */
  public Payload {
    Objects.requireNonNull(file, "file");
    Objects.requireNonNull(kind, "kind");
    if (offset < 0 || length < 0 || offset > Long.MAX_VALUE - length) {
      throw new IllegalArgumentException(
          "Cannot create payload in " + file + ": offset " + offset + ", length " + length);
    }
  }

  /** Offset just past the payload. */
  public long end() {
    return offset + length;
  }

  /** Whether the range holds the tensor's little-endian elements and nothing else. */
  public boolean isElementBytes() {
    return kind == Kind.RAW || kind == Kind.FLOAT_DATA || kind == Kind.EXTERNAL;
  }
}
