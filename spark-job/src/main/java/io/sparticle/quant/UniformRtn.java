package io.sparticle.quant;

/**
 * The baseline Sparticle is compared with: uniform min-max round-to-nearest, per tensor, 2^bits
 * evenly spaced levels from the tensor's minimum to its maximum.
 *
 * <pre>{@code
 * float[] q = UniformRtn.quantize(weights, 4);
 * }</pre>
 */
public final class UniformRtn {
  private UniformRtn() {}

  public static float[] quantize(float[] values, int bits) {
    if (bits < 1 || bits > 16) {
      throw new IllegalArgumentException("Cannot quantize with bits " + bits + ": must be between 1 and 16");
    }
    float min = Float.POSITIVE_INFINITY;
    float max = Float.NEGATIVE_INFINITY;
    for (float v : values) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    float[] out = new float[values.length];
    double step = (max - (double) min) / ((1 << bits) - 1);
    for (int i = 0; i < values.length; i++) {
      out[i] = step == 0 ? values[i] : (float) (min + Math.rint((values[i] - min) / step) * step);
    }
    return out;
  }
}
