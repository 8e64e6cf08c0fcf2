package io.sparticle.quant;

import java.util.Arrays;
import java.util.Random;

/** Heavy-tailed test data shaped like model weights. */
final class StudentT {
  private StudentT() {}

  record Histogram(double[] values, double[] counts) {}

  /** {@code n} draws of scale * t(df), rounded to bf16 (so values repeat, as in checkpoints). */
  static float[] bf16Samples(int n, int df, double scale, long seed) {
    Random random = new Random(seed);
    float[] out = new float[n];
    for (int i = 0; i < n; i++) {
      double chiSquare = 0;
      for (int d = 0; d < df; d++) {
        double g = random.nextGaussian();
        chiSquare += g * g;
      }
      double t = random.nextGaussian() / Math.sqrt(chiSquare / df);
      out[i] = HalfFloats.bf16ToFloat(HalfFloats.floatToBf16((float) (scale * t)));
    }
    return out;
  }

  static Histogram histogram(float[] samples) {
    float[] sorted = samples.clone();
    Arrays.sort(sorted);
    double[] values = new double[sorted.length];
    double[] counts = new double[sorted.length];
    int m = 0;
    for (int i = 0; i < sorted.length; i++) {
      if (m > 0 && sorted[i] == values[m - 1]) {
        counts[m - 1]++;
      } else {
        values[m] = sorted[i];
        counts[m++] = 1;
      }
    }
    return new Histogram(Arrays.copyOf(values, m), Arrays.copyOf(counts, m));
  }

  /** Population variance, as numpy's {@code var}. */
  static double variance(float[] samples) {
    double sum = 0;
    for (float v : samples) {
      sum += v;
    }
    double mean = sum / samples.length;
    double squares = 0;
    for (float v : samples) {
      squares += (v - mean) * (v - mean);
    }
    return squares / samples.length;
  }
}
