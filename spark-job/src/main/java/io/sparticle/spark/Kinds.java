package io.sparticle.spark;

import io.sparticle.format.DType;
import io.sparticle.quant.ValueKind;

/** Maps checkpoint dtypes to the value kinds the kernels know. */
final class Kinds {
  private Kinds() {}

  static ValueKind of(DType dtype) {
    return switch (dtype) {
      case F16 -> ValueKind.F16;
      case BF16 -> ValueKind.BF16;
      case F32 -> ValueKind.F32;
      default -> throw new IllegalArgumentException(dtype + " tensors are not compressed");
    };
  }
}
