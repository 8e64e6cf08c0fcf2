package io.sparticle.format;

import java.util.Arrays;
import java.util.Objects;

/**
 * One tensor entry of a safetensors header: its name, dtype, shape and the byte range
 * {@code [begin, end)} it occupies, relative to the start of the data section (the header's
 * {@code data_offsets}).
 *
 * <p>Instances are always consistent: dimensions are non-negative, {@code 0 <= begin <= end}, and
 * {@code end - begin == numel() * dtype.byteSize()}. The shape is copied in and out.
 *
 * <pre>{@code
 * TensorInfo t = new TensorInfo("w", DType.F32, new long[] {5, 6}, 0, 120);
 * long absolute = header.dataStart() + t.begin();
 * }</pre>
 */
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {

  /**
   * @throws IllegalArgumentException if a dimension or offset is negative, {@code begin > end},
   *     the size overflows a long, or the byte range does not match the shape and dtype
   */
  public TensorInfo {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(dtype, "dtype");
    shape = Objects.requireNonNull(shape, "shape").clone();
    for (long dim : shape) {
      if (dim < 0) {
        throw new IllegalArgumentException(
            "Cannot create tensor '" + name + "': negative dimension in shape " + Arrays.toString(shape));
      }
    }
    if (begin < 0 || begin > end) {
      throw new IllegalArgumentException(
          "Cannot create tensor '" + name + "': invalid offsets [" + begin + ", " + end + "]");
    }
    long needed;
    try {
      needed = Math.multiplyExact(numel(shape), dtype.byteSize());
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException(
          "Cannot create tensor '" + name + "': size of shape " + Arrays.toString(shape) + " of " + dtype
              + " overflows a long", e);
    }
    if (end - begin != needed) {
      throw new IllegalArgumentException(
          "Cannot create tensor '" + name + "': offsets [" + begin + ", " + end + "] hold " + (end - begin)
              + " bytes but shape " + Arrays.toString(shape) + " of " + dtype + " needs " + needed);
    }
  }

  /** A copy of the shape. */
  @Override
  public long[] shape() {
    return shape.clone();
  }

  /** Dimension {@code i} of the shape, without copying it. */
  public long dim(int i) {
    return shape[i];
  }

  /** Number of dimensions; 0 for a scalar. */
  public int rank() {
    return shape.length;
  }

  /** Number of elements: the product of the dimensions, 1 for a scalar. */
  public long numel() {
    return numel(shape);
  }

  /** Bytes the tensor occupies: {@code end - begin}. */
  public long byteLength() {
    return end - begin;
  }

  /** Product of {@code shape}, 1 for rank 0; throws {@link ArithmeticException} on overflow. */
  public static long numel(long[] shape) {
    long n = 1;
    for (long dim : shape) {
      n = Math.multiplyExact(n, dim);
    }
    return n;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TensorInfo t
        && name.equals(t.name)
        && dtype == t.dtype
        && Arrays.equals(shape, t.shape)
        && begin == t.begin
        && end == t.end;
  }

  @Override
  public int hashCode() {
    return Objects.hash(name, dtype, Arrays.hashCode(shape), begin, end);
  }

  @Override
  public String toString() {
    return "TensorInfo[name=" + name + ", dtype=" + dtype + ", shape=" + Arrays.toString(shape)
        + ", begin=" + begin + ", end=" + end + "]";
  }
}
