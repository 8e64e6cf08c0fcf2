package io.sparticle.quant;

/**
 * The two 16-bit float formats a checkpoint tensor can use, for code paths that work on raw
 * 16-bit patterns (such as {@link Codebook#lookupTable}).
 *
 * <pre>{@code
 * float x = Float16Kind.BF16.toFloat((short) 0x3F80);   // 1.0f
 * }</pre>
 */
public enum Float16Kind {
  /** IEEE 754 binary16. */
  F16 {
    @Override
    public float toFloat(short bits) {
      return HalfFloats.f16ToFloat(bits);
    }

    @Override
    public short fromFloat(float value) {
      return HalfFloats.floatToF16(value);
    }
  },
  /** bfloat16. */
  BF16 {
    @Override
    public float toFloat(short bits) {
      return HalfFloats.bf16ToFloat(bits);
    }

    @Override
    public short fromFloat(float value) {
      return HalfFloats.floatToBf16(value);
    }
  };

  /** The exact float value of a bit pattern of this kind. */
  public abstract float toFloat(short bits);

  /** The nearest value of this kind (round to nearest, ties to even), as its bit pattern. */
  public abstract short fromFloat(float value);
}
