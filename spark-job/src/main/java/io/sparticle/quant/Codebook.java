package io.sparticle.quant;

import java.io.Serializable;
import java.util.Arrays;

/**
 * An immutable, sorted set of float centroids: code c stands for {@code centroid(c)}, and a
 * weight x is encoded as {@link #nearest nearest(x)}.
 *
 * <p>Nearest-centroid search is a binary search over the midpoints between consecutive centroids,
 * computed once in double (where the midpoint of two floats is exact, so the comparisons are exact
 * too). A value exactly on a midpoint goes to the lower code, so {@code nearest} equals a brute
 * force argmin of |x - centroid| that keeps the lowest index on ties. Duplicate centroids are
 * allowed (-0.0 and 0.0 count as equal); only the lowest index of a run of equal centroids is
 * ever chosen.
 *
 * <p>For 16-bit tensors, {@link #lookupTable} precomputes the code of each of the 65,536 bit
 * patterns, turning encoding into one array load per weight. Reconstruction of code c at scale s
 * is {@code centroid(c) * s}, computed in float.
 *
 * <pre>{@code
 * Codebook book = Codebook.of(new float[] {0.5f, -1f, 0f});   // sorted: -1, 0, 0.5
 * int code = book.nearest(0.3f);                              // 2
 * byte[] table = book.lookupTable(Float16Kind.BF16, 1f);
 * int sameCode = table[bf16Bits & 0xFFFF] & 0xFF;
 * }</pre>
 */
