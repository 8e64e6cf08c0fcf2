package io.sparticle.format;

import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The element types of the safetensors format, named exactly as they appear in a header's
 * {@code "dtype"} field, with their size in bytes.
 *
 * <pre>{@code
 * DType dtype = DType.fromName("BF16").orElseThrow();
 * long bytes = Math.multiplyExact(numel, dtype.byteSize());
 * }</pre>
 */
public enum DType {
  BOOL(1),
  U8(1),
  I8(1),
  F8_E5M2(1),
  F8_E4M3(1),
  I16(2),
  U16(2),
  F16(2),
  BF16(2),
  I32(4),
  U32(4),
  F32(4),
  F64(8),
  I64(8),
  U64(8);

  private static final Map<String, DType> BY_NAME = new HashMap<>();

  static {
    for (DType dtype : values()) {
      BY_NAME.put(dtype.name(), dtype);
    }
  }

  private final int byteSize;

  DType(int byteSize) {
    this.byteSize = byteSize;
  }

  /** Bytes per element. */
  public int byteSize() {
    return byteSize;
  }

  /**
   * Whether the job compresses tensors of this type: the 16- and 32-bit floats. F64 is left alone
   * (rare in checkpoints, and usually there on purpose), and the 8-bit floats are already small.
   */
  public boolean isCompressibleFloat() {
    return this == F32 || this == F16 || this == BF16;
  }

  /** The value kind the kernels use for a compressible float dtype. */
  public io.sparticle.quant.ValueKind valueKind() {
    return switch (this) {
      case F16 -> io.sparticle.quant.ValueKind.F16;
      case BF16 -> io.sparticle.quant.ValueKind.BF16;
      case F32 -> io.sparticle.quant.ValueKind.F32;
      default -> throw new IllegalArgumentException(this + " tensors are not compressed");
    };
  }

  /** The dtype named exactly {@code name} (case-sensitive, as in safetensors JSON), if any. */
  public static Optional<DType> fromName(String name) {
    return Optional.ofNullable(BY_NAME.get(name));
  }
}
