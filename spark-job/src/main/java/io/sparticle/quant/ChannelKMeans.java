package io.sparticle.quant;

import java.util.Arrays;

/**
 * Fits the codebook of one unit (an output channel) by an exact 1-D method: the optimal weighted
 * k-means of the unit's sorted distinct values, by dynamic programming over contiguous runs (in
 * one dimension an optimal clustering is a partition of the sorted values into k runs; Wang and
 * Song's Ckmeans.1d.dp). Run costs come from prefix sums in O(1), and each of the k layers is
 * solved by divide and conquer over the monotone split points: O(k m log m) for m candidate
 * boundaries. Millions of such fits run on the executors, where an MLlib job per channel would
 * cost about 0.7 s each.
 *
 * <p>Where k n log2(n) is at most {@link #EXACT_BUDGET} (n distinct values) every boundary is a
 * candidate and the result is the global optimum. Longer channels (a 2048-wide row, an embedding
 * column of 30,522 values) take as candidates the edges of {@code max(8 k, 128)} bins (fewer for
 * k = 256, see {@link #COARSE_BUDGET}) of equal
 * weight and as many of equal width in value (which give outliers runs of their own): the DP finds the best partition on those edges exactly (a run of bins costs the exact
 * squared error of its values), and weighted Lloyd steps at full resolution, O(k log n) each with
 * the prefix sums, carry it to a fixed point. No random start, no restarts.
 *
 * <p>Each centroid is the weighted mean of its run. A unit with at most k distinct values gets
 * them all (error zero), the largest repeated.
 *
 * <pre>{@code
 * float[] centroids = new ChannelKMeans(16).fit(row, 0, row.length);
 * }</pre>
 */
public final class ChannelKMeans {
  /** Largest k n log2(n) fitted over every boundary; beyond it, over bin edges then Lloyd. */
  public static final double EXACT_BUDGET = 5e4;
  /** Largest k m log2(m) for the DP over m bin edges (many centroids: 256 gets 256 bins). */
  public static final double COARSE_BUDGET = 2e7;

  private final int k;
  // Scratch reused across units of one task.
  private float[] sorted = new float[0];
  private double[] x = new double[0];
  private double[] w = new double[0];
  private double[] sumW = new double[1];
  private double[] sumWX = new double[1];
  private double[] sumWXX = new double[1];
  private int[] pos = new int[0];
  private double[] prev = new double[0];
  private double[] cur = new double[0];
  private int[][] split = new int[0][0];

  public ChannelKMeans(int k) {
    if (k < 1 || k > 256) {
      throw new IllegalArgumentException("Cannot fit " + k + " centroids per channel: must be 1 to 256");
    }
    this.k = k;
  }

  /** Centroids per fit. */
  public int k() {
    return k;
  }

  /** The k centroids, ascending, of {@code values[offset, offset + length)} (finite values). */
  public float[] fit(float[] values, int offset, int length) {
    return fit(values, null, offset, length);
  }

  /**
   * As above, value {@code values[i]} weighing {@code weights[i]} (its importance; null: all 1)
   * in the squared error the centroids minimize.
   */
  public float[] fit(float[] values, float[] weights, int offset, int length) {
    if (length < 1) {
      throw new IllegalArgumentException("Cannot fit an empty channel");
    }
    if (sorted.length < length) {
      sorted = new float[length];
      x = new double[length];
      w = new double[length];
      sumW = new double[length + 1];
      sumWX = new double[length + 1];
      sumWXX = new double[length + 1];
    }
    int n = 0;
    if (weights == null) {
      System.arraycopy(values, offset, sorted, 0, length);
      Arrays.sort(sorted, 0, length);
      for (int i = 0; i < length; i++) {
        double v = sorted[i] + 0.0f; // -0.0 and 0.0 are one value
        if (n > 0 && x[n - 1] == v) {
          w[n - 1]++;
        } else {
          x[n] = v;
          w[n] = 1;
          n++;
        }
      }
    } else {
      // Sorted by value with each value's index: the value's order-preserving bits above it.
      long[] keys = new long[length];
      for (int i = 0; i < length; i++) {
        int bits = Float.floatToIntBits(values[offset + i] + 0.0f);
        int ordered = bits < 0 ? ~bits : bits | Integer.MIN_VALUE;
        keys[i] = (long) (ordered ^ Integer.MIN_VALUE) << 32 | i;
      }
      Arrays.sort(keys);
      for (long key : keys) {
        int i = (int) key;
        double v = values[offset + i] + 0.0f;
        if (n > 0 && x[n - 1] == v) {
          w[n - 1] += weights[offset + i];
        } else {
          x[n] = v;
          w[n] = weights[offset + i];
          n++;
        }
      }
    }
    float[] out = new float[k];
    if (n <= k) {
      for (int c = 0; c < k; c++) {
        out[c] = (float) x[Math.min(c, n - 1)];
      }
      return out;
    }
    for (int i = 0; i < n; i++) {
      sumW[i + 1] = sumW[i] + w[i];
      sumWX[i + 1] = sumWX[i] + w[i] * x[i];
      sumWXX[i + 1] = sumWXX[i] + w[i] * x[i] * x[i];
    }
    int[] starts;
    if ((double) k * n * (32 - Integer.numberOfLeadingZeros(n)) <= EXACT_BUDGET) {
      starts = optimalRuns(identity(n), n);
    } else {
      // Bins such that the DP over both edge lists stays within COARSE_BUDGET (k bins at least).
      int bins = Math.max(8 * k, 128);
      while (bins > k && (double) k * 2 * bins * (33 - Integer.numberOfLeadingZeros(bins)) > COARSE_BUDGET) {
        bins /= 2;
      }
      int m = binEdges(n, bins);
      starts = refine(optimalRuns(pos, m), n);
    }
    for (int c = 0; c < k; c++) {
      int a = starts[c];
      int b = starts[c + 1];
      out[c] = (float) ((sumWX[b] - sumWX[a]) / (sumW[b] - sumW[a]));
    }
    Arrays.sort(out);
    return out;
  }

