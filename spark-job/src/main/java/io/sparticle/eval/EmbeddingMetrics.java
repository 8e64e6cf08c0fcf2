package io.sparticle.eval;

import java.util.Arrays;

/**
 * How closely two sets of sentence embeddings agree. Row {@code i} of each matrix is sentence
 * {@code i}'s embedding; rows are expected L2-normalized, so a dot product is a cosine.
 *
 * <pre>{@code
 * double[] cos = EmbeddingMetrics.rowCosines(a, b);                  // per sentence
 * double rho = EmbeddingMetrics.spearman(
 *     EmbeddingMetrics.pairwiseCosines(a), EmbeddingMetrics.pairwiseCosines(b));
 * double top1 = EmbeddingMetrics.top1Agreement(a, b);
 * }</pre>
 */
public final class EmbeddingMetrics {
  /** Below this norm a vector is treated as zero, as torch's {@code F.normalize} does. */
  static final double NORM_EPSILON = 1e-12;

  private EmbeddingMetrics() {}

  /** Divides {@code v} by its L2 norm, in place; returns {@code v}. */
  public static double[] l2Normalize(double[] v) {
    double sum = 0;
    for (double x : v) {
      sum += x * x;
    }
    double scale = 1.0 / Math.max(Math.sqrt(sum), NORM_EPSILON);
    for (int i = 0; i < v.length; i++) {
      v[i] *= scale;
    }
    return v;
  }

  /** Dot product: the cosine of two L2-normalized vectors. */
  public static double dot(double[] a, double[] b) {
    if (a.length != b.length) {
      throw new IllegalArgumentException(
          "Cannot compare vectors of dimension " + a.length + " and " + b.length);
    }
    double sum = 0;
    for (int i = 0; i < a.length; i++) {
      sum += a[i] * b[i];
    }
    return sum;
  }

  /** {@code dot(a[i], b[i])} for every row: each sentence's cosine between the two models. */
  public static double[] rowCosines(double[][] a, double[][] b) {
    checkSameRows(a, b);
    double[] cos = new double[a.length];
    for (int i = 0; i < a.length; i++) {
      cos[i] = dot(a[i], b[i]);
    }
    return cos;
  }

  /**
   * Cosines of every pair {@code i < j}, in the order (0,1), (0,2), ..., (0,n-1), (1,2), ...:
   * {@code n (n - 1) / 2} values.
   */
  public static double[] pairwiseCosines(double[][] e) {
    int n = e.length;
    double[] out = new double[Math.toIntExact((long) n * (n - 1) / 2)];
    int k = 0;
    for (int i = 0; i < n; i++) {
      for (int j = i + 1; j < n; j++) {
        out[k++] = dot(e[i], e[j]);
      }
    }
    return out;
  }

  /**
   * Ranks 1..n of {@code x}, tied values sharing the average of the ranks they span (as
   * {@code scipy.stats.rankdata(method="average")}).
   */
  public static double[] ranks(double[] x) {
    int n = x.length;
    Integer[] boxed = new Integer[n];
    for (int i = 0; i < n; i++) {
      boxed[i] = i;
    }
    Arrays.sort(boxed, (p, q) -> Double.compare(x[p], x[q]));
    double[] rank = new double[n];
    int start = 0;
    while (start < n) {
      int end = start + 1;
      while (end < n && Double.compare(x[boxed[end]], x[boxed[start]]) == 0) {
        end++;
      }
      // Positions start..end-1 hold ranks start+1..end: their average.
      double average = (start + 1 + end) / 2.0;
      for (int p = start; p < end; p++) {
        rank[boxed[p]] = average;
      }
      start = end;
    }
    return rank;
  }

  /**
   * Spearman's rank correlation: the Pearson correlation of the average ranks
   * ({@code scipy.stats.spearmanr}). NaN if either side is constant.
   */
  public static double spearman(double[] x, double[] y) {
    if (x.length != y.length) {
      throw new IllegalArgumentException(
          "Cannot correlate " + x.length + " values with " + y.length);
    }
    if (x.length < 2) {
      throw new IllegalArgumentException("Spearman needs at least 2 values, got " + x.length);
    }
    return pearson(ranks(x), ranks(y));
  }

  /** Pearson's correlation coefficient; NaN if either side is constant. */
  public static double pearson(double[] x, double[] y) {
    int n = x.length;
    double mx = 0;
    double my = 0;
    for (int i = 0; i < n; i++) {
      mx += x[i];
      my += y[i];
    }
    mx /= n;
    my /= n;
    double sxy = 0;
    double sxx = 0;
    double syy = 0;
    for (int i = 0; i < n; i++) {
      double dx = x[i] - mx;
      double dy = y[i] - my;
      sxy += dx * dy;
      sxx += dx * dx;
      syy += dy * dy;
    }
    if (sxx == 0 || syy == 0) {
      return Double.NaN;
    }
    return sxy / Math.sqrt(sxx * syy);
  }

  /**
   * For each row, the index of the most similar other row (largest dot product; the lowest
   * index wins a tie).
   */
  public static int[] nearestNeighbours(double[][] e) {
    int n = e.length;
    if (n < 2) {
      throw new IllegalArgumentException("Nearest neighbours need at least 2 rows, got " + n);
    }
    int[] nearest = new int[n];
    for (int i = 0; i < n; i++) {
      int best = -1;
      double bestCos = Double.NEGATIVE_INFINITY;
      for (int j = 0; j < n; j++) {
        if (j == i) {
          continue;
        }
        double c = dot(e[i], e[j]);
        if (best < 0 || c > bestCos) {
          best = j;
          bestCos = c;
        }
      }
      nearest[i] = best;
    }
    return nearest;
  }

  /** Fraction of rows whose nearest other row is the same under {@code a} and {@code b}. */
  public static double top1Agreement(double[][] a, double[][] b) {
    checkSameRows(a, b);
    int[] na = nearestNeighbours(a);
    int[] nb = nearestNeighbours(b);
    int same = 0;
    for (int i = 0; i < na.length; i++) {
      if (na[i] == nb[i]) {
        same++;
      }
    }
    return (double) same / na.length;
  }

  private static void checkSameRows(double[][] a, double[][] b) {
    if (a.length != b.length) {
      throw new IllegalArgumentException(
          "Cannot compare " + a.length + " embeddings with " + b.length);
    }
  }
}
