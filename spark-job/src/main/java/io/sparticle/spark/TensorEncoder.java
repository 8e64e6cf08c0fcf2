package io.sparticle.spark;

import io.sparticle.quant.Codebook;
import io.sparticle.quant.ErrorStats;
import io.sparticle.quant.ValueKind;

/**
 * Maps raw little-endian weights of one tensor to codes and keeps the exact error of the
 * reconstruction a decoder will produce: {@code centroid[code] * scale}, rounded to the tensor's
 * dtype. Shared by the encode pass and tests.
 */
abstract class TensorEncoder {
  abstract void encode(byte[] raw, int numValues, byte[] codes);

  abstract ErrorStats stats();

  /** The value a decoder writes for each code, already rounded to the tensor's dtype. */
  static float[] reconstruction(Codebook codebook, float scale, ValueKind kind) {
    float[] r = new float[codebook.size()];
    for (int c = 0; c < r.length; c++) {
      r[c] = kind.roundTrip(codebook.centroid(c) * scale);
    }
    return r;
  }

  static TensorEncoder sixteenBit(ValueKind kind, Codebook codebook, float scale) {
    return new SixteenBit(kind, codebook, scale);
  }

  static TensorEncoder f32(Codebook codebook, float scale) {
    return new F32(codebook, scale);
  }

  /** F16/BF16: a lookup table per bit pattern; the error comes from exact per-pattern counts. */
  private static final class SixteenBit extends TensorEncoder {
    private final ValueKind kind;
    private final byte[] lut;
    private final float[] recon;
    private final long[] counts = new long[1 << 16];

    SixteenBit(ValueKind kind, Codebook codebook, float scale) {
      this.kind = kind;
      this.lut = codebook.lookupTable(kind.float16Kind(), scale);
      this.recon = reconstruction(codebook, scale, kind);
    }

    @Override
    void encode(byte[] raw, int numValues, byte[] codes) {
      byte[] table = lut;
      long[] seen = counts;
      for (int i = 0, p = 0; i < numValues; i++, p += 2) {
        int bits = (raw[p] & 0xFF) | (raw[p + 1] & 0xFF) << 8;
        codes[i] = table[bits];
        seen[bits]++;
      }
    }

    @Override
    ErrorStats stats() {
      ErrorStats s = new ErrorStats();
      for (int bits = 0; bits < counts.length; bits++) {
        if (counts[bits] != 0) {
          s.addWeighted(kind.decode16(bits), recon[lut[bits] & 0xFF], counts[bits]);
        }
      }
      return s;
    }
  }

  /** F32: binary search over the midpoints, error accumulated per weight. */
  private static final class F32 extends TensorEncoder {
    private final Codebook codebook;
    private final float scale;
    private final float[] recon;
    private final ErrorStats stats = new ErrorStats();

    F32(Codebook codebook, float scale) {
      this.codebook = codebook;
      this.scale = scale;
      this.recon = reconstruction(codebook, scale, ValueKind.F32);
    }

    @Override
    void encode(byte[] raw, int numValues, byte[] codes) {
      for (int i = 0, p = 0; i < numValues; i++, p += 4) {
        float x = Float.intBitsToFloat(
            (raw[p] & 0xFF) | (raw[p + 1] & 0xFF) << 8 | (raw[p + 2] & 0xFF) << 16 | raw[p + 3] << 24);
        int c = codebook.nearest(x / scale);
        codes[i] = (byte) c;
        stats.add(x, recon[c]);
      }
    }

    @Override
    ErrorStats stats() {
      return stats;
    }
  }
}