public final class Codebook implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Largest codebook: codes of up to 16 bits. */
  public static final int MAX_SIZE = 1 << 16;

  private final float[] centroids;
  // Derived; rebuilt (and the centroids re-validated) on deserialization by readResolve.
  private final transient double[] midpoints;
  // A grid over [c[0], c[k-1]]: start[i] is a code at or below the nearest code of every x in
  // grid cell i, so nearest() steps up from it a midpoint or two instead of a binary search.
  private final transient byte[] start;
  private final transient double gridLo;
  private final transient double gridScale;

  /** Grid cells per centroid: a small table for the many per-channel codebooks. */
  private static final int CELLS_PER_CODE = 32;
  /**
   * Grid cells of a {@link #dense} codebook: so fine that a cell rarely holds a midpoint, and the
   * step-up loop's branch is almost always predicted (measured 1.5x faster block encoding).
   */
  private static final int DENSE_CELLS = 4096;

  private Codebook(float[] sortedCentroids) {
    this(sortedCentroids, CELLS_PER_CODE * sortedCentroids.length);
  }

  private Codebook(float[] sortedCentroids, int cells) {
    this.centroids = sortedCentroids;
    this.midpoints = new double[sortedCentroids.length - 1];
    // Right to left, so that a run of equal centroids c[i..j] shares the midpoint above the run:
    // then every x on either side of the run picks its lowest index i, as the argmin does.
    for (int i = midpoints.length - 1; i >= 0; i--) {
      if (sortedCentroids[i] == sortedCentroids[i + 1]) {
        midpoints[i] = i + 1 < midpoints.length ? midpoints[i + 1] : Double.POSITIVE_INFINITY;
      } else {
        midpoints[i] = ((double) sortedCentroids[i] + sortedCentroids[i + 1]) / 2;
      }
    }
    int k = sortedCentroids.length;
    double lo = sortedCentroids[0];
    double width = (double) sortedCentroids[k - 1] - lo;
    if (k <= 256 && k > 1 && width > 0 && Double.isFinite(width)) {
      this.start = new byte[cells];
      this.gridLo = lo;
      this.gridScale = cells / width;
      // start[i] = the number of midpoints below the lower edge of cell i - 1: a lower bound on
      // the code of every x the rounded index arithmetic may place in cell i.
      int code = 0;
      for (int i = 1; i < cells; i++) {
        double edge = lo + (i - 1) / gridScale;
        while (code < midpoints.length && midpoints[code] < edge) {
          code++;
        }
        start[i] = (byte) code;
      }
    } else {
      this.start = null;
      this.gridLo = 0;
      this.gridScale = 0;
    }
  }

  /**
   * A codebook of a copy of {@code centroids}, sorted ascending.
   *
   * @throws IllegalArgumentException unless there are 1 to 65,536 centroids, all finite
   */
  public static Codebook of(float[] centroids) {
    if (centroids.length < 1 || centroids.length > MAX_SIZE) {
      throw new IllegalArgumentException(
          "Cannot build a codebook of "
              + centroids.length
              + " centroids: must be between 1 and "
              + MAX_SIZE);
    }
    float[] sorted = centroids.clone();
    for (int i = 0; i < sorted.length; i++) {
      if (!Float.isFinite(sorted[i])) {
        throw new IllegalArgumentException(
            "Cannot build a codebook with centroid " + sorted[i] + " at index " + i
                + ": centroids must be finite");
      }
    }
    Arrays.sort(sorted);
    return new Codebook(sorted);
  }

  /**
   * This codebook with a finer search grid ({@value #DENSE_CELLS} cells, a few KiB): for a
   * codebook that encodes many weights, such as a group's.
   */
  public Codebook dense() {
    return new Codebook(centroids, Math.max(DENSE_CELLS, CELLS_PER_CODE * centroids.length));
  }

  /** A copy of the centroids, ascending. */
  public float[] centroids() {
    return centroids.clone();
  }

  /**
   * For each midpoint {@link #nearest} counts, the largest float at or below it: {@code nearest(x)}
   * is the number of these that are strictly below {@code x}, for every float {@code x} (a float
   * is above a midpoint exactly when it is above that float); ascending, {@code size() - 1} of them.
   */
  float[] midpointFloors() {
    float[] u = new float[midpoints.length];
    for (int i = 0; i < u.length; i++) {
      float f = (float) midpoints[i];
      u[i] = f > midpoints[i] ? Math.nextDown(f) : f;
    }
    return u;
  }

  /** The number of centroids (codes). */
  public int size() {
    return centroids.length;
  }

  /** The centroid of {@code code}. */
  public float centroid(int code) {
    return centroids[code];
  }

  /**
   * The code of the centroid nearest to {@code x}, the lowest one on ties. Infinities map to the
   * end codes; NaN maps to 0.
   */
  public int nearest(float x) {
    // Count the midpoints strictly below x: that is the code (a tie stays on the lower side).
    if (start != null) {
      double cell = (x - gridLo) * gridScale;
      int code = cell < 1 ? 0 : cell >= start.length ? start[start.length - 1] & 0xFF
          : start[(int) cell] & 0xFF;
      // NaN: cell < 1 is false and cell >= length is false; (int) NaN is 0, code 0, no step.
      while (code < midpoints.length && midpoints[code] < x) {
        code++;
      }
      return code;
    }
    int lo = 0;
    int hi = midpoints.length;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (midpoints[mid] < x) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  /**
   * For every 16-bit pattern p of {@code kind}, the code {@code nearest(kind.toFloat(p) / scale)}
   * (division in float, as the encoder does it); 0 for NaN and infinite patterns, which the caller
   * rejects separately. Index the table with {@code bits & 0xFFFF} and read codes as {@code b &
   * 0xFF}.
   *
   * @throws IllegalArgumentException if {@code scale} is not finite and positive
   * @throws IllegalStateException if the codebook has more than 256 centroids
   */
  public byte[] lookupTable(Float16Kind kind, float scale) {
    if (!(scale > 0) || !Float.isFinite(scale)) {
      throw new IllegalArgumentException(
          "Cannot build a lookup table with scale " + scale + ": must be finite and positive");
    }
    if (centroids.length > 256) {
      throw new IllegalStateException(
          "Cannot build a byte lookup table for "
              + centroids.length
              + " centroids: at most 256 codes fit in a byte");
    }
    byte[] table = new byte[1 << 16];
    for (int p = 0; p < table.length; p++) {
      float value = kind.toFloat((short) p);
      if (Float.isFinite(value)) {
        table[p] = (byte) nearest(value / scale);
      }
    }
    return table;
  }

  /**
   * This codebook with every centroid rounded to {@code precision} (nearest, ties to even),
   * re-sorted; {@code this} for {@link CodebookPrecision#F32}.
   *
   * @throws IllegalArgumentException if a centroid overflows the precision (|x| >= 65520 for F16)
   */
  public Codebook roundTo(CodebookPrecision precision) {
    if (precision.equals(CodebookPrecision.F32)) {
      return this;
    }
    float[] rounded = new float[centroids.length];
    for (int i = 0; i < rounded.length; i++) {
      rounded[i] = precision.round(centroids[i]);
      if (!Float.isFinite(rounded[i])) {
        throw new IllegalArgumentException(
            "Cannot round centroid " + centroids[i] + " to " + precision + ": out of range");
      }
    }
    // Rounding is monotonic, so the order holds; sorting again is cheap insurance.
    Arrays.sort(rounded);
    return new Codebook(rounded);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Codebook && Arrays.equals(centroids, ((Codebook) o).centroids);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(centroids);
  }

  @Override
  public String toString() {
    return "Codebook" + Arrays.toString(centroids);
  }

  private Object readResolve() {
    // Never trust a stream: validate and rebuild the derived midpoints.
    return of(centroids);
  }
}
