package io.sparticle.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.quant.Codebook;
import io.sparticle.quant.GaussianMixture1D;
import io.sparticle.quant.HalfFloats;
import io.sparticle.quant.WeightedKMeans1D;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** MLlib's Gaussian mixture on weighted histograms: recovery, weights, determinism, SQNR. */
class GmmFitterTest {

  /**
   * An exact weighted histogram of 0.3 N(-0.01, 0.002^2) + 0.7 N(0.02, 0.005^2): a fine grid of
   * values weighted by the mixture density (the second component's density times {@code boost}).
   */
  private static double[][] twoGaussians(double boost) {
    int n = 8001;
    double[] v = new double[n];
    double[] w = new double[n];
    for (int i = 0; i < n; i++) {
      v[i] = -0.03 + 0.08 * i / (n - 1);
      w[i] = 0.3 * density(v[i], -0.01, 0.002) + boost * 0.7 * density(v[i], 0.02, 0.005);
    }
    return new double[][] {v, w};
  }

  private static double density(double x, double mean, double std) {
    double z = (x - mean) / std;
    return Math.exp(-0.5 * z * z) / (std * Math.sqrt(2 * Math.PI));
  }

  @Test
  void recoversTwoWellSeparatedGaussians() {
    double[][] h = twoGaussians(1);
    GmmFitter.Fit fit = GmmFitter.fit(SharedSpark.get(), h[0], h[1], 2, 200, 1e-9, 1);
    GaussianMixture1D g = fit.mixture();
    System.out.printf(Locale.ROOT, "k=2: %s, %d iterations, %.3f s%n", g, fit.iterations(),
        fit.seconds());
    assertArrayEquals(new double[] {-0.01, 0.02}, g.means(), 1e-5);
    assertEquals(0.002, Math.sqrt(g.variances()[0]), 2e-5);
    assertEquals(0.005, Math.sqrt(g.variances()[1]), 5e-5);
    assertArrayEquals(new double[] {0.3, 0.7}, g.weights(), 1e-3);
    assertTrue(fit.iterations() >= 1);
    // The mixture's mean log-likelihood: its entropy, minus the grid's log spacing, about.
    assertTrue(Double.isFinite(fit.logLikelihood()));
  }

  @Test
  void weightsMatter() {
    double[][] h = twoGaussians(2);
    GaussianMixture1D g = GmmFitter.fit(SharedSpark.get(), h[0], h[1], 2, 200, 1e-9, 1).mixture();
    // Doubling the second cluster's weights: 0.7 * 2 / (0.3 + 0.7 * 2).
    assertArrayEquals(new double[] {0.3 / 1.7, 1.4 / 1.7}, g.weights(), 1e-3);
    assertArrayEquals(new double[] {-0.01, 0.02}, g.means(), 1e-5);
  }

  @Test
  void sameInputSameParameters() {
    double[][] h = studentTHistogram(50_000, 3);
    GaussianMixture1D a = GmmFitter.fit(SharedSpark.get(), h[0], h[1], 8, 50, 1e-7, 5).mixture();
    GaussianMixture1D b = GmmFitter.fit(SharedSpark.get(), h[0], h[1], 8, 50, 1e-7, 5).mixture();
    assertEquals(a, b);
    assertArrayEquals(a.thresholds(), b.thresholds());
  }

  @Test
  void studentTHistogramWithSixteenComponents() {
    double[][] h = studentTHistogram(400_000, 11);
    double[] v = h[0];
    double[] w = h[1];
    GmmFitter.Fit fit = GmmFitter.fit(SharedSpark.get(), v, w, 16, 100, 1e-6, 7);
    GaussianMixture1D g = fit.mixture();
    assertEquals(16, g.k());
    float[] book = g.codebook();
    for (int c = 1; c < 16; c++) {
      assertTrue(book[c - 1] <= book[c], "codebook ascends");
    }
    double signal = 0;
    double gmmError = 0;
    for (int i = 0; i < v.length; i++) {
      float x = (float) v[i];
      int code = g.code(x);
      assertEquals(g.scoreArgmax(x), code, "lookup equals the argmax at " + x);
      double e = x - book[code];
      signal += w[i] * x * x;
      gmmError += w[i] * e * e;
    }
    double gmmDb = 10 * Math.log10(signal / gmmError);

    // For information: 1-D k-means (best of 8 k-means++ starts, Lloyd to its fixed point).
    long t0 = System.nanoTime();
    WeightedKMeans1D.Result best = null;
    for (int s = 0; s < 8; s++) {
      WeightedKMeans1D.Result r = WeightedKMeans1D.lloyd(v, w,
          WeightedKMeans1D.initPlusPlus(v, w, 16, s), 1000, 0);
      if (best == null || r.inertia() < best.inertia()) {
        best = r;
      }
    }
    double kmeansSeconds = (System.nanoTime() - t0) / 1e9;
    double[] centers = best.centers();
    float[] fc = new float[centers.length];
    for (int c = 0; c < fc.length; c++) {
      fc[c] = (float) centers[c];
    }
    Codebook kmeans = Codebook.of(fc);
    double kmError = 0;
    // Also the GMM's means used as a nearest-centroid codebook.
    Codebook meansAsCentroids = Codebook.of(book);
    double nearestError = 0;
    for (int i = 0; i < v.length; i++) {
      float x = (float) v[i];
      double e = x - kmeans.centroid(kmeans.nearest(x));
      kmError += w[i] * e * e;
      double f = x - meansAsCentroids.centroid(meansAsCentroids.nearest(x));
      nearestError += w[i] * f * f;
    }
    double kmDb = 10 * Math.log10(signal / kmError);
    double nearestDb = 10 * Math.log10(signal / nearestError);
    System.out.printf(Locale.ROOT,
        "Student-t(4) bf16 histogram, %d points, k=16:%n"
            + "  GMM (MLlib EM)      %7.3f dB SQNR  %3d iterations  %.2f s  log-likelihood %.4f%n"
            + "  GMM means, nearest  %7.3f dB%n"
            + "  k-means (driver)    %7.3f dB  %.2f s%n"
            + "  thresholds %s%n  codes %s%n  mixture %s%n",
        v.length, gmmDb, fit.iterations(), fit.seconds(), fit.logLikelihood(), nearestDb, kmDb,
        kmeansSeconds, Arrays.toString(g.thresholds()), Arrays.toString(g.intervalCodes()), g);
    // Maximum likelihood: better than one Gaussian, whose mean log-likelihood per unit weight is
    // -0.5 log(2 pi e var). (The SQNR is only printed: a heavy-tailed unimodal histogram is fitted
    // by components nested around the centre, whose means make a poor codebook.)
    double total = 0;
    double mean = 0;
    for (int i = 0; i < v.length; i++) {
      total += w[i];
      mean += w[i] * v[i];
    }
    mean /= total;
    double var = 0;
    for (int i = 0; i < v.length; i++) {
      var += w[i] * (v[i] - mean) * (v[i] - mean);
    }
    double oneGaussian = -0.5 * Math.log(2 * Math.PI * Math.E * var / total);
    System.out.printf(Locale.ROOT, "  one Gaussian's log-likelihood %.4f%n", oneGaussian);
    assertTrue(fit.logLikelihood() > oneGaussian + 0.05, fit.logLikelihood() + " vs " + oneGaussian);
    assertTrue(gmmDb > 0, "GMM SQNR " + gmmDb + " dB");
  }

