package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class GaussianMixture1DTest {

  // ---- hand-made examples ----

  @Test
  void equalVariancesCutAtTheMidpointShiftedByTheLogWeightRatio() {
    // var 1, means 0 and 2, weights 3:1 (normalized to 0.75, 0.25). Equal scores where
    // log 0.75 - x^2 / 2 = log 0.25 - (x - 2)^2 / 2, i.e. x = 1 + log(3) / 2 = 1.5493...
    GaussianMixture1D g = GaussianMixture1D.of(
        new double[] {3, 1}, new double[] {0, 2}, new double[] {1, 1});
    assertArrayEquals(new double[] {0.75, 0.25}, g.weights(), 0);
    float cut = (float) (1 + Math.log(3) / 2);
    float[] t = g.thresholds();
    assertEquals(cut, t[0], Math.ulp(cut));
    assertEquals(0, g.code(t[0]));
    assertEquals(1, g.code(Math.nextUp(t[0])));
    assertEquals(0, g.code(1.5f));
    assertEquals(1, g.code(1.56f));
    assertEquals(1, g.code(1e6f));
    // About 1e16 out, both rounded scores are -(x^2 / 2) and the log 3 between them is lost: the
    // rule ties, takes code 0, and the intervals say so.
    assertEquals(2, t.length);
    assertTrue(t[1] > 1e15f && t[1] < 1e17f, "far tie at " + t[1]);
    assertArrayEquals(new int[] {0, 1, 0}, g.intervalCodes());
    assertEquals(g.scoreArgmax(1e30f), g.code(1e30f));
    assertEquals(0, g.code(-1e30f));
    assertEquals(0, g.code(Float.NEGATIVE_INFINITY));
    assertEquals(0, g.code(Float.POSITIVE_INFINITY));
    assertEquals(0, g.code(Float.NaN));
    assertArrayEquals(new float[] {0f, 2f}, g.codebook());
  }

  @Test
  void unequalVariancesCutTwiceAndTheWideComponentWinsBothTails() {
    // Narrow N(0, 1) weight 0.5 and wide N(1, 4) weight 0.5. Equal scores where
    // -0.5 log 1 - x^2 / 2 = -0.5 log 4 - (x - 1)^2 / 8, i.e. 3x^2 + 2x - 1 - 8 log 2 = 0:
    // x = (-2 +- sqrt(4 + 12 (1 + 8 log 2))) / 6.
    GaussianMixture1D g = GaussianMixture1D.of(
        new double[] {1, 1}, new double[] {1, 0}, new double[] {4, 1});
    assertArrayEquals(new double[] {0, 1}, g.means(), 0);
    assertArrayEquals(new double[] {1, 4}, g.variances(), 0);
    double root = Math.sqrt(4 + 12 * (1 + 8 * Math.log(2)));
    float left = (float) ((-2 - root) / 6);
    float right = (float) ((-2 + root) / 6);
    float[] t = g.thresholds();
    assertEquals(2, t.length);
    assertEquals(left, t[0], Math.ulp(left));
    assertEquals(right, t[1], Math.ulp(right));
    assertArrayEquals(new int[] {1, 0, 1}, g.intervalCodes());
    assertEquals(1, g.code(-100f));
    assertEquals(0, g.code(0f));
    assertEquals(1, g.code(100f));
    assertEquals(0, g.code(t[0] + 0.01f));
    assertEquals(1, g.code(t[0] - 0.01f));
  }

  @Test
  void tiesGoToTheLowestCode() {
    // Identical components: every score ties, code 0 everywhere.
    GaussianMixture1D g = GaussianMixture1D.of(
        new double[] {1, 1}, new double[] {0.5, 0.5}, new double[] {1, 1});
    assertEquals(0, g.thresholds().length);
    assertArrayEquals(new int[] {0}, g.intervalCodes());
    assertEquals(0, g.code(0.5f));
    // Equal weights and variances: the midpoint itself goes to the lower code, and so does every
    // x so close to it that x + 1 and x - 1 round to 1 and -1 in double: the scores tie.
    GaussianMixture1D h = GaussianMixture1D.of(
        new double[] {1, 1}, new double[] {-1, 1}, new double[] {1, 1});
    float t = h.thresholds()[0];
    assertTrue(t > 0 && t < 1.2e-16f, "cut at " + t);
    assertEquals(0, h.code(0f));
    assertEquals(0, h.code(-0f));
    assertEquals(0, h.code(Float.MIN_VALUE));
    assertEquals(0, h.code(t));
    assertEquals(1, h.code(Math.nextUp(t)));
    assertEquals(h.scoreArgmax(Math.nextUp(t)), 1);
  }

  @Test
  void componentsAreSortedByMeanThenVarianceThenWeight() {
    GaussianMixture1D g = GaussianMixture1D.of(
        new double[] {1, 2, 3, 2},
        new double[] {5, -1, 5, 5},
        new double[] {1, 1, 1, 0.5});
    assertArrayEquals(new double[] {-1, 5, 5, 5}, g.means(), 0);
    assertArrayEquals(new double[] {1, 0.5, 1, 1}, g.variances(), 0);
    assertArrayEquals(new double[] {0.25, 0.25, 0.125, 0.375}, g.weights(), 0);
    assertArrayEquals(new float[] {-1f, 5f, 5f, 5f}, g.codebook());
    assertEquals(4, g.k());
  }

  @Test
  void aCollapsedComponentIsFlooredAndWinsOnlyNearItsMean() {
    double tiny = Double.MIN_VALUE;
    GaussianMixture1D g = GaussianMixture1D.of(
        new double[] {0.5, 0.5}, new double[] {0, 1}, new double[] {1, tiny});
    double spread = 0.5 * (1 + 0.25) + 0.5 * (tiny + 0.25);
    assertEquals(GaussianMixture1D.RELATIVE_VARIANCE_FLOOR * spread, g.variances()[1], 1e-27);
    assertEquals(1, g.code(1f));
    assertEquals(0, g.code(1.001f));
    assertEquals(0, g.code(0.999f));
    assertBruteForceOnBf16(g);
  }

  // ---- bad inputs ----

  @Test
  void rejectsBadInputs() {
    double[] two = {1, 1};
    assertMessage("Cannot build a mixture from 2 weights, 3 means and 2 variances: lengths must match",
        () -> GaussianMixture1D.of(two, new double[3], two));
    // 3 components: a 2-bit pruned group's (a code reserved for the zero).
    assertEquals(3, GaussianMixture1D.of(new double[] {1, 1, 1}, new double[] {-1, 0, 1},
        new double[] {1, 1, 1}).k());
    assertMessage("Cannot build a mixture of 1 components: must be from 2 to 256",
        () -> GaussianMixture1D.of(new double[] {1}, new double[1], new double[] {1}));
    assertMessage("Cannot build a mixture of 512 components: must be from 2 to 256",
        () -> GaussianMixture1D.of(new double[512], new double[512], new double[512]));
    assertMessage("Cannot build a mixture with weight 0.0 at component 1: weights must be finite and positive",
        () -> GaussianMixture1D.of(new double[] {1, 0}, new double[2], two));
    assertMessage("Cannot build a mixture with weight NaN at component 0: weights must be finite and positive",
        () -> GaussianMixture1D.of(new double[] {Double.NaN, 1}, new double[2], two));
    assertMessage("Cannot build a mixture with mean NaN at component 1: means must be finite floats",
        () -> GaussianMixture1D.of(two, new double[] {0, Double.NaN}, two));
    assertMessage("Cannot build a mixture with mean 1.0E39 at component 0: means must be finite floats",
        () -> GaussianMixture1D.of(two, new double[] {1e39, 0}, two));
    assertMessage("Cannot build a mixture with variance 0.0 at component 0: variances must be finite and positive",
        () -> GaussianMixture1D.of(two, new double[2], new double[] {0, 1}));
    assertMessage("Cannot build a mixture with variance Infinity at component 1: variances must be finite and positive",
        () -> GaussianMixture1D.of(two, new double[2], new double[] {1, Double.POSITIVE_INFINITY}));
    assertMessage("Cannot build a mixture whose weights sum to Infinity",
        () -> GaussianMixture1D.of(new double[] {Double.MAX_VALUE, Double.MAX_VALUE}, new double[2], two));
  }

  private static void assertMessage(String message, Runnable r) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
    assertEquals(message, e.getMessage());
  }

  // ---- randomized agreement with brute force ----

  @Test
  void agreesWithBruteForceOnEveryBf16AndRandomFloats() {
    SplittableRandom random = new SplittableRandom(7);
    for (int k = 2; k <= 256; k *= 2) {
      for (int trial = 0; trial < (k <= 32 ? 6 : 2); trial++) {
        GaussianMixture1D g = randomMixture(random, k, trial);
        assertBruteForceOnBf16(g);
        float scale = (float) Math.sqrt(g.variances()[k / 2]) * 10;
        float center = (float) g.means()[k / 2];
        for (int i = 0; i < 200_000; i++) {
          float x = i % 2 == 0
              ? center + scale * (float) (2 * random.nextDouble() - 1)
              : Float.intBitsToFloat(random.nextInt());
          if (Float.isFinite(x)) {
            assertEquals(g.scoreArgmax(x), g.code(x), () -> g + " at " + x);
          }
        }
      }
    }
  }

  @Test
  void everyFloatNearEveryThresholdAgrees() {
    SplittableRandom random = new SplittableRandom(11);
    for (int k = 2; k <= 256; k *= 2) {
      GaussianMixture1D g = randomMixture(random, k, 0);
      float[] t = g.thresholds();
      for (int i = 0; i < t.length; i++) {
        assertTrue(i == 0 || t[i - 1] < t[i], "thresholds ascend");
        float x = t[i];
        for (int s = 0; s < 64; s++) {
          x = Math.nextDown(x);
        }
        for (int s = 0; s < 128; s++, x = Math.nextUp(x)) {
          assertEquals(g.scoreArgmax(x), g.code(x), "k=" + k + " at " + x);
        }
      }
      int[] codes = g.intervalCodes();
      for (int i = 1; i < codes.length; i++) {
        assertTrue(codes[i] != codes[i - 1], "neighbours merge");
      }
    }
  }

  /**
   * A mixture shaped like a codebook fit: means spread over a range near a weight scale, mixed
   * variances and weights over several decades; trial 1 puts some components on top of others.
   */
  private static GaussianMixture1D randomMixture(SplittableRandom random, int k, int trial) {
    double scale = Math.pow(10, -3 + 3 * random.nextDouble());
    double[] w = new double[k];
    double[] m = new double[k];
    double[] v = new double[k];
    for (int c = 0; c < k; c++) {
      w[c] = Math.pow(10, -4 * random.nextDouble());
      m[c] = scale * random.nextGaussian() * 3;
      double spacing = 6 * scale / k;
      v[c] = spacing * spacing * Math.pow(10, 4 * random.nextDouble() - 2);
      if (trial == 1 && c > 0 && random.nextInt(4) == 0) {
        m[c] = m[random.nextInt(c)];
      }
    }
    return GaussianMixture1D.of(w, m, v);
  }

  private static void assertBruteForceOnBf16(GaussianMixture1D g) {
    for (int p = 0; p < 1 << 16; p++) {
      float x = HalfFloats.bf16ToFloat((short) p);
      if (Float.isFinite(x) && g.code(x) != g.scoreArgmax(x)) {
        throw new AssertionError(g + ": code(" + x + ") = " + g.code(x) + ", argmax "
            + g.scoreArgmax(x));
      }
    }
  }

  @Test
  void serializationRebuildsTheSameMixture() throws Exception {
    GaussianMixture1D g = randomMixture(new SplittableRandom(3), 16, 0);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(g);
    }
    try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
      GaussianMixture1D back = (GaussianMixture1D) in.readObject();
      assertEquals(g, back);
      assertArrayEquals(g.thresholds(), back.thresholds());
      assertArrayEquals(g.intervalCodes(), back.intervalCodes());
    }
  }
}
