package io.sparticle.quant;

import io.sparticle.quant.EncodingSpec.ScalePrecision;

/**
 * Asymmetric integer quantization with a zero point, per unit: {@code w = scale * (q - zero)},
 * q and zero integers in [0, 2^bits - 1] (ONNX {@code DequantizeLinear}'s definition, and
 * llama.cpp's Q4_1/Q8_0 family).
 *
 * <p>Fit of a unit with minimum {@code min} and maximum {@code max} (min-max, the range widened to
 * hold 0 so that zero is exact): {@code lo = min(min, 0)}, {@code hi = max(max, 0)},
 * {@code scale = round_p(float32((hi - lo) / qmax))} with {@code qmax = 2^bits - 1} and
 * {@code round_p} the scale precision (F16 or F32); a zero range gives scale 1. Then
 * {@code zero = clamp(rint(-lo / scale), 0, qmax)} and each weight's
 * {@code q = clamp(rint(x / scale) + zero, 0, qmax)}, divisions in double, {@code rint} rounding
 * half to even. Reconstruction: {@code float32(scale) * float32(q - zero)}, one float32 multiply.
 *
 * <pre>{@code
 * UniformCodec.Params p = UniformCodec.fit(-0.5f, 1.5f, 4, ScalePrecision.F16);
 * }</pre>
 */
public final class UniformCodec extends TensorCodec {
  private final float[] scales;
  private final int[] zeros;
  private final int qmax;

  /** The parameters of one unit. */
  public record Params(float scale, int zero) {}

  public UniformCodec(UnitLayout layout, int bits, float[] scales, int[] zeros) {
    super(layout, bits);
    if (scales.length != layout.numUnits() || zeros.length != scales.length) {
      throw new IllegalArgumentException(scales.length + " scales and " + zeros.length
          + " zero points for " + layout.numUnits() + " units");
    }
    this.scales = scales;
    this.zeros = zeros;
    this.qmax = (1 << bits) - 1;
  }

  /**
   * The scale and zero point of a unit whose weights lie in [min, max].
   *
   * @throws IllegalArgumentException if the scale overflows the precision (F16 scales hold
   *     ranges up to about 65504 * qmax)
   */
  public static Params fit(float min, float max, int bits, ScalePrecision precision) {
    int qmax = (1 << bits) - 1;
    double lo = Math.min(min, 0f);
    double hi = Math.max(max, 0f);
    float scale = precision.round((float) ((hi - lo) / qmax));
    if (!Float.isFinite(scale)) {
      throw new IllegalArgumentException("weights in [" + min + ", " + max + "] need a scale beyond "
          + precision + "; use scale-precision F32");
    }
    if (scale == 0) {
      // All zeros, or a range below the precision's smallest step.
      scale = hi > lo ? precision.round(Float.MIN_VALUE) : 1f;
      if (scale == 0) {
        scale = HalfFloats.f16ToFloat((short) 1); // smallest positive F16, 2^-24
      }
    }
    int zero = clamp(Math.rint(-lo / scale), qmax);
    return new Params(scale, zero);
  }

  public float scale(int unit) {
    return scales[unit];
  }

  public int zero(int unit) {
    return zeros[unit];
  }

  @Override
  public int encode(int unit, float x) {
    return clamp(Math.rint((double) x / scales[unit]) + zeros[unit], qmax);
  }

  @Override
  public float value(int unit, int code) {
    return scales[unit] * (float) (code - zeros[unit]);
  }

  private static int clamp(double q, int qmax) {
    return q <= 0 ? 0 : q >= qmax ? qmax : (int) q; // NaN (weights are finite, so never) gives 0
  }
}
