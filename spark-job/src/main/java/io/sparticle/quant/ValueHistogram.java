package io.sparticle.quant;

import java.io.Serializable;
import java.util.Map;

/**
 * The value distribution of one tensor, compact enough to cluster on the driver.
 *
 * <p>For F16 and BF16 it is exact: one bin per distinct bit pattern (at most 65,536), so k-means
 * on the weighted bins equals k-means on every weight. For F32 a bin holds all values that share
 * their top 20 bits (sign, exponent and 11 mantissa bits) and is represented by the exact mean of
 * its values: every normal value lies within a relative 2^-11 (0.05%) of its bin's mean (zeros and
 * subnormals share bins within an absolute 2^-138), which bounds how far the clustering input is
 * from the raw weights. The encode pass is exact for every dtype.
 *
 * <pre>{@code
 * ValueHistogram.Accumulator acc = ValueHistogram.accumulator(ValueKind.BF16);
 * acc.addLittleEndian(bytes, 0, numel);
 * ValueHistogram h = acc.finish(tensorIndex);
 * }</pre>
 */
public final class ValueHistogram implements Serializable {
  private static final long serialVersionUID = 1L;
  /** F32 bins keep the top 20 of 32 bits. */
  public static final int F32_BIN_SHIFT = 12;

  private final int tensor;
  private final ValueKind kind;
  private final int[] keys;
  private final long[] counts;
  private final double[] sums; // F32 only
  private final double[] mass; // with importance only
  private final long nonFinite;
  private final double sumSquares;

  private ValueHistogram(int tensor, ValueKind kind, int[] keys, long[] counts, double[] sums,
      double[] mass, long nonFinite, double sumSquares) {
    this.tensor = tensor;
    this.kind = kind;
    this.keys = keys;
    this.counts = counts;
    this.sums = sums;
    this.mass = mass;
    this.nonFinite = nonFinite;
    this.sumSquares = sumSquares;
  }

  public int tensor() {
    return tensor;
  }

  public ValueKind kind() {
    return kind;
  }

  /** Number of distinct bins. */
  public int size() {
    return keys.length;
  }

  public long count(int i) {
    return counts[i];
  }

  /** Whether the bins carry the importance of their weights ({@link #weight}). */
  public boolean weighted() {
    return mass != null;
  }

  /**
   * The weight of bin i in a fit: the sum of its weights' importance when the histogram was
   * taken with an {@link Importance}, else its count.
   */
  public double weight(int i) {
    return mass != null ? mass[i] : counts[i];
  }

  /** The representative value of bin i: the exact value for 16-bit kinds, the bin mean for F32. */
  public double value(int i) {
    return kind == ValueKind.F32 ? sums[i] / counts[i] : kind.decode16(keys[i]);
  }

  /** NaN and infinite values seen; they are in no bin. */
  public long nonFinite() {
    return nonFinite;
  }

  /** Number of finite values. */
  public long totalCount() {
    long n = 0;
    for (long c : counts) {
      n += c;
    }
    return n;
  }

  /** Root mean square of the finite values, computed exactly from the raw values. */
  public double rms() {
    long n = totalCount();
    return n == 0 ? 0 : Math.sqrt(sumSquares / n);
  }

  /** The weights {@code |x| > threshold} of a tensor, kept exact as outliers: {@code count} of them. */
  public record Outliers(float threshold, long count) implements Serializable {
    /** No outliers (a finite threshold, so a manifest can always write it). */
    public static final Outliers NONE = new Outliers(Float.MAX_VALUE, 0);

    public boolean test(float x) {
      return Math.abs(x) > threshold;
    }
  }

  /** The weights {@code |x| <= threshold} of a tensor, pruned to exactly 0: {@code count} of them. */
  public record Pruned(float threshold, long count) implements Serializable {
    /** Nothing pruned. */
    public static final Pruned NONE = new Pruned(-1f, 0);

    public boolean test(float x) {
      return Math.abs(x) <= threshold;
    }
  }

  /**
   * The smallest-magnitude weights, at most {@code maxCount} of them: every weight whose magnitude
   * is at most a threshold, the threshold as high as the limit allows (all weights of one
   * magnitude are in or out together). For F32 the threshold is the upper edge of a bin's
   * magnitudes, so the count is exact there too.
   */
  public Pruned pruned(long maxCount) {
    if (maxCount <= 0) {
      return Pruned.NONE;
    }
    java.util.TreeMap<Integer, Long> byMagnitude = byMagnitude();
    long total = 0;
    int last = -1;
    for (Map.Entry<Integer, Long> e : byMagnitude.entrySet()) {
      if (total + e.getValue() > maxCount) {
        break;
      }
      total += e.getValue();
      last = e.getKey();
    }
    return last < 0 ? Pruned.NONE : new Pruned(magnitude(last), total);
  }

