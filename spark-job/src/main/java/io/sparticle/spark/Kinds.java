package io.sparticle.spark;

import io.sparticle.format.DType;
import io.sparticle.quant.ValueKind;

/** Maps checkpoint dtypes to the value kinds the kernels know. */
final class Kinds {
  private Kinds() {}

  static ValueKind of(DType dtype) {
    return dtype.valueKind();
  }
}
