package io.sparticle.quant;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Exact weighted k-means on 1-D points: k-means++ seeding and Lloyd iterations, in double.
 *
 * <p>In the job the points are the distinct values of a tensor's histogram (up to about a million)
 * and the weights their counts, so clustering the histogram gives the same centers as clustering
 * every weight, at a fraction of the cost.
 *
 * <p>Because the data are 1-D, each cluster of an assignment to sorted centers is a contiguous run
 * of the sorted points, bounded by the midpoints between consecutive centers. {@link #lloyd} sorts
 * the points once and then assigns them with one sweep per iteration: O(n + k) instead of O(n k).
 *
 * <pre>{@code
 * double[] init = WeightedKMeans1D.initPlusPlus(values, counts, 16, seed);
 * WeightedKMeans1D.Result r = WeightedKMeans1D.lloyd(values, counts, init, 300, 1e-4 * variance);
 * Codebook book = Codebook.of(toFloats(r.centers()));
 * }</pre>
 */
public final class WeightedKMeans1D {
  private WeightedKMeans1D() {}

  /**
   * The outcome of {@link #lloyd}.
   *
   * @param centers the centers, ascending (a defensive copy is taken and returned)
   * @param inertia the weighted sum of squared distances of the points to their nearest center
   * @param iterations the number of Lloyd iterations run
   */
  public record Result(double[] centers, double inertia, int iterations) {
    public Result {
      centers = centers.clone();
    }

    @Override
    public double[] centers() {
      return centers.clone();
    }
  }

  /**
   * Greedy weighted k-means++ seeding, as scikit-learn's {@code _kmeans_plusplus} does it: the
   * first center is a point drawn with probability proportional to its weight; each further center
   * is the best of {@code 2 + (int) Math.log(k)} candidates drawn with probability proportional to
   * weight * D^2 (D = distance to the nearest center so far), "best" meaning the one that leaves
   * the lowest total weighted potential (first on ties). Deterministic for a given seed.
   *
   * <p>If there are at most k distinct values, returns all of them (fewer than k centers; the
   * caller handles k' &lt; k).
   *
   * @return the chosen centers, ascending
   * @throws IllegalArgumentException on empty or mismatched inputs, non-finite values, weights
   *     that are not finite and positive, or k &lt; 1
   */
  public static double[] initPlusPlus(double[] values, double[] weights, int k, long seed) {
    checkPoints(values, weights);
    if (k < 1) {
      throw new IllegalArgumentException("Cannot seed " + k + " clusters: k must be at least 1");
    }
    double[] distinct = distinctSorted(values);
    if (distinct.length <= k) {
      return distinct == values ? values.clone() : distinct;
    }
    // Strictly increasing values (histogram points): a candidate changes only the points it is
    // nearer to than their nearest centre so far, a run of neighbours around its own index.
    boolean sorted = distinct == values;

    int n = values.length;
    SplittableRandom random = new SplittableRandom(seed);
    double[] centers = new double[k];
    double[] cumulative = new double[n];

    // First center: numpy's choice(p=w/sum w) takes the first index whose cumulative share
    // exceeds a uniform draw.
    double total = cumulativeSum(weights, null, cumulative);
    centers[0] = values[searchAbove(cumulative, random.nextDouble() * total)];

    double[] closest = new double[n];
    for (int i = 0; i < n; i++) {
      double d = values[i] - centers[0];
      closest[i] = d * d;
    }

    int trials = 2 + (int) Math.log(k);
    double[] candidates = new double[trials];
    double[] candidatePotential = new double[trials];
    int[] candidateIndex = new int[trials];
    for (int c = 1; c < k; c++) {
      // The weighted potential w * D^2, summed as scikit-learn's draw needs it.
      double potential = cumulativeSum(weights, closest, cumulative);
      for (int t = 0; t < trials; t++) {
        // searchsorted(side='left'), clipped to n-1 as scikit-learn does.
        int id = Math.min(searchAtLeast(cumulative, random.nextDouble() * potential), n - 1);
        candidates[t] = values[id];
        candidateIndex[t] = id;
      }
      if (sorted) {
        // Each candidate's potential is the current one plus what it gains on its own run of
        // points; the winner then updates only that run. O(run) instead of O(n) per candidate.
        for (int t = 0; t < trials; t++) {
          candidatePotential[t] = potential + gain(values, weights, closest, candidateIndex[t], false);
        }
      } else {
        // One pass scores every candidate; a second pass applies the winner.
        Arrays.fill(candidatePotential, 0);
        for (int i = 0; i < n; i++) {
          double x = values[i];
          double w = weights[i];
          double current = closest[i];
          for (int t = 0; t < trials; t++) {
            double d = x - candidates[t];
            candidatePotential[t] += w * Math.min(current, d * d);
          }
        }
      }
      int best = 0;
      for (int t = 1; t < trials; t++) {
        if (candidatePotential[t] < candidatePotential[best]) {
          best = t;
        }
      }
      centers[c] = candidates[best];
      if (sorted) {
        gain(values, weights, closest, candidateIndex[best], true);
      } else {
        for (int i = 0; i < n; i++) {
          double d = values[i] - centers[c];
          closest[i] = Math.min(closest[i], d * d);
        }
      }
    }
    Arrays.sort(centers);
    return centers;
  }

  /**
   * Weighted Lloyd iterations from {@code initialCenters}. Each iteration assigns every point to
   * its nearest center (the lower one on an exact midpoint) and moves each center to the weighted
   * mean of its points; a center with no points keeps its position. Stops once the sum of squared
   * center shifts is {@code <= tolerance}, or after {@code maxIterations}.
   *
   * @param tolerance absolute, in squared units of the values (scikit-learn passes {@code tol *
   *     variance})
   * @throws IllegalArgumentException on empty or mismatched inputs, non-finite values or centers,
   *     weights that are not finite and positive, negative {@code maxIterations}, or a negative or
   *     NaN tolerance
   */
  public static Result lloyd(
      double[] values,
      double[] weights,
      double[] initialCenters,
      int maxIterations,
      double tolerance) {
    checkPoints(values, weights);
    checkCenters(initialCenters);
    if (maxIterations < 0) {
      throw new IllegalArgumentException(
          "Cannot run " + maxIterations + " iterations: maxIterations must not be negative");
    }
    if (!(tolerance >= 0)) {
      throw new IllegalArgumentException(
          "Cannot use tolerance " + tolerance + ": must not be negative");
    }

    double[] x = values;
    double[] w = weights;
    if (!isSorted(values)) {
      x = values.clone();
      w = weights.clone();
      sortTogether(x, w);
    }
    int n = x.length;
    int k = initialCenters.length;
    double[] centers = initialCenters.clone();
    Arrays.sort(centers);
    double[] sumW = new double[k];
    double[] sumWX = new double[k];

    int iteration = 0;
    while (iteration < maxIterations) {
      iteration++;
      Arrays.fill(sumW, 0);
      Arrays.fill(sumWX, 0);
      int j = 0;
      double boundary = k > 1 ? (centers[0] + centers[1]) / 2 : Double.POSITIVE_INFINITY;
      for (int i = 0; i < n; i++) {
        double xi = x[i];
        while (xi > boundary) {
          j++;
          boundary = j < k - 1 ? (centers[j] + centers[j + 1]) / 2 : Double.POSITIVE_INFINITY;
        }
        sumW[j] += w[i];
        sumWX[j] += w[i] * xi;
      }
      double shift = 0;
      for (int c = 0; c < k; c++) {
        if (sumW[c] > 0) {
          double updated = sumWX[c] / sumW[c];
          double d = updated - centers[c];
          shift += d * d;
          centers[c] = updated;
        }
      }
      // Means of consecutive runs stay ordered, and an empty cluster sits between its
      // neighbours' runs; sorting only guards against rounding at the last ulp.
      Arrays.sort(centers);
      if (shift <= tolerance) {
        break;
      }
    }
    return new Result(centers, sortedInertia(x, w, centers), iteration);
  }

  /**
   * The weighted sum of squared distances of each value to its nearest center.
   *
   * @throws IllegalArgumentException on the same input errors as {@link #lloyd}
   */
  public static double inertia(double[] values, double[] weights, double[] centers) {
    checkPoints(values, weights);
    checkCenters(centers);
    double[] sorted = centers.clone();
    Arrays.sort(sorted);
    double total = 0;
    for (int i = 0; i < values.length; i++) {
      double d = values[i] - sorted[nearestSorted(sorted, values[i])];
      total += weights[i] * d * d;
    }
    return total;
  }

  /**
   * Sorted points with prefix sums of their weights, weighted values and weighted squares, so that
   * a Lloyd step costs O(k log n) (a binary search per midpoint) instead of a sweep over all n
   * points: what makes hundreds of refinement steps on the driver free. Same assignment rule as
   * {@link #lloyd} (the lower centre on an exact midpoint); sums are differences of prefix sums, so
   * centres agree with {@link #lloyd}'s to rounding, not to the bit.
   *
   * <pre>{@code
   * WeightedKMeans1D.Sorted s = new WeightedKMeans1D.Sorted(sortedValues, weights);
   * Result r = s.lloyd(init, 1000, 1e-12);
   * }</pre>
   */
  public static final class Sorted {
    private final double[] x;
    private final double[] cw;
    private final double[] cwx;
    private final double[] cwxx;

    /**
     * @throws IllegalArgumentException on the input errors of {@link #lloyd}, or values that are
     *     not ascending
     */
    public Sorted(double[] values, double[] weights) {
      checkPoints(values, weights);
      if (!isSorted(values)) {
        throw new IllegalArgumentException("Values must be ascending");
      }
      int n = values.length;
      x = values;
      cw = new double[n + 1];
      cwx = new double[n + 1];
      cwxx = new double[n + 1];
      for (int i = 0; i < n; i++) {
        double w = weights[i];
        cw[i + 1] = cw[i] + w;
        cwx[i + 1] = cwx[i] + w * x[i];
        cwxx[i + 1] = cwxx[i] + w * x[i] * x[i];
      }
    }

    /** Lloyd iterations as {@link WeightedKMeans1D#lloyd} runs them, with prefix sums. */
    public Result lloyd(double[] initialCenters, int maxIterations, double tolerance) {
      checkCenters(initialCenters);
      if (maxIterations < 0 || !(tolerance >= 0)) {
        throw new IllegalArgumentException("Cannot run " + maxIterations
            + " iterations to tolerance " + tolerance);
      }
      int k = initialCenters.length;
      double[] centers = initialCenters.clone();
      Arrays.sort(centers);
      int[] end = new int[k];
      int iteration = 0;
      while (iteration < maxIterations) {
        iteration++;
        bounds(centers, end);
        double shift = 0;
        int from = 0;
        for (int c = 0; c < k; c++) {
          double w = cw[end[c]] - cw[from];
          if (w > 0) {
            double updated = (cwx[end[c]] - cwx[from]) / w;
            double d = updated - centers[c];
            shift += d * d;
            centers[c] = updated;
          }
          from = end[c];
        }
        Arrays.sort(centers);
        if (shift <= tolerance) {
          break;
        }
      }
      return new Result(centers, inertia(centers), iteration);
    }

    /** The weighted sum of squared distances to the nearest of ascending {@code centers}. */
    public double inertia(double[] centers) {
      int k = centers.length;
      int[] end = new int[k];
      bounds(centers, end);
      double total = 0;
      int from = 0;
      for (int c = 0; c < k; c++) {
        double m = centers[c];
        double w = cw[end[c]] - cw[from];
        double wx = cwx[end[c]] - cwx[from];
        double wxx = cwxx[end[c]] - cwxx[from];
        total += Math.max(0, wxx - 2 * m * wx + m * m * w);
        from = end[c];
      }
      return total;
    }

    /** end[c]: one past the last point of centre c (points above midpoint c go to c + 1). */
    private void bounds(double[] centers, int[] end) {
      int k = centers.length;
      for (int c = 0; c < k - 1; c++) {
        double b = (centers[c] + centers[c + 1]) / 2;
        // First index with x > b.
        int lo = c == 0 ? 0 : end[c - 1];
        int hi = x.length;
        while (lo < hi) {
          int mid = (lo + hi) >>> 1;
          if (x[mid] > b) {
            hi = mid;
          } else {
            lo = mid + 1;
          }
        }
        end[c] = lo;
      }
      end[k - 1] = x.length;
    }
  }

  // ---- helpers ----

  private static double sortedInertia(double[] x, double[] w, double[] centers) {
    int k = centers.length;
    int j = 0;
    double boundary = k > 1 ? (centers[0] + centers[1]) / 2 : Double.POSITIVE_INFINITY;
    double total = 0;
    for (int i = 0; i < x.length; i++) {
      while (x[i] > boundary) {
        j++;
        boundary = j < k - 1 ? (centers[j] + centers[j + 1]) / 2 : Double.POSITIVE_INFINITY;
      }
      double d = x[i] - centers[j];
      total += w[i] * d * d;
    }
    return total;
  }

  /** Index of the nearest of ascending {@code centers}, the lower on an exact midpoint. */
  static int nearestSorted(double[] centers, double x) {
    int lo = 0;
    int hi = centers.length - 1;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if ((centers[mid] + centers[mid + 1]) / 2 < x) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  /**
   * The change in weighted potential were {@code values[at]} a centre: the sum of
   * {@code w * (d^2 - closest)} over the points it is nearer to than their nearest centre so far
   * (with {@code apply}, their {@code closest} is lowered to {@code d^2}). On strictly increasing
   * values those points are a run around {@code at}: on either side, {@code d^2 - closest} only
   * grows once it is no longer negative (past the midpoint to the neighbouring centre the
   * neighbour is nearer, and it stays so), so each walk stops at the first point not improved.
   */
  private static double gain(double[] values, double[] weights, double[] closest, int at,
      boolean apply) {
    double x0 = values[at];
    double gain = 0;
    // Down from the candidate's own point, then up from the one above it.
    for (int step = -1; step <= 1; step += 2) {
      for (int i = step < 0 ? at : at + 1; i >= 0 && i < values.length; i += step) {
        double d = values[i] - x0;
        double dd = d * d;
        if (!(dd < closest[i])) {
          break;
        }
        gain += weights[i] * (dd - closest[i]);
        if (apply) {
          closest[i] = dd;
        }
      }
    }
    return gain;
  }

  /** cumulative[i] = sum_{j<=i} weights[j] * (factor == null ? 1 : factor[j]); returns the sum. */
  private static double cumulativeSum(double[] weights, double[] factor, double[] cumulative) {
    double sum = 0;
    for (int i = 0; i < weights.length; i++) {
      sum += factor == null ? weights[i] : weights[i] * factor[i];
      cumulative[i] = sum;
    }
    return sum;
  }

  /** First index with cumulative[i] > r (numpy searchsorted side='right'); n if none. */
  private static int searchAbove(double[] cumulative, double r) {
    int lo = 0;
    int hi = cumulative.length;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (cumulative[mid] <= r) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return Math.min(lo, cumulative.length - 1);
  }

  /** First index with cumulative[i] >= r (numpy searchsorted side='left'); n if none. */
  private static int searchAtLeast(double[] cumulative, double r) {
    int lo = 0;
    int hi = cumulative.length;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (cumulative[mid] < r) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  private static double[] distinctSorted(double[] values) {
    boolean increasing = true;
    for (int i = 1; i < values.length && increasing; i++) {
      increasing = values[i - 1] < values[i];
    }
    if (increasing) {
      // Already sorted and distinct (histogram points are): no copy, no sort.
      return values;
    }
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int m = 0;
    for (int i = 0; i < sorted.length; i++) {
      // == treats -0.0 and 0.0 as one value, as the distance does.
      if (m == 0 || sorted[i] != sorted[m - 1]) {
        sorted[m++] = sorted[i];
      }
    }
    return Arrays.copyOf(sorted, m);
  }

  private static boolean isSorted(double[] values) {
    for (int i = 1; i < values.length; i++) {
      if (values[i] < values[i - 1]) {
        return false;
      }
    }
    return true;
  }

  /** Sorts {@code keys} ascending, permuting {@code payload} alike (bottom-up merge sort). */
  static void sortTogether(double[] keys, double[] payload) {
    int n = keys.length;
    double[] k1 = keys;
    double[] p1 = payload;
    double[] k2 = new double[n];
    double[] p2 = new double[n];
    for (int width = 1; width < n; width <<= 1) {
      for (int lo = 0; lo < n; lo += width << 1) {
        int mid = Math.min(lo + width, n);
        int hi = Math.min(lo + (width << 1), n);
        int a = lo;
        int b = mid;
        int out = lo;
        while (a < mid && b < hi) {
          if (k1[b] < k1[a]) {
            k2[out] = k1[b];
            p2[out++] = p1[b++];
          } else {
            k2[out] = k1[a];
            p2[out++] = p1[a++];
          }
        }
        while (a < mid) {
          k2[out] = k1[a];
          p2[out++] = p1[a++];
        }
        while (b < hi) {
          k2[out] = k1[b];
          p2[out++] = p1[b++];
        }
      }
      double[] t = k1;
      k1 = k2;
      k2 = t;
      t = p1;
      p1 = p2;
      p2 = t;
    }
    if (k1 != keys) {
      System.arraycopy(k1, 0, keys, 0, n);
      System.arraycopy(p1, 0, payload, 0, n);
    }
  }

  private static void checkPoints(double[] values, double[] weights) {
    if (values.length == 0) {
      throw new IllegalArgumentException("Cannot cluster 0 points: need at least 1");
    }
    if (values.length != weights.length) {
      throw new IllegalArgumentException(
          "Cannot cluster "
              + values.length
              + " values with "
              + weights.length
              + " weights: lengths must match");
    }
    for (int i = 0; i < values.length; i++) {
      if (!Double.isFinite(values[i])) {
        throw new IllegalArgumentException(
            "Cannot cluster value " + values[i] + " at index " + i + ": values must be finite");
      }
      double w = weights[i];
      if (!(w > 0) || w == Double.POSITIVE_INFINITY) {
        throw new IllegalArgumentException(
            "Cannot cluster with weight " + w + " at index " + i
                + ": weights must be finite and positive");
      }
    }
  }

  private static void checkCenters(double[] centers) {
    if (centers.length == 0) {
      throw new IllegalArgumentException("Cannot cluster with 0 centers: need at least 1");
    }
    for (int i = 0; i < centers.length; i++) {
      if (!Double.isFinite(centers[i])) {
        throw new IllegalArgumentException(
            "Cannot cluster with center " + centers[i] + " at index " + i
                + ": centers must be finite");
      }
    }
  }
}
