package io.sparticle.quant;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The start of a vq group's MLlib fit, computed on the driver: k-means++ seeding then Lloyd
 * steps whose assignment is {@link VqCodebook}'s exact nearest-codeword search (the encoder's
 * own kernel, tens of nanoseconds per sub-vector). One MLlib k-means iteration over the sample
 * costs a Spark job plus a slow generic distance loop; starting MLlib near its fixed point leaves
 * it a few iterations to confirm it, as the scalar fits do with {@code WeightedKMeans1D}.
 *
 * <pre>{@code
 * float[] start = VqKMeans.fit(x, 4, 256, seed, 50);   // x: n * 4 standardized values
 * }</pre>
 */
public final class VqKMeans {
  private VqKMeans() {}

  /**
   * k codewords (k * d floats) for the {@code x.length / d} sub-vectors of {@code x}: k-means++
   * seeded by {@code seed}, then at most {@code steps} Lloyd steps, stopping when no code
   * changes. An empty cell keeps its codeword. Fewer sub-vectors than k: the codewords are the
   * sub-vectors, the last repeated.
   */
  public static float[] fit(float[] x, int d, int k, long seed, int steps) {
    int n = x.length / d;
    float[] c = new float[k * d];
    if (n == 0) {
      return c;
    }
    if (n <= k) {
      for (int i = 0; i < k; i++) {
        System.arraycopy(x, Math.min(i, n - 1) * d, c, i * d, d);
      }
      return c;
    }
    seed(x, d, k, n, seed, c);
    int[] codes = new int[n];
    int[] prev = new int[n];
    Arrays.fill(prev, -1);
    double[] sum = new double[k * d];
    int[] count = new int[k];
    for (int step = 0; step < steps; step++) {
      VqCodebook.of(c, d).encode(x, 0, n, codes, 0);
      if (Arrays.equals(codes, prev)) {
        break;
      }
      System.arraycopy(codes, 0, prev, 0, n);
      Arrays.fill(sum, 0);
      Arrays.fill(count, 0);
      for (int v = 0; v < n; v++) {
        int q = codes[v];
        count[q]++;
        for (int j = 0; j < d; j++) {
          sum[q * d + j] += x[v * d + j];
        }
      }
      for (int q = 0; q < k; q++) {
        if (count[q] > 0) {
          for (int j = 0; j < d; j++) {
            c[q * d + j] = (float) (sum[q * d + j] / count[q]);
          }
        }
      }
    }
    return c;
  }

  /** k-means++: each next codeword drawn with probability proportional to its squared distance. */
  private static void seed(float[] x, int d, int k, int n, long seed, float[] c) {
    SplittableRandom rnd = new SplittableRandom(seed);
    double[] dist = new double[n];
    int first = rnd.nextInt(n);
    System.arraycopy(x, first * d, c, 0, d);
    double total = 0;
    for (int v = 0; v < n; v++) {
      dist[v] = sq(x, v * d, c, 0, d);
      total += dist[v];
    }
    for (int i = 1; i < k; i++) {
      int pick;
      if (!(total > 0)) {
        pick = rnd.nextInt(n); // every sub-vector sits on a codeword already
      } else {
        double r = rnd.nextDouble() * total;
        pick = n - 1;
        for (int v = 0; v < n; v++) {
          r -= dist[v];
          if (r < 0) {
            pick = v;
            break;
          }
        }
      }
      System.arraycopy(x, pick * d, c, i * d, d);
      total = 0;
      for (int v = 0; v < n; v++) {
        dist[v] = Math.min(dist[v], sq(x, v * d, c, i * d, d));
        total += dist[v];
      }
    }
  }

  private static double sq(float[] x, int xo, float[] c, int co, int d) {
    double s = 0;
    for (int j = 0; j < d; j++) {
      double e = x[xo + j] - c[co + j];
      s += e * e;
    }
    return s;
  }
}
