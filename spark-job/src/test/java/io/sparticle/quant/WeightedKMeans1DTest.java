package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class WeightedKMeans1DTest {

  private static double[] ones(int n) {
    double[] w = new double[n];
    Arrays.fill(w, 1);
    return w;
  }

  // ---- hand-made examples ----

  @Test
  void lloydOnTwoObviousClusters() {
    double[] values = {10, 0, 11, 1};
    WeightedKMeans1D.Result r =
        WeightedKMeans1D.lloyd(values, ones(4), new double[] {1, 0}, 300, 0);
    assertArrayEquals(new double[] {0.5, 10.5}, r.centers());
    assertEquals(1.0, r.inertia());
    // 0 | 1 10 11 -> 0 1 | 10 11 -> no shift: three iterations.
    assertEquals(3, r.iterations());
  }

  @Test
  void weightsPullTheMean() {
    WeightedKMeans1D.Result r =
        WeightedKMeans1D.lloyd(
            new double[] {0, 3}, new double[] {3, 1}, new double[] {100}, 300, 0);
    assertArrayEquals(new double[] {0.75}, r.centers());
    assertEquals(3 * 0.75 * 0.75 + 2.25 * 2.25, r.inertia());
  }

  @Test
  void anEmptyClusterKeepsItsCenter() {
    WeightedKMeans1D.Result r =
        WeightedKMeans1D.lloyd(new double[] {0, 1}, ones(2), new double[] {100, 0.25}, 300, 0);
    assertArrayEquals(new double[] {0.5, 100}, r.centers());
  }

  @Test
  void aPointOnAMidpointGoesToTheLowerCenter() {
    // 1 is the midpoint of 0 and 2: it joins the lower cluster, whose mean becomes 0.5.
    WeightedKMeans1D.Result r =
        WeightedKMeans1D.lloyd(new double[] {0, 1, 2}, ones(3), new double[] {0, 2}, 1, 0);
    assertArrayEquals(new double[] {0.5, 2}, r.centers());
    assertEquals(1, r.iterations());
  }

  @Test
  void maxIterationsZeroEvaluatesTheInitialCenters() {
    WeightedKMeans1D.Result r =
        WeightedKMeans1D.lloyd(new double[] {0, 4}, ones(2), new double[] {1}, 0, 0);
    assertArrayEquals(new double[] {1}, r.centers());
    assertEquals(1 + 9, r.inertia());
    assertEquals(0, r.iterations());
  }

  @Test
  void initWithFewDistinctValuesReturnsThemAll() {
    double[] init =
        WeightedKMeans1D.initPlusPlus(
            new double[] {3, 1, 3, 2, 1}, new double[] {1, 2, 3, 4, 5}, 8, 1L);
    assertArrayEquals(new double[] {1, 2, 3}, init);
  }

  @Test
  void initPicksDistinctDataValuesDeterministically() {
    SplittableRandom random = new SplittableRandom(9);
    double[] values = new double[5000];
    double[] weights = new double[5000];
    for (int i = 0; i < values.length; i++) {
      values[i] = random.nextGaussian();
      weights[i] = 1 + random.nextInt(10);
    }
    double[] a = WeightedKMeans1D.initPlusPlus(values, weights, 16, 77L);
    double[] b = WeightedKMeans1D.initPlusPlus(values, weights, 16, 77L);
    assertArrayEquals(a, b);
    assertEquals(16, a.length);
    double[] sortedValues = values.clone();
    Arrays.sort(sortedValues);
    for (int i = 0; i < a.length; i++) {
      assertTrue(Arrays.binarySearch(sortedValues, a[i]) >= 0, "not a data value: " + a[i]);
      if (i > 0) {
        assertTrue(a[i] > a[i - 1], "not ascending and distinct");
      }
    }
  }

  /**
   * On strictly increasing values (histogram points) the seeding scores and applies each
   * candidate on the run of points it improves; it must pick the same centres as the plain
   * scikit-learn loop over every point, written out here as the reference.
   */
  @Test
  void sortedSeedingMatchesTheFullScan() {
    for (long seed = 0; seed < 20; seed++) {
      SplittableRandom random = new SplittableRandom(seed);
      int n = 200 + random.nextInt(5000);
      double[] values = new double[n];
      double[] weights = new double[n];
      for (int i = 0; i < n; i++) {
        // Heavy-tailed, as weights are, so runs vary from a few points to most of them.
        values[i] = random.nextGaussian() / (0.2 + random.nextDouble());
        weights[i] = 1 + random.nextInt(1000);
      }
      Arrays.sort(values);
      int m = 0;
      for (int i = 0; i < n; i++) {
        if (m == 0 || values[i] != values[m - 1]) {
          weights[m] = weights[i];
          values[m++] = values[i];
        }
      }
      values = Arrays.copyOf(values, m);
      weights = Arrays.copyOf(weights, m);
      int k = 2 + random.nextInt(62);
      assertArrayEquals(
          fullScanPlusPlus(values, weights, k, seed),
          WeightedKMeans1D.initPlusPlus(values, weights, k, seed),
          "seed " + seed + ", k " + k);
    }
  }

  /** Greedy weighted k-means++ scoring every candidate on every point (distinct values). */
  private static double[] fullScanPlusPlus(double[] values, double[] weights, int k, long seed) {
    int n = values.length;
    SplittableRandom random = new SplittableRandom(seed);
    double[] cumulative = new double[n];
    double sum = 0;
    for (int i = 0; i < n; i++) {
      sum += weights[i];
      cumulative[i] = sum;
    }
    double r0 = random.nextDouble() * sum;
    int first = 0;
    while (first < n - 1 && !(cumulative[first] > r0)) {
      first++;
    }
    double[] centers = new double[k];
    centers[0] = values[first];
    double[] closest = new double[n];
    for (int i = 0; i < n; i++) {
      closest[i] = (values[i] - centers[0]) * (values[i] - centers[0]);
    }
    int trials = 2 + (int) Math.log(k);
    for (int c = 1; c < k; c++) {
      double potential = 0;
      for (int i = 0; i < n; i++) {
        potential += weights[i] * closest[i];
        cumulative[i] = potential;
      }
      double[] candidates = new double[trials];
      for (int t = 0; t < trials; t++) {
        double r = random.nextDouble() * potential;
        int id = 0;
        while (id < n && cumulative[id] < r) {
          id++;
        }
        candidates[t] = values[Math.min(id, n - 1)];
      }
      double[] scores = new double[trials];
      for (int i = 0; i < n; i++) {
        for (int t = 0; t < trials; t++) {
          double d = values[i] - candidates[t];
          scores[t] += weights[i] * Math.min(closest[i], d * d);
        }
      }
      int best = 0;
      for (int t = 1; t < trials; t++) {
        if (scores[t] < scores[best]) {
          best = t;
        }
      }
      centers[c] = candidates[best];
      for (int i = 0; i < n; i++) {
        double d = values[i] - centers[c];
        closest[i] = Math.min(closest[i], d * d);
      }
    }
    Arrays.sort(centers);
    return centers;
  }

  // ---- error rules ----

  @Test
  void rejectsBadInputs() {
    double[] c = {0};
    assertMessage(
        "Cannot cluster 0 points: need at least 1",
        () -> WeightedKMeans1D.lloyd(new double[0], new double[0], c, 1, 0));
    assertMessage(
        "Cannot cluster 2 values with 1 weights: lengths must match",
        () -> WeightedKMeans1D.lloyd(new double[2], new double[1], c, 1, 0));
    assertMessage(
        "Cannot cluster value NaN at index 1: values must be finite",
        () -> WeightedKMeans1D.lloyd(new double[] {0, Double.NaN}, ones(2), c, 1, 0));
    assertMessage(
        "Cannot cluster with weight 0.0 at index 0: weights must be finite and positive",
        () -> WeightedKMeans1D.inertia(new double[1], new double[1], c));
    assertMessage(
        "Cannot cluster with weight -1.0 at index 0: weights must be finite and positive",
        () -> WeightedKMeans1D.initPlusPlus(new double[1], new double[] {-1}, 1, 0));
    assertMessage(
        "Cannot cluster with weight Infinity at index 0: weights must be finite and positive",
        () -> WeightedKMeans1D.initPlusPlus(
            new double[1], new double[] {Double.POSITIVE_INFINITY}, 1, 0));
    assertMessage(
        "Cannot seed 0 clusters: k must be at least 1",
        () -> WeightedKMeans1D.initPlusPlus(new double[1], ones(1), 0, 0));
    assertMessage(
        "Cannot cluster with 0 centers: need at least 1",
        () -> WeightedKMeans1D.lloyd(new double[1], ones(1), new double[0], 1, 0));
    assertMessage(
        "Cannot cluster with center Infinity at index 1: centers must be finite",
        () -> WeightedKMeans1D.lloyd(
            new double[1], ones(1), new double[] {0, Double.POSITIVE_INFINITY}, 1, 0));
    assertMessage(
        "Cannot run -1 iterations: maxIterations must not be negative",
        () -> WeightedKMeans1D.lloyd(new double[1], ones(1), c, -1, 0));
    assertMessage(
        "Cannot use tolerance NaN: must not be negative",
        () -> WeightedKMeans1D.lloyd(new double[1], ones(1), c, 1, Double.NaN));
  }

  private static void assertMessage(String message, Runnable call) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
    assertEquals(message, e.getMessage());
  }

  // ---- randomized ----

  @Test
  void inertiaMatchesBruteForceAndUnsortedInputMatchesSorted() {
    SplittableRandom random = new SplittableRandom(21);
    int n = 20_000;
    double[] values = new double[n];
    double[] weights = new double[n];
    for (int i = 0; i < n; i++) {
      values[i] = random.nextGaussian() * 3;
      weights[i] = 0.5 + random.nextDouble();
    }
    double[] centers = {2, -1, 0.5, 7};
    double brute = 0;
    for (int i = 0; i < n; i++) {
      double best = Double.POSITIVE_INFINITY;
      for (double c : centers) {
        best = Math.min(best, (values[i] - c) * (values[i] - c));
      }
      brute += weights[i] * best;
    }
    assertEquals(brute, WeightedKMeans1D.inertia(values, weights, centers), 1e-9 * brute);

    WeightedKMeans1D.Result unsorted = WeightedKMeans1D.lloyd(values, weights, centers, 100, 0);
    double[] sortedValues = values.clone();
    double[] sortedWeights = weights.clone();
    WeightedKMeans1D.sortTogether(sortedValues, sortedWeights);
    for (int i = 1; i < n; i++) {
      assertTrue(sortedValues[i - 1] <= sortedValues[i]);
    }
    WeightedKMeans1D.Result sorted =
        WeightedKMeans1D.lloyd(sortedValues, sortedWeights, centers, 100, 0);
    assertArrayEquals(sorted.centers(), unsorted.centers(), 1e-12);
    assertEquals(sorted.iterations(), unsorted.iterations());
    assertEquals(
        WeightedKMeans1D.inertia(values, weights, unsorted.centers()),
        unsorted.inertia(),
        1e-9 * unsorted.inertia());
  }

  @Test
  void histogramLloydEqualsRawLloydFromTheSameInit() {
    float[] samples = StudentT.bf16Samples(200_000, 5, 0.02, 2024L);
    StudentT.Histogram h = StudentT.histogram(samples);
    double[] raw = new double[samples.length];
    for (int i = 0; i < raw.length; i++) {
      raw[i] = samples[i];
    }
    double tolerance = 1e-4 * StudentT.variance(samples);

    double[] init = WeightedKMeans1D.initPlusPlus(h.values(), h.counts(), 16, 99L);
    WeightedKMeans1D.Result weighted =
        WeightedKMeans1D.lloyd(h.values(), h.counts(), init, 300, tolerance);
    WeightedKMeans1D.Result unweighted =
        WeightedKMeans1D.lloyd(raw, ones(raw.length), init, 300, tolerance);

    System.out.printf(
        "histogram lloyd: %d distinct values of %d samples, %d iterations, inertia %.6e%n",
        h.values().length, samples.length, weighted.iterations(), weighted.inertia());
    assertTrue(h.values().length < 5000);
    assertEquals(unweighted.iterations(), weighted.iterations());
    double[] a = weighted.centers();
    double[] b = unweighted.centers();
    for (int i = 0; i < a.length; i++) {
      assertEquals(b[i], a[i], 1e-9 * Math.abs(b[i]), "center " + i);
    }
    assertEquals(unweighted.inertia(), weighted.inertia(), 1e-9 * unweighted.inertia());
  }

  @Test
  void prefixSumLloydMatchesTheSweep() {
    SplittableRandom r = new SplittableRandom(5);
    for (int k : new int[] {1, 2, 16, 255}) {
      int n = 3000;
      double[] x = new double[n];
      for (int i = 0; i < n; i++) {
        // Heavy-tailed, with repeats.
        x[i] = Math.round(r.nextGaussian() / Math.max(0.05, r.nextDouble()) * 64) / 64.0;
      }
      Arrays.sort(x);
      int m = 0;
      for (int i = 0; i < n; i++) {
        if (i == 0 || x[i] != x[m - 1]) {
          x[m++] = x[i];
        }
      }
      double[] v = Arrays.copyOf(x, m);
      double[] w = new double[m];
      for (int i = 0; i < m; i++) {
        w[i] = 1 + r.nextInt(1000);
      }
      double[] init = WeightedKMeans1D.initPlusPlus(v, w, Math.min(k, m), k);
      WeightedKMeans1D.Result sweep = WeightedKMeans1D.lloyd(v, w, init, 200, 0);
      WeightedKMeans1D.Result prefix = new WeightedKMeans1D.Sorted(v, w).lloyd(init, 200, 0);
      double span = v[m - 1] - v[0];
      for (int i = 0; i < init.length; i++) {
        assertEquals(sweep.centers()[i], prefix.centers()[i], 1e-9 * span, "k " + k + " center " + i);
      }
      assertEquals(sweep.inertia(), prefix.inertia(), 1e-9 * sweep.inertia() + 1e-12, "k " + k);
      assertEquals(WeightedKMeans1D.inertia(v, w, prefix.centers()),
          new WeightedKMeans1D.Sorted(v, w).inertia(prefix.centers()), 1e-9 * sweep.inertia() + 1e-12);
    }
    assertThrows(IllegalArgumentException.class,
        () -> new WeightedKMeans1D.Sorted(new double[] {2, 1}, new double[] {1, 1}));
  }
}