  /**
   * The largest-magnitude weights, at most {@code maxCount} of them: every weight whose
   * magnitude exceeds a threshold, the threshold as low as the limit allows (all weights of one
   * magnitude are in or out together). For F32 the threshold is the upper edge of a bin's
   * magnitudes, so the count is exact there too.
   */
  public Outliers outliers(long maxCount) {
    if (maxCount <= 0) {
      return Outliers.NONE;
    }
    java.util.TreeMap<Integer, Long> byMagnitude = byMagnitude();
    long total = 0;
    for (Map.Entry<Integer, Long> e : byMagnitude.descendingMap().entrySet()) {
      if (total + e.getValue() > maxCount) {
        return new Outliers(magnitude(e.getKey()), total);
      }
      total += e.getValue();
    }
    return new Outliers(magnitude(0), total - byMagnitude.getOrDefault(0, 0L));
  }

  /**
   * Counts by magnitude key, ascending: a 16-bit kind's bits without the sign; F32 bins' keys
   * without the sign.
   */
  private java.util.TreeMap<Integer, Long> byMagnitude() {
    int signBit = kind == ValueKind.F32 ? 1 << (31 - F32_BIN_SHIFT) : 1 << 15;
    java.util.TreeMap<Integer, Long> byMagnitude = new java.util.TreeMap<>();
    for (int i = 0; i < keys.length; i++) {
      byMagnitude.merge(keys[i] & (signBit - 1), counts[i], Long::sum);
    }
    return byMagnitude;
  }

  /** The largest magnitude a magnitude key stands for. */
  private float magnitude(int key) {
    if (kind == ValueKind.F32) {
      return Float.intBitsToFloat(key << F32_BIN_SHIFT | ((1 << F32_BIN_SHIFT) - 1));
    }
    return kind.decode16(key);
  }

  /** Sums two histograms of the same tensor (e.g. from two chunks). */
  public ValueHistogram merge(ValueHistogram o) {
    if (o.tensor != tensor || o.kind != kind || (mass == null) != (o.mass == null)) {
      throw new IllegalArgumentException("Cannot merge histograms of tensors " + tensor + "/" + kind
          + (mass != null ? " (weighted)" : "") + " and " + o.tensor + "/" + o.kind
          + (o.mass != null ? " (weighted)" : ""));
    }
    int n = keys.length + o.keys.length;
    int[] k = new int[n];
    long[] c = new long[n];
    double[] s = sums == null ? null : new double[n];
    double[] w = mass == null ? null : new double[n];
    int i = 0;
    int j = 0;
    int m = 0;
    while (i < keys.length || j < o.keys.length) {
      // Keys are compared as unsigned so the order is the same as bin construction's.
      int cmp = i == keys.length ? 1 : j == o.keys.length ? -1 : Integer.compareUnsigned(keys[i], o.keys[j]);
      if (cmp < 0) {
        k[m] = keys[i];
        c[m] = counts[i];
        if (s != null) {
          s[m] = sums[i];
        }
        if (w != null) {
          w[m] = mass[i];
        }
        i++;
      } else if (cmp > 0) {
        k[m] = o.keys[j];
        c[m] = o.counts[j];
        if (s != null) {
          s[m] = o.sums[j];
        }
        if (w != null) {
          w[m] = o.mass[j];
        }
        j++;
      } else {
        k[m] = keys[i];
        c[m] = counts[i] + o.counts[j];
        if (s != null) {
          s[m] = sums[i] + o.sums[j];
        }
        if (w != null) {
          w[m] = mass[i] + o.mass[j];
        }
        i++;
        j++;
      }
      m++;
    }
    return new ValueHistogram(tensor, kind, java.util.Arrays.copyOf(k, m),
        java.util.Arrays.copyOf(c, m), s == null ? null : java.util.Arrays.copyOf(s, m),
        w == null ? null : java.util.Arrays.copyOf(w, m), nonFinite + o.nonFinite,
        sumSquares + o.sumSquares);
  }

