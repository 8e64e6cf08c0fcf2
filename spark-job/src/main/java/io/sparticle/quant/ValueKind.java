package io.sparticle.quant;

/** The element types whose values can be clustered: two exact 16-bit kinds and F32. */
public enum ValueKind {
  F16,
  BF16,
  F32;

  public int byteSize() {
    return this == F32 ? 4 : 2;
  }

  public Float16Kind float16Kind() {
    return switch (this) {
      case F16 -> Float16Kind.F16;
      case BF16 -> Float16Kind.BF16;
      case F32 -> throw new IllegalStateException("F32 is not a 16-bit kind");
    };
  }

  /** Decodes a 16-bit pattern of this kind. */
  public float decode16(int bits) {
    return this == F16 ? HalfFloats.f16ToFloat((short) bits) : HalfFloats.bf16ToFloat((short) bits);
  }

  /** Rounds a float to this kind (round to nearest even) and back. */
  public float roundTrip(float x) {
    return switch (this) {
      case F16 -> HalfFloats.f16ToFloat(HalfFloats.floatToF16(x));
      case BF16 -> HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(x));
      case F32 -> x;
    };
  }

  /** Decodes {@code n} little-endian values of this kind from {@code raw[off..]} into {@code out[0, n)}. */
  public void decodeLittleEndian(byte[] raw, int off, int n, float[] out) {
    if (this == F32) {
      for (int i = 0, p = off; i < n; i++, p += 4) {
        out[i] = Float.intBitsToFloat((raw[p] & 0xFF) | (raw[p + 1] & 0xFF) << 8
            | (raw[p + 2] & 0xFF) << 16 | (raw[p + 3] & 0xFF) << 24);
      }
    } else {
      for (int i = 0, p = off; i < n; i++, p += 2) {
        out[i] = decode16((raw[p] & 0xFF) | (raw[p + 1] & 0xFF) << 8);
      }
    }
  }
}
