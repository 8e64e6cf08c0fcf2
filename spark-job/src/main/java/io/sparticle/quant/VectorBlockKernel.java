package io.sparticle.quant;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link BlockKernel} on the {@code jdk.incubator.vector} API, for codebooks of at most
 * {@value #MAX_CODES} codes: a vector of weights finds its codes by comparing against each
 * midpoint in turn (the midpoints are ascending, so the last one a weight lies above names its
 * code; no table lookups), and its float differences by the same float operations as the scalar
 * kernel. Only the sums stay scalar, weight by weight, so that every sum is the scalar kernel's
 * bit for bit; the candidates' sums interleave, which hides the latency of the additions, and
 * each term is added by {@link Math#fma}: the product of two floats widened to double is exact, so
 * {@code fma(a, b, sum)} rounds once where {@code sum + a * b} does, to the same value.
 *
 * <p>Load this class only when {@link BlockKernel.VectorSupport#AVAILABLE}.
 */
final class VectorBlockKernel implements BlockKernel {
  /** Above this many codes a per-midpoint comparison costs more than the scalar lookup. */
  static final int MAX_CODES = 32;

  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

  private final Codebook book;
  private final float[] c;
  /** {@link Codebook#midpointFloors}: code = how many of these lie strictly below y. */
  private final float[] u;
  /** Per candidate, per weight: the centroid, and the float difference x - q s. */
  private float[] qs = new float[0];
  private float[] ds = new float[0];

  VectorBlockKernel(Codebook book) {
    if (book.size() > MAX_CODES) {
      throw new IllegalArgumentException("Cannot build a vector block kernel for "
          + book.size() + " codes: at most " + MAX_CODES);
    }
    this.book = book;
    this.c = book.centroids();
    this.u = book.midpointFloors();
  }

  private void ensure(int size) {
    if (qs.length < size) {
      qs = new float[size];
      ds = new float[size];
    }
  }

  /** The centroid nearest to each lane of {@code y} (the lowest of equals, NaN to c[0]). */
  private FloatVector centroids(FloatVector y) {
    FloatVector q = FloatVector.broadcast(S, c[0]);
    for (int t = 0; t < u.length; t++) {
      q = q.blend(c[t + 1], y.compare(VectorOperators.GT, u[t]));
    }
    return q;
  }

  /** {@link Codebook#nearest}, by counting the floors below y. */
  private int nearest(float y) {
    int q = 0;
    while (q < u.length && y > u[q]) {
      q++;
    }
    return q;
  }

  @Override
  public void score(float[] x, int off, int n, boolean[] skip, float[] s, int count,
      double[] sums) {
    ensure(count * n);
    int lanes = S.length();
    for (int j = 0; j < count; j++) {
      float sj = s[j];
      float inv = 1f / sj;
      int base = j * n;
      int i = 0;
      for (; i <= n - lanes; i += lanes) {
        FloatVector xv = FloatVector.fromArray(S, x, off + i);
        FloatVector q = centroids(xv.mul(inv));
        q.intoArray(qs, base + i);
        xv.sub(q.mul(sj)).intoArray(ds, base + i);
      }
      for (; i < n; i++) {
        float q = c[nearest(x[off + i] * inv)];
        qs[base + i] = q;
        ds[base + i] = x[off + i] - q * sj;
      }
    }
    int j = 0;
    if (skip == null) {
      // Four candidates at a time: twelve independent chains of additions.
      for (; j + 4 <= count; j += 4) {
        sum4(x, off, n, j, sums);
      }
    }
    for (; j < count; j++) {
      double e0 = 0;
      double sxc = 0;
      double scc = 0;
      int base = j * n;
      for (int i = 0; i < n; i++) {
        if (skip == null || !skip[off + i]) {
          double q = qs[base + i];
          double d = ds[base + i];
          e0 += d * d;
          sxc += x[off + i] * q;
          scc += q * q;
        }
      }
      sums[3 * j] = e0;
      sums[3 * j + 1] = sxc;
      sums[3 * j + 2] = scc;
    }
  }

  /** The sums of candidates j..j+3, no weight skipped, each in the order of the weights. */
  private void sum4(float[] x, int off, int n, int j, double[] sums) {
    int b0 = j * n;
    int b1 = b0 + n;
    int b2 = b1 + n;
    int b3 = b2 + n;
    double e0 = 0;
    double e1 = 0;
    double e2 = 0;
    double e3 = 0;
    double a0 = 0;
    double a1 = 0;
    double a2 = 0;
    double a3 = 0;
    double c0 = 0;
    double c1 = 0;
    double c2 = 0;
    double c3 = 0;
    for (int i = 0; i < n; i++) {
      double xi = x[off + i];
      double q0 = qs[b0 + i];
      double q1 = qs[b1 + i];
      double q2 = qs[b2 + i];
      double q3 = qs[b3 + i];
      double d0 = ds[b0 + i];
      double d1 = ds[b1 + i];
      double d2 = ds[b2 + i];
      double d3 = ds[b3 + i];
      e0 = Math.fma(d0, d0, e0);
      e1 = Math.fma(d1, d1, e1);
      e2 = Math.fma(d2, d2, e2);
      e3 = Math.fma(d3, d3, e3);
      a0 = Math.fma(xi, q0, a0);
      a1 = Math.fma(xi, q1, a1);
      a2 = Math.fma(xi, q2, a2);
      a3 = Math.fma(xi, q3, a3);
      c0 = Math.fma(q0, q0, c0);
      c1 = Math.fma(q1, q1, c1);
      c2 = Math.fma(q2, q2, c2);
      c3 = Math.fma(q3, q3, c3);
    }
    sums[3 * j] = e0;
    sums[3 * j + 1] = a0;
    sums[3 * j + 2] = c0;
    sums[3 * j + 3] = e1;
    sums[3 * j + 4] = a1;
    sums[3 * j + 5] = c1;
    sums[3 * j + 6] = e2;
    sums[3 * j + 7] = a2;
    sums[3 * j + 8] = c2;
    sums[3 * j + 9] = e3;
    sums[3 * j + 10] = a3;
    sums[3 * j + 11] = c3;
  }

  @Override
  public double codes(float[] x, int off, int n, boolean[] skip, float s, int[] out) {
    if (s == 0) {
      int z = book.nearest(0f);
      double e = 0;
      for (int i = off; i < off + n; i++) {
        out[i - off] = z;
        if (skip == null || !skip[i]) {
          float d = x[i] - c[z] * s;
          e += (double) d * d;
        }
      }
      return e;
    }
    ensure(n);
    int lanes = S.length();
    int i = 0;
    for (; i <= n - lanes; i += lanes) {
      FloatVector xv = FloatVector.fromArray(S, x, off + i);
      FloatVector y = xv.div(s);
      FloatVector q = FloatVector.broadcast(S, c[0]);
      // The code as a float (exact below 2^24) beside its centroid, both chosen by one mask.
      FloatVector code = FloatVector.zero(S);
      for (int t = 0; t < u.length; t++) {
        VectorMask<Float> above = y.compare(VectorOperators.GT, u[t]);
        q = q.blend(c[t + 1], above);
        code = code.blend(t + 1, above);
      }
      code.intoArray(qs, i);
      xv.sub(q.mul(s)).intoArray(ds, i);
    }
    for (; i < n; i++) {
      int q = nearest(x[off + i] / s);
      qs[i] = q;
      ds[i] = x[off + i] - c[q] * s;
    }
    double e = 0;
    for (i = 0; i < n; i++) {
      out[i] = (int) qs[i];
      if (skip == null || !skip[off + i]) {
        double d = ds[i];
        e = Math.fma(d, d, e);
      }
    }
    return e;
  }
}
