package io.sparticle.quant;

/**
 * Conversions between {@code float} and the two 16-bit float formats found in checkpoints,
 * with each 16-bit value held as its raw bit pattern in a {@code short}.
 *
 * <ul>
 *   <li>F16: IEEE 754 binary16 (1 sign, 5 exponent, 10 fraction bits; max 65504, subnormals
 *       down to 2^-24).
 *   <li>BF16: bfloat16, the top 16 bits of a binary32 (1 sign, 8 exponent, 7 fraction bits).
 * </ul>
 *
 * <p>Widening ({@code *ToFloat}) is exact. Narrowing ({@code floatTo*}) rounds to nearest, ties
 * to even, overflows to infinity, keeps the sign of zeros, and maps NaN to a quiet NaN (keeping
 * the high payload bits). Java 17 has no {@code Float.float16ToFloat}, hence this class.
 *
 * <pre>{@code
 * short h = HalfFloats.floatToF16(0.1f);     // 0x2E66
 * float f = HalfFloats.f16ToFloat(h);        // 0.099975586f
 * short b = HalfFloats.floatToBf16(0.1f);    // 0x3DCD
 * }</pre>
 */
public final class HalfFloats {
  private HalfFloats() {}

  /** The exact float value of a binary16 bit pattern. */
  public static float f16ToFloat(short bits) {
    int h = bits & 0xFFFF;
    int sign = (h & 0x8000) << 16;
    int exp = (h >>> 10) & 0x1F;
    int frac = h & 0x3FF;
    if (exp == 0x1F) {
      // Inf (frac 0) or NaN; the payload moves to the top of the binary32 fraction.
      return Float.intBitsToFloat(sign | 0x7F80_0000 | frac << 13);
    }
    if (exp == 0) {
      // Zero or subnormal: frac * 2^-24 is exact in binary32.
      float magnitude = frac * 0x1p-24f;
      return sign == 0 ? magnitude : -magnitude;
    }
    // Normal: re-bias the exponent from 15 to 127.
    return Float.intBitsToFloat(sign | (exp + (127 - 15)) << 23 | frac << 13);
  }

  /** The nearest binary16 value (ties to even), as its bit pattern. */
  public static short floatToF16(float value) {
    int f = Float.floatToRawIntBits(value);
    int sign = (f >>> 16) & 0x8000;
    int abs = f & 0x7FFF_FFFF;
    if (abs >= 0x7F80_0000) {
      if (abs == 0x7F80_0000) {
        return (short) (sign | 0x7C00);
      }
      // NaN: force the quiet bit so a payload living only in the low 13 bits stays a NaN.
      return (short) (sign | 0x7C00 | 0x0200 | (abs >>> 13) & 0x3FF);
    }
    if (abs >= 0x477F_F000) {
      // >= 65520, the midpoint between 65504 (odd fraction) and 65536: rounds to infinity.
      return (short) (sign | 0x7C00);
    }
    if (abs >= 0x3880_0000) {
      // Normal binary16 (>= 2^-14). A carry out of the fraction correctly bumps the exponent.
      int half = ((abs >>> 23) - (127 - 15)) << 10 | (abs >>> 13) & 0x3FF;
      int rest = abs & 0x1FFF;
      if (rest > 0x1000 || (rest == 0x1000 && (half & 1) != 0)) {
        half++;
      }
      return (short) (sign | half);
    }
    // Subnormal or zero: count units of 2^-24. The scaling is exact, and Math.rint rounds half
    // to even; 1024 units is the smallest normal, whose encoding is also 1024.
    float magnitude = Float.intBitsToFloat(abs);
    int units = (int) Math.rint(magnitude * 0x1p24);
    return (short) (sign | units);
  }

  /** The exact float value of a bfloat16 bit pattern. */
  public static float bf16ToFloat(short bits) {
    return Float.intBitsToFloat((bits & 0xFFFF) << 16);
  }

  /** The nearest bfloat16 value (ties to even), as its bit pattern. */
  public static short floatToBf16(float value) {
    int f = Float.floatToRawIntBits(value);
    if ((f & 0x7FFF_FFFF) > 0x7F80_0000) {
      // NaN: truncating could drop the whole payload and make an infinity; set the quiet bit.
      return (short) ((f >>> 16) | 0x0040);
    }
    // Adding 0x7FFF plus the lowest kept bit rounds half to even; overflow lands on infinity.
    return (short) ((f + 0x7FFF + ((f >>> 16) & 1)) >>> 16);
  }
}
