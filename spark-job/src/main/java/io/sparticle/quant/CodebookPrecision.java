package io.sparticle.quant;

/**
 * The precision in which codebook centroids are stored; see {@link Codebook#roundTo}.
 *
 * <pre>{@code
 * Codebook stored = codebook.roundTo(CodebookPrecision.BF16);
 * }</pre>
 */
public enum CodebookPrecision {
  /** binary32: centroids are kept as they are. */
  F32,
  /** IEEE binary16. */
  F16,
  /** bfloat16. */
  BF16;

  /** {@code value} rounded to this precision (nearest, ties to even; overflow gives infinity). */
  public float round(float value) {
    switch (this) {
      case F16:
        return HalfFloats.f16ToFloat(HalfFloats.floatToF16(value));
      case BF16:
        return HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(value));
      default:
        return value;
    }
  }
}
