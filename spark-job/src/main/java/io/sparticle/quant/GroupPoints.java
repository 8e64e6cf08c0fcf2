package io.sparticle.quant;

import java.io.Serializable;
import java.util.Arrays;

/**
 * The points a codebook group is fitted on: its tensors' histograms, each divided by its tensor's
 * scale, merged into one bounded set of weighted points, so that a group of thousands of tensors
 * costs the fit (and the driver's memory) no more than a group of one.
 *
 * <p>Resolution: a scaled value {@code v} is rounded to float32 and binned by its top 16 bits
 * (sign, exponent and 7 mantissa bits: its BF16 bit pattern, rounded toward zero), so there are
 * at most 65,536 bins however many tensors a group holds. Each bin is represented by the exact
 * count-weighted mean of the float32 values in it (their low 16 bits are summed as integers, so
 * the mean does not depend on the order in which partial sets are merged). Every value lies
 * within a relative 2^-7 (0.8%) of its bin's mean; a k-means objective over the bins differs
 * from the one over the values only where a bin straddles a decision boundary. BF16 values with
 * scale 1 (one unscaled BF16 tensor, or a group without per-tensor scales) each get a bin of
 * their own, so their fit stays exact.
 *
 * <pre>{@code
 * GroupPoints p = GroupPoints.of(histogram, rms, outliers, pruned).merge(other);
 * double[] x = p.values();          // ascending, distinct
 * double[] w = p.weights(true);     // importance where the histograms carry it, else counts
 * }</pre>
 */
public final class GroupPoints implements Serializable {
  private static final long serialVersionUID = 1L;
  /** Bins keep the top 16 of a float32's 32 bits. */
  public static final int BIN_SHIFT = 16;
  private static final int LOW_MASK = (1 << BIN_SHIFT) - 1;

  private final int[] keys; // ascending as unsigned ints
  private final long[] counts;
  private final long[] lowSums; // sum of count * (low 16 bits)
  private final double[] mass; // importance, or null

  private GroupPoints(int[] keys, long[] counts, long[] lowSums, double[] mass) {
    this.keys = keys;
    this.counts = counts;
    this.lowSums = lowSums;
    this.mass = mass;
  }

  /** No points. */
  public static GroupPoints empty(boolean weighted) {
    return new GroupPoints(new int[0], new long[0], new long[0], weighted ? new double[0] : null);
  }

  /**
   * One tensor's points: its histogram's bins divided by {@code scale}, without the values that
   * are kept exact as outliers or pruned to zero (tested on the unscaled value, as the encoder
   * does).
   */
  public static GroupPoints of(ValueHistogram h, double scale, ValueHistogram.Outliers outliers,
      ValueHistogram.Pruned pruned) {
    if (!(scale > 0) || !Double.isFinite(scale)) {
      throw new IllegalArgumentException("Cannot scale by " + scale + ": must be finite and positive");
    }
    int n = h.size();
    long[] order = new long[n];
    int m = 0;
    boolean sorted = true;
    long last = -1;
    for (int i = 0; i < n; i++) {
      double v = h.value(i);
      float raw = (float) v;
      if (outliers.test(raw) || pruned.test(raw)) {
        continue;
      }
      // + 0f folds -0 into +0, so both share a bin.
      int bits = Float.floatToRawIntBits((float) (v / scale) + 0f);
      // Unsigned bits above the index, the whole non-negative: a signed sort orders the bits
      // as unsigned.
      long o = Integer.toUnsignedLong(bits) << 31 | i;
      sorted &= o > last;
      last = o;
      order[m++] = o;
    }
    order = Arrays.copyOf(order, m);
    // A histogram's bins come in unsigned key order, and dividing by a positive scale keeps that
    // order (but for a folded -0), so the sort is usually skipped.
    if (!sorted) {
      Arrays.sort(order);
    }
    int[] k = new int[m];
    long[] c = new long[m];
    long[] low = new long[m];
    double[] w = h.weighted() ? new double[m] : null;
    int d = -1;
    for (long o : order) {
      int bits = (int) (o >>> 31);
      int i = (int) (o & Integer.MAX_VALUE);
      int key = bits >>> BIN_SHIFT;
      if (d < 0 || k[d] != key) {
        k[++d] = key;
      }
      c[d] += h.count(i);
      low[d] += h.count(i) * (bits & LOW_MASK);
      if (w != null) {
        w[d] += h.weight(i);
      }
    }
    int size = d + 1;
    return new GroupPoints(Arrays.copyOf(k, size), Arrays.copyOf(c, size),
        Arrays.copyOf(low, size), w == null ? null : Arrays.copyOf(w, size));
  }

