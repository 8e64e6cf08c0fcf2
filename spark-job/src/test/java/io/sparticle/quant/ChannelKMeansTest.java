package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ChannelKMeansTest {

  // ---- hand-made examples ----

  @Test
  void fewerDistinctValuesThanKGivesThemAllPaddedWithTheMax() {
    float[] row = {3f, -1f, 3f, 0.5f, -1f, -0f, 0f};
    // Distinct: -1, 0 (-0.0 and 0.0 are one value), 0.5, 3.
    assertArrayEquals(
        new float[] {-1f, 0f, 0.5f, 3f, 3f, 3f, 3f, 3f}, new ChannelKMeans(8).fit(row, 0, 7));
    assertArrayEquals(new float[] {-1f, 0f, 0.5f, 3f}, new ChannelKMeans(4).fit(row, 0, 7));
    assertArrayEquals(new float[] {2f, 2f}, new ChannelKMeans(2).fit(new float[] {2f}, 0, 1));
    // The zero kept is +0.0.
    assertEquals(
        Float.floatToIntBits(0f), Float.floatToIntBits(new ChannelKMeans(4).fit(row, 0, 7)[1]));
  }

  @Test
  void twoObviousClustersAndTheOffset() {
    float[] values = {99f, 12f, 0f, 10f, 1f, 0f, 11f, 99f};
    // fit reads values[1, 7): {12, 0, 10, 1, 0, 11}: means 1/3 and 11.
    assertArrayEquals(new float[] {1f / 3, 11f}, new ChannelKMeans(2).fit(values, 1, 6));
  }

  @Test
  void reusesItsScratchAcrossUnitsOfDifferentLengths() {
    ChannelKMeans fitter = new ChannelKMeans(2);
    float[] big = new float[100];
    for (int i = 0; i < big.length; i++) {
      big[i] = i < 50 ? 0f : 1f;
    }
    assertArrayEquals(new float[] {0f, 1f}, fitter.fit(big, 0, 100));
    assertArrayEquals(new float[] {5f, 7f}, fitter.fit(new float[] {5f, 7f, 7f}, 0, 3));
    assertArrayEquals(new float[] {-2f, 2.5f}, fitter.fit(new float[] {-2f, 2f, 3f}, 0, 3));
  }

  // ---- error rules ----

  @Test
  void rejectsBadKAndEmptyUnits() {
    for (int k : new int[] {0, -1, 257}) {
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> new ChannelKMeans(k));
      assertEquals(
          "Cannot fit " + k + " centroids per channel: must be 1 to 256", e.getMessage());
    }
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> new ChannelKMeans(4).fit(new float[3], 1, 0));
    assertEquals("Cannot fit an empty channel", e.getMessage());
  }

  // ---- randomized ----

  private static float laplace(SplittableRandom random, double b) {
    double mag = -b * Math.log(1 - random.nextDouble());
    return (float) (random.nextBoolean() ? mag : -mag);
  }

  /** Row kinds: 0 plain Laplace, 1 heavy outliers, 2 BF16-rounded (many ties), 3 both. */
  private static float[] row(SplittableRandom random, int n, int kind) {
    float[] w = new float[n];
    double b = 0.02;
    for (int i = 0; i < n; i++) {
      float x = laplace(random, b);
      if ((kind & 1) != 0 && random.nextInt(200) == 0) {
        x *= 30 + random.nextInt(70);
      }
      w[i] = (kind & 2) != 0 ? ValueKind.BF16.roundTrip(x) : x;
    }
    return w;
  }

  /** Sum of squared errors of {@code w} coded with {@code centroids} (nearest, lowest on ties). */
  private static double sse(float[] w, float[] centroids) {
    Codebook book = Codebook.of(centroids);
    double s = 0;
    for (float x : w) {
      double d = (double) x - book.centroid(book.nearest(x));
      s += d * d;
    }
    return s;
  }

  private static double energy(float[] w) {
    double s = 0;
    for (float x : w) {
      s += (double) x * x;
    }
    return s;
  }

  /** Best of three k-means++ seeds, each run by weighted Lloyd to convergence. */
  private static float[] referenceFit(float[] w, int k) {
    StudentT.Histogram h = StudentT.histogram(w);
    double[] x = h.values();
    double[] c = h.counts();
    double[] best = null;
    double bestInertia = Double.POSITIVE_INFINITY;
    for (long seed = 1; seed <= 3; seed++) {
      double[] init = WeightedKMeans1D.initPlusPlus(x, c, k, seed);
      WeightedKMeans1D.Result r = WeightedKMeans1D.lloyd(x, c, init, 100_000, 0);
      if (r.inertia() < bestInertia) {
        bestInertia = r.inertia();
        best = r.centers();
      }
    }
    float[] out = new float[best.length];
    for (int i = 0; i < out.length; i++) {
      out[i] = (float) best[i];
    }
    return out;
  }

  private static double db(double signal, double noise) {
    return 10 * Math.log10(signal / noise);
  }

  @Test
  void manyCentroidsOnLongChannelsAreAtLeastAsGoodAsTheReference() {
    // k n log2 n beyond EXACT_BUDGET: the DP over bin edges, then Lloyd at full resolution.
    SplittableRandom random = new SplittableRandom(11);
    int k = 256;
    double signal = 0;
    double noiseOurs = 0;
    double noiseRef = 0;
    for (int r = 0; r < 4; r++) {
      int n = 16_000 + random.nextInt(4000);
      assertTrue((double) k * n * 14 > ChannelKMeans.EXACT_BUDGET, "beyond the exact budget");
      float[] w = row(random, n, r % 4);
      float[] ours = new ChannelKMeans(k).fit(w, 0, n);
      for (int i = 1; i < k; i++) {
        assertTrue(ours[i - 1] <= ours[i], "centroids ascending");
      }
      double e = energy(w);
      signal += e;
      noiseOurs += sse(w, ours);
      noiseRef += sse(w, referenceFit(w, k));
    }
    String summary = String.format("k=256 on 4 long rows: ChannelKMeans %.3f dB, weighted Lloyd "
        + "(k-means++ best of 3) %.3f dB", db(signal, noiseOurs), db(signal, noiseRef));
    System.out.println("ChannelKMeansTest: " + summary);
    assertTrue(db(signal, noiseOurs) >= db(signal, noiseRef) - 0.1, summary);
  }

  private void compareWithWeightedLloyd(int k, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    ChannelKMeans fitter = new ChannelKMeans(k);
    double signal = 0;
    double noiseOurs = 0;
    double noiseRef = 0;
    double worstRowGap = Double.NEGATIVE_INFINITY;
    String worstRow = "";
    List<String> badRows = new ArrayList<>();
    int rows = 160;
    for (int r = 0; r < rows; r++) {
      int n = 64 + random.nextInt(4096 - 64 + 1);
      int kind = r % 4;
      float[] w = row(random, n, kind);
      float[] ours = fitter.fit(w, 0, n);
      for (int i = 1; i < k; i++) {
        assertTrue(ours[i - 1] <= ours[i], "centroids ascending");
      }
      float[] ref = referenceFit(w, k);
      double e = energy(w);
      double sOurs = sse(w, ours);
      double sRef = sse(w, ref);
      signal += e;
      noiseOurs += sOurs;
      noiseRef += sRef;
      // Positive gap: ours is worse than the reference, in dB.
      double gap = sOurs == 0 && sRef == 0 ? 0 : db(e, sRef) - db(e, sOurs);
      String where = String.format("k=%d row %d (n=%d, kind=%d): ours %.3f dB, reference %.3f dB",
          k, r, n, kind, db(e, sOurs), db(e, sRef));
      if (gap > worstRowGap) {
        worstRowGap = gap;
        worstRow = where;
      }
      if (gap > 0.5) {
        badRows.add(where);
      }
    }
    double ours = db(signal, noiseOurs);
    double reference = db(signal, noiseRef);
    String summary = String.format(
        "k=%d over %d rows: ChannelKMeans %.3f dB, weighted Lloyd (k-means++ best of 3) %.3f dB;"
            + " worst row gap %.3f dB at %s", k, rows, ours, reference, worstRowGap, worstRow);
    System.out.println("ChannelKMeansTest: " + summary);
    assertTrue(ours >= reference - 0.1, summary);
    assertTrue(badRows.isEmpty(), "rows more than 0.5 dB worse than the reference: " + badRows);
  }

  // The bars of issue 10: over all rows within 0.1 dB of, or better than, a per-row weighted
  // Lloyd reference (k-means++ best of 3), and no single row more than 0.5 dB worse. The fit is
  // the exact optimum, so it is never worse; quantile and grid starts for Lloyd failed this on
  // rows with heavy outliers (17.2 dB against 25.2 at k = 16).
  @Test
  void sixteenCentroidsAreAsGoodAsWeightedLloyd() {
    compareWithWeightedLloyd(16, 16);
  }

  @Test
  void fourCentroidsAreAsGoodAsWeightedLloyd() {
    compareWithWeightedLloyd(4, 4);
  }

  @Test
  void theFitIsAFixedPoint() {
    // Every centroid is the mean of the values nearest to it: one more Lloyd step moves nothing.
    SplittableRandom random = new SplittableRandom(5);
    for (int t = 0; t < 60; t++) {
      int k = t % 2 == 0 ? 16 : 4;
      int n = 64 + random.nextInt(2000);
      float[] w = row(random, n, t % 4);
      float[] centroids = new ChannelKMeans(k).fit(w, 0, n);
      Codebook book = Codebook.of(centroids);
      double[] sum = new double[k];
      int[] count = new int[k];
      for (float x : w) {
        int c = book.nearest(x);
        sum[c] += x;
        count[c]++;
      }
      for (int c = 0; c < k; c++) {
        if (count[c] > 0) {
          float mean = (float) (sum[c] / count[c]);
          assertEquals(mean, centroids[c], 0f,
              "t=" + t + " k=" + k + " centroid " + c + " of " + java.util.Arrays.toString(centroids));
        }
      }
    }
  }

  /**
   * A weight of w counts as w copies: weights 1 give the unweighted fit exactly, and integer
   * weights the fit of the values repeated; a heavy value pulls a centroid onto itself.
   */
  @Test
  void weightsCountAsCopies() {
    java.util.Random r = new java.util.Random(5);
    for (int len : new int[] {40, 700, 3000}) {
      float[] v = new float[len];
      float[] ones = new float[len];
      float[] w = new float[len];
      java.util.List<Float> repeated = new java.util.ArrayList<>();
      for (int i = 0; i < len; i++) {
        v[i] = i % 7 == 0 ? -0.0f : (float) (r.nextGaussian() * 0.02);
        ones[i] = 1f;
        w[i] = 1 + r.nextInt(3);
        for (int c = 0; c < w[i]; c++) {
          repeated.add(v[i]);
        }
      }
      ChannelKMeans fitter = new ChannelKMeans(16);
      assertArrayEquals(fitter.fit(v, 0, len), fitter.fit(v, ones, 0, len), "length " + len);
      float[] rep = new float[repeated.size()];
      for (int i = 0; i < rep.length; i++) {
        rep[i] = repeated.get(i);
      }
      float[] a = fitter.fit(rep, 0, rep.length);
      float[] b = fitter.fit(v, w, 0, len);
      for (int c = 0; c < 16; c++) {
        assertEquals(a[c], b[c], 1e-6f, "length " + len + " centroid " + c);
      }
    }
    float[] v = {0f, 1f, 2f, 3f, 10f, 11f};
    float[] heavy = {1f, 1f, 1f, 1000f, 1f, 1f};
    float[] c = new ChannelKMeans(2).fit(v, heavy, 0, v.length);
    assertEquals(3f, c[0], 0.01f);
  }
}
