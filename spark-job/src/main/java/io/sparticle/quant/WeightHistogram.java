package io.sparticle.quant;

import java.util.Arrays;

/**
 * A small fixed-bin histogram of a group's weights, for the report: where the weights lie and,
 * next to it, where the group's codebook put its particles.
 *
 * <p>The range {@code [lo, hi]} spans the central 99.9% of the weights (the 0.05% and 99.95%
 * quantiles), widened to take in every particle, so that a few far outliers do not squeeze the
 * bulk into one bin; the weights outside it are counted in {@code below} and {@code above}, and
 * {@code min}/{@code max} say how far they reach. Bin i covers
 * {@code [lo + i * width, lo + (i + 1) * width)}, the last bin also {@code hi}.
 *
 * <pre>{@code
 * GroupPoints p = ...;
 * WeightHistogram h = WeightHistogram.of(p.values(), p.weights(false), 128, codebook);
 * }</pre>
 *
 * @param counts weights per bin
 * @param below weights under {@code lo}
 * @param above weights over {@code hi}
 */
public record WeightHistogram(double lo, double hi, long[] counts, long below, long above,
    double min, double max) {
  /** Share of the weights left out at each end when choosing the range. */
  static final double TAIL = 0.0005;

  public WeightHistogram {
    if (counts.length == 0) {
      throw new IllegalArgumentException("Cannot make a histogram of 0 bins");
    }
    if (!(lo < hi) || !Double.isFinite(lo) || !Double.isFinite(hi)) {
      throw new IllegalArgumentException("Cannot bin over [" + lo + ", " + hi + "]: must be finite, lo < hi");
    }
  }

  public double binWidth() {
    return (hi - lo) / counts.length;
  }

  /** Weights counted: in the bins and outside the range. */
  public long total() {
    long n = below + above;
    for (long c : counts) {
      n += c;
    }
    return n;
  }

  /**
   * The histogram of points {@code values} (ascending, finite) with {@code counts} in
   * {@code bins} bins, its range widened to hold every one of {@code marks} (may be null);
   * null when there are no points.
   */
  public static WeightHistogram of(double[] values, double[] counts, int bins, float[] marks) {
    if (values.length != counts.length) {
      throw new IllegalArgumentException("Cannot bin " + values.length + " values with "
          + counts.length + " counts: must be as many");
    }
    if (bins < 1) {
      throw new IllegalArgumentException("Cannot set bins to " + bins + ": must be at least 1");
    }
    double total = 0;
    for (double c : counts) {
      total += c;
    }
    if (values.length == 0 || !(total > 0)) {
      return null;
    }
    double lo = quantile(values, counts, TAIL * total);
    double hi = quantile(values, counts, (1 - TAIL) * total);
    if (marks != null) {
      for (float m : marks) {
        if (Float.isFinite(m)) {
          lo = Math.min(lo, m);
          hi = Math.max(hi, m);
        }
      }
    }
    if (!(lo < hi)) {
      // One distinct value (and particles on it): a range around it.
      double pad = lo == 0 ? 1 : Math.abs(lo) / 2;
      lo -= pad;
      hi += pad;
    }
    long[] c = new long[bins];
    long below = 0;
    long above = 0;
    double width = (hi - lo) / bins;
    for (int i = 0; i < values.length; i++) {
      long n = Math.round(counts[i]);
      double v = values[i];
      if (v < lo) {
        below += n;
      } else if (v > hi) {
        above += n;
      } else {
        c[Math.min(bins - 1, (int) ((v - lo) / width))] += n;
      }
    }
    return new WeightHistogram(lo, hi, c, below, above, values[0], values[values.length - 1]);
  }

  /** The smallest value with at least {@code rank} of the total count at or below it. */
  private static double quantile(double[] values, double[] counts, double rank) {
    double seen = 0;
    for (int i = 0; i < values.length; i++) {
      seen += counts[i];
      if (seen >= rank) {
        return values[i];
      }
    }
    return values[values.length - 1];
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof WeightHistogram h && lo == h.lo && hi == h.hi
        && Arrays.equals(counts, h.counts) && below == h.below && above == h.above && min == h.min
        && max == h.max;
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(counts) * 31 + Double.hashCode(lo);
  }

  @Override
  public String toString() {
    return "WeightHistogram[" + lo + ", " + hi + ", " + counts.length + " bins, below " + below
        + ", above " + above + "]";
  }
}
