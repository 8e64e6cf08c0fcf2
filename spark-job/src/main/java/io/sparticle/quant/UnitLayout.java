package io.sparticle.quant;

import java.io.Serializable;

/**
 * Which weights of a tensor share parameters: its units. Elements are numbered in row-major
 * (C) order, 0 to numel - 1.
 *
 * <ul>
 *   <li>{@code WHOLE}: one unit, the tensor.
 *   <li>{@code ROWS}: unit = element / length; a row of a tensor whose channel axis is 0 (a
 *       safetensors Linear weight [out, in]: one unit per output channel).
 *   <li>{@code COLUMNS}: unit = element % length; the channel axis is the last (an ONNX MatMul
 *       initializer [in, out]: one unit per output channel, strided in memory).
 *   <li>{@code BLOCKS}: unit = element / length; blocks of length consecutive weights, the last
 *       one possibly shorter.
 * </ul>
 *
 * <pre>{@code
 * UnitLayout rows = UnitLayout.channels(new long[] {1376, 512}, 0);   // 1376 rows of 512
 * long unit = rows.unitOf(1000);                                       // 1
 * }</pre>
 */
public record UnitLayout(Kind kind, long numel, long length) implements Serializable {
  public enum Kind {
    WHOLE,
    ROWS,
    COLUMNS,
    BLOCKS
  }

  public UnitLayout {
    if (numel < 0 || (kind != Kind.WHOLE && length < 1)) {
      throw new IllegalArgumentException("Invalid unit layout " + kind + " numel " + numel + " length " + length);
    }
    if (kind == Kind.WHOLE) {
      length = numel;
    }
  }

  public static UnitLayout whole(long numel) {
    return new UnitLayout(Kind.WHOLE, numel, numel);
  }

  public static UnitLayout blocks(long numel, int blockSize) {
    return new UnitLayout(Kind.BLOCKS, numel, blockSize);
  }

  /**
   * Units along a channel axis: 0 (rows of shape[0] channels) or the last axis (columns of
   * shape[rank-1] channels). A tensor of rank below 2 is one unit.
   */
  public static UnitLayout channels(long[] shape, int axis) {
    long numel = 1;
    for (long d : shape) {
      numel = Math.multiplyExact(numel, d);
    }
    if (shape.length < 2) {
      return whole(numel);
    }
    if (axis == 0) {
      // An empty tensor has no units; [n, 0] must not give length 0 (rejected as invalid).
      return new UnitLayout(Kind.ROWS, numel, numel == 0 ? 1 : numel / shape[0]);
    }
    if (axis == shape.length - 1) {
      return new UnitLayout(Kind.COLUMNS, numel, Math.max(1, shape[axis]));
    }
    throw new IllegalArgumentException(
        "Cannot use channel axis " + axis + " of a rank-" + shape.length + " tensor: must be 0 or " + (shape.length - 1));
  }

  /** The number of units. */
  public long numUnits() {
    return switch (kind) {
      case WHOLE -> 1;
      case COLUMNS -> numel == 0 ? 0 : length;
      default -> (numel + length - 1) / length;
    };
  }

  public long unitOf(long element) {
    return switch (kind) {
      case WHOLE -> 0;
      case COLUMNS -> element % length;
      default -> element / length;
    };
  }

  /** Whether each unit is one run of consecutive elements (all but COLUMNS). */
  public boolean contiguous() {
    return kind != Kind.COLUMNS;
  }
}