  /** The union of two point sets (any order of merges gives the same values and counts). */
  public GroupPoints merge(GroupPoints o) {
    if ((mass == null) != (o.mass == null)) {
      // A group mixes tensors with and without importance: the others weigh their counts.
      return (mass == null ? withCountsAsMass() : this)
          .merge(o.mass == null ? o.withCountsAsMass() : o);
    }
    int n = keys.length + o.keys.length;
    int[] k = new int[n];
    long[] c = new long[n];
    long[] low = new long[n];
    double[] w = mass == null ? null : new double[n];
    int i = 0;
    int j = 0;
    int m = 0;
    while (i < keys.length || j < o.keys.length) {
      int cmp = i == keys.length ? 1 : j == o.keys.length ? -1
          : Integer.compareUnsigned(keys[i], o.keys[j]);
      if (cmp <= 0) {
        k[m] = keys[i];
        c[m] = counts[i];
        low[m] = lowSums[i];
        if (w != null) {
          w[m] = mass[i];
        }
        i++;
      }
      if (cmp >= 0) {
        k[m] = o.keys[j];
        c[m] += o.counts[j];
        low[m] += o.lowSums[j];
        if (w != null) {
          w[m] += o.mass[j];
        }
        j++;
      }
      m++;
    }
    return new GroupPoints(Arrays.copyOf(k, m), Arrays.copyOf(c, m), Arrays.copyOf(low, m),
        w == null ? null : Arrays.copyOf(w, m));
  }

  private GroupPoints withCountsAsMass() {
    double[] w = new double[counts.length];
    for (int i = 0; i < w.length; i++) {
      w[i] = counts[i];
    }
    return new GroupPoints(keys, counts, lowSums, w);
  }

  /** Number of points (bins). */
  public int size() {
    return keys.length;
  }

  /** Number of values binned. */
  public long totalCount() {
    long n = 0;
    for (long c : counts) {
      n += c;
    }
    return n;
  }

  /** The points' values, ascending and distinct: each bin's mean. */
  public double[] values() {
    double[] v = new double[keys.length];
    int[] order = order();
    for (int r = 0; r < order.length; r++) {
      v[r] = value(order[r]);
    }
    return v;
  }

  /**
   * The points' weights, in the order of {@link #values}: with {@code weighted}, the importance
   * the histograms carried (counts where they carried none), else the counts.
   */
  public double[] weights(boolean weighted) {
    double[] w = new double[keys.length];
    int[] order = order();
    for (int r = 0; r < order.length; r++) {
      w[r] = weighted && mass != null ? mass[order[r]] : counts[order[r]];
    }
    return w;
  }

  /** Bin i's mean: the bin's low edge plus the mean of its low bits, in units of its spacing. */
  private double value(int i) {
    int base = keys[i] << BIN_SHIFT;
    double lo = Float.intBitsToFloat(base);
    // Within one bin, sign and exponent are fixed, so a float's value is linear in its low bits.
    double unit = (double) Float.intBitsToFloat(base | 1) - lo;
    return lo + unit * ((double) lowSums[i] / counts[i]);
  }

  /** Bin indices by ascending value: negative bins by descending key, then positive ascending. */
  private int[] order() {
    int[] order = new int[keys.length];
    int negatives = 0;
    for (int key : keys) {
      if (key < 0 || (key & (1 << (31 - BIN_SHIFT))) != 0) {
        negatives++;
      }
    }
    int positives = keys.length - negatives;
    // Keys ascend as unsigned: positives first (ascending value), then negatives (ascending
    // magnitude, so descending value).
    int r = 0;
    for (int i = keys.length - 1; i >= positives; i--) {
      order[r++] = i;
    }
    for (int i = 0; i < positives; i++) {
      order[r++] = i;
    }
    return order;
  }
}
