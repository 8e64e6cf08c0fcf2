package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The driver-side start of a vq fit: k-means++ then Lloyd on the exact nearest-codeword search. */
class VqKMeansTest {

  /** Sum over sub-vectors of the squared distance to the nearest codeword. */
  private static double error(float[] x, int d, float[] codewords) {
    VqCodebook book = VqCodebook.of(codewords, d);
    int n = x.length / d;
    int[] codes = new int[n];
    book.encode(x, 0, n, codes, 0);
    return book.squaredError(x, 0, n, codes, 0);
  }

  private static float[] gaussian(long seed, int n, int d) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] x = new float[n * d];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) r.nextGaussian();
    }
    return x;
  }

  // ---- hand-made examples ----

  @Test
  void fourTightClustersGiveTheirMeans() {
    // Four clusters of 3 sub-vectors (d = 2) around the unit square's corners, k = 4.
    float[] x = {
      0f, 0f, 0.1f, 0f, 0f, 0.1f,
      1f, 0f, 1.1f, 0f, 1f, 0.1f,
      0f, 1f, 0.1f, 1f, 0f, 1.1f,
      1f, 1f, 1.1f, 1f, 1f, 1.1f};
    for (long seed = 0; seed < 20; seed++) {
      float[] c = VqKMeans.fit(x, 2, 4, seed, 50);
      assertEquals(8, c.length);
      // Whatever the seed picked first, the fixed point is the four cluster means, in some order.
      String[] words = new String[4];
      for (int i = 0; i < 4; i++) {
        words[i] = String.format(java.util.Locale.ROOT, "%.4f,%.4f", c[2 * i], c[2 * i + 1]);
      }
      Arrays.sort(words);
      assertArrayEquals(new String[] {"0.0333,0.0333", "0.0333,1.0333", "1.0333,0.0333",
          "1.0333,1.0333"}, words, "seed " + seed + ": " + Arrays.toString(c));
      // Per cluster: 2 (1/30)^2 + 2 ((2/30)^2 + (1/30)^2) = 12/900.
      double within = 4 * 12.0 / 900;
      assertEquals(within, error(x, 2, c), 1e-6);
    }
  }

  @Test
  void fewerSubVectorsThanCodewordsAreTheCodewordsLastRepeated() {
    float[] x = {1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f, 9f}; // 2 sub-vectors of d = 4, one float over
    float[] c = VqKMeans.fit(x, 4, 4, 7, 50);
    assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7, 8}, c);
    assertEquals(0, error(Arrays.copyOf(x, 8), 4, c));
    // Exactly k sub-vectors: the sub-vectors themselves, no search.
    float[] four = {4f, 4f, 3f, 3f, 2f, 2f, 1f, 1f};
    assertArrayEquals(four, VqKMeans.fit(four, 2, 4, 1, 50));
    // None: all zeros (there is nothing to place).
    assertArrayEquals(new float[8], VqKMeans.fit(new float[1], 2, 4, 1, 50));
  }

  @Test
  void identicalSubVectorsLeaveEveryCodewordOnThem() {
    float[] x = new float[400];
    for (int i = 0; i < x.length; i++) {
      x[i] = i % 4 - 1.5f;
    }
    float[] c = VqKMeans.fit(x, 4, 16, 3, 10);
    for (int i = 0; i < 16; i++) {
      assertArrayEquals(new float[] {-1.5f, -0.5f, 0.5f, 1.5f}, Arrays.copyOfRange(c, 4 * i, 4 * i + 4));
    }
  }

  // ---- properties ----

  @Test
  void deterministicForASeed() {
    float[] x = gaussian(11, 3000, 4);
    float[] a = VqKMeans.fit(x, 4, 64, 5, 30);
    float[] b = VqKMeans.fit(x.clone(), 4, 64, 5, 30);
    assertArrayEquals(a, b);
    // Another seed starts elsewhere (on Gaussian data the starts differ).
    assertTrue(!Arrays.equals(VqKMeans.fit(x, 4, 64, 5, 0), VqKMeans.fit(x, 4, 64, 6, 0)));
  }

  @Test
  void lloydStepsLowerTheErrorOfTheSeeding() {
    for (int d : new int[] {2, 4, 8}) {
      for (int k : new int[] {4, 16, 256}) {
        float[] x = gaussian(d * 1000L + k, 40 * k, d);
        float[] seeded = VqKMeans.fit(x, d, k, 9, 0);
        // Zero steps: the k-means++ picks, every one a sub-vector of x.
        for (int i = 0; i < k; i++) {
          boolean found = false;
          for (int v = 0; v < x.length / d && !found; v++) {
            found = Arrays.equals(x, v * d, v * d + d, seeded, i * d, i * d + d);
          }
          assertTrue(found, "d " + d + " k " + k + ": codeword " + i + " is not a sub-vector");
        }
        double before = error(x, d, seeded);
        double one = error(x, d, VqKMeans.fit(x, d, k, 9, 1));
        double after = error(x, d, VqKMeans.fit(x, d, k, 9, 50));
        // Each Lloyd step never raises the error (mean of a cell, then nearest again).
        assertTrue(one <= before * (1 + 1e-6), "d " + d + " k " + k + ": " + one + " > " + before);
        assertTrue(after <= one * (1 + 1e-6), "d " + d + " k " + k + ": " + after + " > " + one);
        assertTrue(after < 0.9 * before, "d " + d + " k " + k + ": " + after + " vs seed " + before);
      }
    }
  }

  @Test
  void aFixedPointIsStable() {
    float[] x = gaussian(3, 2000, 2);
    float[] c = VqKMeans.fit(x, 2, 16, 1, 500);
    // At a fixed point every codeword is the mean of its cell: one more fit from there changes
    // nothing beyond float rounding of the means.
    int n = x.length / 2;
    int[] codes = new int[n];
    VqCodebook.of(c, 2).encode(x, 0, n, codes, 0);
    double[] sum = new double[32];
    int[] count = new int[16];
    for (int v = 0; v < n; v++) {
      count[codes[v]]++;
      sum[2 * codes[v]] += x[2 * v];
      sum[2 * codes[v] + 1] += x[2 * v + 1];
    }
    for (int q = 0; q < 16; q++) {
      assertTrue(count[q] > 0, "codeword " + q + " has an empty cell");
      assertEquals(sum[2 * q] / count[q], c[2 * q], 1e-5);
      assertEquals(sum[2 * q + 1] / count[q], c[2 * q + 1], 1e-5);
    }
  }
}