  public static Accumulator accumulator(ValueKind kind) {
    return new Accumulator(kind);
  }

  /** Dense per-task counting; one per tensor being read. Not thread-safe. */
  public static final class Accumulator {
    private static final java.lang.invoke.VarHandle LE_SHORT =
        java.lang.invoke.MethodHandles.byteArrayViewVarHandle(short[].class,
            java.nio.ByteOrder.LITTLE_ENDIAN);
    private static final java.lang.invoke.VarHandle LE_INT =
        java.lang.invoke.MethodHandles.byteArrayViewVarHandle(int[].class,
            java.nio.ByteOrder.LITTLE_ENDIAN);
    private final ValueKind kind;
    private final long[] counts;
    private final double[] sums;
    private double[] mass;
    private long nonFinite;
    private double sumSquares;

    Accumulator(ValueKind kind) {
      this.kind = kind;
      int bins = kind == ValueKind.F32 ? 1 << (32 - F32_BIN_SHIFT) : 1 << 16;
      this.counts = new long[bins];
      this.sums = kind == ValueKind.F32 ? new double[bins] : null;
    }

    /** Adds {@code numValues} little-endian values starting at {@code offset}. */
    public void addLittleEndian(byte[] buf, int offset, int numValues) {
      if (kind == ValueKind.F32) {
        double sq = 0;
        long bad = 0;
        for (int i = 0, p = offset; i < numValues; i++, p += 4) {
          int bits = (int) LE_INT.get(buf, p);
          float x = Float.intBitsToFloat(bits);
          if (!Float.isFinite(x)) {
            bad++;
            continue;
          }
          int bin = bits >>> F32_BIN_SHIFT;
          counts[bin]++;
          sums[bin] += x;
          sq += (double) x * x;
        }
        nonFinite += bad;
        sumSquares += sq;
      } else {
        // One 16-bit load per value: assembling it from two byte loads takes twice as long.
        long[] c = counts;
        for (int i = 0, p = offset; i < numValues; i++, p += 2) {
          c[(short) LE_SHORT.get(buf, p) & 0xFFFF]++;
        }
      }
    }

    /**
     * Adds values as {@link #addLittleEndian(byte[], int, int)} does, each also adding its
     * importance to its bin's {@link ValueHistogram#weight}: value {@code i} is weight
     * {@code firstElement + i} of the tensor. Once used, use it for every value of the tensor.
     */
    public void addLittleEndian(byte[] buf, int offset, int numValues, Importance importance,
        long firstElement) {
      addLittleEndian(buf, offset, numValues);
      if (mass == null) {
        mass = new double[counts.length];
      }
      int size = kind.byteSize();
      for (int i = 0, p = offset; i < numValues; i++, p += size) {
        int bin;
        if (kind == ValueKind.F32) {
          int bits = (int) LE_INT.get(buf, p);
          if (!Float.isFinite(Float.intBitsToFloat(bits))) {
            continue;
          }
          bin = bits >>> F32_BIN_SHIFT;
        } else {
          bin = (short) LE_SHORT.get(buf, p) & 0xFFFF;
        }
        mass[bin] += importance.at(firstElement + i);
      }
    }

    public ValueHistogram finish(int tensor) {
      int n = 0;
      for (long c : counts) {
        if (c != 0) {
          n++;
        }
      }
      int[] k = new int[n];
      long[] c = new long[n];
      double[] s = sums == null ? null : new double[n];
      double[] w = mass == null ? null : new double[n];
      long bad = nonFinite;
      double sq = sumSquares;
      int m = 0;
      for (int key = 0; key < counts.length; key++) {
        if (counts[key] == 0) {
          continue;
        }
        if (kind != ValueKind.F32) {
          float v = kind.decode16(key);
          if (!Float.isFinite(v)) {
            bad += counts[key];
            continue;
          }
          // 16-bit sums of squares come from the exact bins, not a per-weight loop.
          sq += (double) v * v * counts[key];
        }
        k[m] = key;
        c[m] = counts[key];
        if (s != null) {
          s[m] = sums[key];
        }
        if (w != null) {
          w[m] = mass[key];
        }
        m++;
      }
      return new ValueHistogram(tensor, kind, java.util.Arrays.copyOf(k, m),
          java.util.Arrays.copyOf(c, m), s == null ? null : java.util.Arrays.copyOf(s, m),
          w == null ? null : java.util.Arrays.copyOf(w, m), bad, sq);
    }
  }
}