  private int[] identity(int n) {
    if (pos.length < n + 1) {
      pos = new int[n + 1];
    }
    for (int i = 0; i <= n; i++) {
      pos[i] = i;
    }
    return pos;
  }

  /**
   * Candidate boundaries: the edges of {@code bins} runs of about equal weight, merged with those
   * of {@code bins} runs of equal width in value (so that outliers, which share an equal-weight
   * run with the bulk, get runs of their own). Edges go to pos[0..m], ascending, distinct,
   * pos[0] = 0 and pos[m] = n. Returns m.
   */
  private int binEdges(int n, int bins) {
    if (pos.length < 2 * bins + 1) {
      pos = new int[2 * bins + 1];
    }
    double total = sumW[n];
    double lo = x[0];
    double width = (x[n - 1] - lo) / bins;
    // Two ascending lists of edges, merged.
    int[] byWeight = new int[bins + 1];
    int[] byValue = new int[bins + 1];
    for (int b = 1, i = 0, j = 0; b < bins; b++) {
      double target = total * b / bins;
      while (i < n && sumW[i] < target) {
        i++;
      }
      byWeight[b] = i;
      double edge = lo + width * b;
      while (j < n && x[j] < edge) {
        j++;
      }
      byValue[b] = j;
    }
    byWeight[bins] = n;
    byValue[bins] = n;
    int m = 0;
    pos[0] = 0;
    for (int a = 1, b = 1; a <= bins || b <= bins; ) {
      int next = b > bins || (a <= bins && byWeight[a] <= byValue[b]) ? byWeight[a++] : byValue[b++];
      if (next > pos[m]) {
        pos[++m] = next;
      }
    }
    return m;
  }

  /**
   * The k runs of least total squared error whose boundaries are among p[0..m] (p[0] = 0, p[m] =
   * n): run c is [starts[c], starts[c + 1]). cur[i] is the least error of x[0, p[i]) in the layer's
   * number of runs; the last run's start is monotone in i, which divide and conquer exploits.
   */
  private int[] optimalRuns(int[] p, int m) {
    if (prev.length < m + 1) {
      prev = new double[m + 1];
      cur = new double[m + 1];
    }
    if (split.length < k || split[0].length < m + 1) {
      split = new int[k][m + 1];
    }
    for (int i = 1; i <= m; i++) {
      prev[i] = sse(0, p[i]);
    }
    for (int layer = 1; layer < k; layer++) {
      // At least one candidate run per cluster.
      solve(p, layer, layer + 1, m, layer, m - 1);
      double[] t = prev;
      prev = cur;
      cur = t;
    }
    int[] idx = new int[k + 1];
    idx[k] = m;
    for (int layer = k - 1; layer >= 1; layer--) {
      idx[layer] = split[layer][idx[layer + 1]];
    }
    int[] starts = new int[k + 1];
    for (int c = 0; c <= k; c++) {
      starts[c] = p[idx[c]];
    }
    return starts;
  }

  /** cur[i] for i in [lo, hi], knowing the best last-run start lies in [optLo, optHi]. */
  private void solve(int[] p, int layer, int lo, int hi, int optLo, int optHi) {
    if (lo > hi) {
      return;
    }
    int mid = (lo + hi) >>> 1;
    double best = Double.POSITIVE_INFINITY;
    int bestJ = optLo;
    int end = p[mid];
    for (int j = optLo, last = Math.min(mid - 1, optHi); j <= last; j++) {
      double c = prev[j] + sse(p[j], end);
      if (c < best) {
        best = c;
        bestJ = j;
      }
    }
    cur[mid] = best;
    split[layer][mid] = bestJ;
    solve(p, layer, lo, mid - 1, optLo, bestJ);
    solve(p, layer, mid + 1, hi, bestJ, optHi);
  }

  /** Lloyd steps at full resolution from the given runs until they no longer change. */
  private int[] refine(int[] starts, int n) {
    double[] c = new double[k];
    int[] next = new int[k + 1];
    for (int it = 0; it < 1000; it++) {
      for (int j = 0; j < k; j++) {
        c[j] = (sumWX[starts[j + 1]] - sumWX[starts[j]]) / (sumW[starts[j + 1]] - sumW[starts[j]]);
      }
      next[0] = 0;
      next[k] = n;
      for (int j = 0; j < k - 1; j++) {
        // The first value above the midpoint starts the next run (a tie stays below, as
        // Codebook.nearest does); every run keeps at least one value.
        int lo = next[j] + 1;
        int hi = n - (k - 1 - j);
        double mid = (c[j] + c[j + 1]) / 2;
        while (lo < hi) {
          int h = (lo + hi) >>> 1;
          if (x[h] <= mid) {
            lo = h + 1;
          } else {
            hi = h;
          }
        }
        next[j + 1] = lo;
      }
      if (Arrays.equals(next, starts)) {
        break;
      }
      int[] t = starts;
      starts = next;
      next = t;
    }
    return starts;
  }

  /** Weighted squared error of x[s, e) around its mean. */
  private double sse(int s, int e) {
    double weight = sumW[e] - sumW[s];
    if (weight <= 0) {
      return 0;
    }
    double sum = sumWX[e] - sumWX[s];
    return Math.max(0, sumWXX[e] - sumWXX[s] - sum * sum / weight);
  }
}