  @Test
  void fewerDistinctValuesThanCodesDecodeExactly() {
    double[] v = {0.5, -0.25, 0.5, 2, 7};
    double[] w = {1, 3, 2, 5, 0}; // 7 has weight 0 and drops out; 0.5 merges
    GmmFitter.Fit fit = GmmFitter.fit(SharedSpark.get(), v, w, 4, 100, 1e-6, 1);
    GaussianMixture1D g = fit.mixture();
    assertEquals(0, fit.iterations());
    for (float x : new float[] {-0.25f, 0.5f, 2f}) {
      assertEquals(x, g.codebook()[g.code(x)]);
    }
    assertEquals(2f, g.codebook()[3]);

    GaussianMixture1D one = GmmFitter.fit(SharedSpark.get(), new double[] {0, 0},
        new double[] {1, 1}, 2, 100, 1e-6, 1).mixture();
    assertEquals(0f, one.codebook()[one.code(0f)]);
    assertEquals(0f, one.codebook()[one.code(3f)]);
  }

  @Test
  void rejectsBadInputs() {
    var spark = SharedSpark.get();
    double[] two = {1, 2};
    assertMessage("Cannot fit 2 values with 3 weights: lengths must match",
        () -> GmmFitter.fit(spark, two, new double[3], 2, 10, 0, 1));
    assertMessage("Cannot fit 257 components: must be from 2 to 256",
        () -> GmmFitter.fit(spark, two, two, 257, 10, 0, 1));
    assertMessage("Cannot set maxIter to 0: must be at least 1",
        () -> GmmFitter.fit(spark, two, two, 2, 0, 0, 1));
    assertMessage("Cannot set tol to NaN: must be finite and non-negative",
        () -> GmmFitter.fit(spark, two, two, 2, 10, Double.NaN, 1));
    assertMessage("Cannot fit value NaN at index 1: values must be finite floats",
        () -> GmmFitter.fit(spark, new double[] {1, Double.NaN}, two, 2, 10, 0, 1));
    assertMessage("Cannot fit weight -1.0 at index 0: weights must be finite and non-negative",
        () -> GmmFitter.fit(spark, two, new double[] {-1, 1}, 2, 10, 0, 1));
    assertMessage("Cannot fit 2 points: no point has a positive weight",
        () -> GmmFitter.fit(spark, two, new double[2], 2, 10, 0, 1));
  }

  private static void assertMessage(String message, Runnable r) {
    assertEquals(message, assertThrows(IllegalArgumentException.class, r::run).getMessage());
  }

  /** The histogram (distinct values, counts) of n draws of 0.02 * t(4), rounded to bf16. */
  static double[][] studentTHistogram(int n, long seed) {
    Random random = new Random(seed);
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      double chi2 = 0;
      for (int d = 0; d < 4; d++) {
        double g = random.nextGaussian();
        chi2 += g * g;
      }
      x[i] = HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(
          (float) (0.02 * random.nextGaussian() / Math.sqrt(chi2 / 4))));
    }
    Arrays.sort(x);
    double[] v = new double[n];
    double[] w = new double[n];
    int m = 0;
    for (int i = 0; i < n; i++) {
      if (m > 0 && x[i] == v[m - 1]) {
        w[m - 1]++;
      } else {
        v[m] = x[i];
        w[m++] = 1;
      }
    }
    return new double[][] {Arrays.copyOf(v, m), Arrays.copyOf(w, m)};
  }
}
