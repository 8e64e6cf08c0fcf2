package io.sparticle.quant;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link VqCodebook}'s encoder on the {@code jdk.incubator.vector} API: one sub-vector per lane
 * (8 on AVX2), each codeword broadcast to all lanes in turn. Every lane then runs exactly the
 * scalar search of {@link VqCodebook#nearestScalar}: the same float subtractions, products and
 * left-to-right sums (separate {@code mul} and {@code add}, never an FMA, so the distances are
 * the scalar ones bit for bit), the codewords in index order, replaced on a strict {@code <}. No
 * lane ever compares against another lane, so no cross-lane tie-break is needed.
 *
 * <p>For {@code d = 2} and {@code 4} the codebook is scanned as two halves at once, each with its
 * own best, which hides the latency of the compare-and-min chain; the upper half's best replaces
 * the lower's only where it is strictly smaller, so the lowest index still wins ties. A codeword's
 * index rides along as a float (exact: {@code k <= 2^16 < 2^24}).
 *
 * <p>Sub-vectors left over after the last full group of lanes take the scalar search. Load this
 * class only when {@code jdk.incubator.vector} is present.
 */
final class VectorVqKernel implements VqCodebook.Kernel {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

  private final float[] c;
  private final int d;
  private final int k;
  /** {@code idx[i] = i}: broadcast from memory, cheaper than converting the loop counter. */
  private final float[] idx;

  VectorVqKernel(float[] c, int d) {
    this.c = c;
    this.d = d;
    this.k = c.length / d;
    this.idx = new float[k];
    for (int i = 0; i < k; i++) {
      idx[i] = i;
    }
  }

  /** Sub-vectors per group: 8 on AVX2, 16 on AVX-512 (the JVM's preferred species). */
  static int lanes() {
    return S.length();
  }

  @Override
  public void encode(float[] x, int off, int elemStep, int vecStep, int n, int[] codes,
      int codesOff) {
    int lanes = S.length();
    // Per call, not per kernel: a codebook is shared by threads.
    float[] q = vecStep == 1 ? null : new float[d * lanes];
    float[] out = new float[lanes];
    int i = 0;
    for (; i <= n - lanes; i += lanes) {
      int base = off + i * vecStep;
      if (q != null) {
        // Sub-vectors lie along memory: transpose the group so coordinate t is a row of lanes.
        for (int l = 0; l < lanes; l++) {
          int src = base + l * vecStep;
          for (int t = 0; t < d; t++) {
            q[t * lanes + l] = x[src + t * elemStep];
          }
        }
      }
      // Whole groups inside one method each: a vector passed to or returned from a method that
      // is not inlined is boxed, and the scans are too big to inline.
      float[] src = q != null ? q : x;
      int from = q != null ? 0 : base;
      int step = q != null ? lanes : elemStep;
      if (d == 2) {
        scan2(src, from, step, out);
      } else if (d == 4) {
        scan4(src, from, step, out);
      } else {
        scan8(src, from, step, out);
      }
      for (int l = 0; l < lanes; l++) {
        codes[codesOff + i + l] = (int) out[l];
      }
    }
    for (; i < n; i++) {
      codes[codesOff + i] = VqCodebook.nearestScalar(c, d, x, off + i * vecStep, elemStep);
    }
  }

  /**
   * The smaller of {@code best} and {@code dist}, where {@code dist} is a distance: the same as
   * {@code best.blend(dist, dist.compare(LT, best))} but one integer instruction instead of a
   * blend (measured about 10% faster at d = 4). A distance is +0, positive or +Infinity, and on
   * those the float order is the order of the bits as signed ints; otherwise it is a NaN, and
   * then (codewords being finite) every distance of that lane is NaN, no compare ever succeeds,
   * and the lane's best does not matter.
   */
  private static FloatVector min(FloatVector best, FloatVector dist) {
    return ((IntVector) best.reinterpretAsInts())
        .min((IntVector) dist.reinterpretAsInts())
        .reinterpretAsFloats();
  }

  /**
   * The codes of the group whose coordinate {@code t} is the lanes at {@code v[from + t * step]},
   * as floats into {@code out}.
   */
  private void scan2(float[] v, int from, int step, float[] out) {
    FloatVector x0 = FloatVector.fromArray(S, v, from);
    FloatVector x1 = FloatVector.fromArray(S, v, from + step);
    float[] c = this.c;
    float[] idx = this.idx;
    int h = k >> 1;
    FloatVector bestA = FloatVector.broadcast(S, Float.POSITIVE_INFINITY);
    FloatVector bestB = bestA;
    FloatVector codeA = FloatVector.zero(S);
    FloatVector codeB = FloatVector.broadcast(S, h);
    for (int j = 0, a = 0, b = 2 * h; j < h; j++, a += 2, b += 2) {
      FloatVector e0 = x0.sub(c[a]);
      FloatVector e1 = x1.sub(c[a + 1]);
      FloatVector distA = e0.mul(e0).add(e1.mul(e1));
      FloatVector f0 = x0.sub(c[b]);
      FloatVector f1 = x1.sub(c[b + 1]);
      FloatVector distB = f0.mul(f0).add(f1.mul(f1));
      VectorMask<Float> ltA = distA.compare(VectorOperators.LT, bestA);
      VectorMask<Float> ltB = distB.compare(VectorOperators.LT, bestB);
      bestA = min(bestA, distA);
      codeA = codeA.blend(idx[j], ltA);
      bestB = min(bestB, distB);
      codeB = codeB.blend(idx[j + h], ltB);
    }
    codeA.blend(codeB, bestB.compare(VectorOperators.LT, bestA)).intoArray(out, 0);
  }

  private void scan4(float[] v, int from, int step, float[] out) {
    FloatVector x0 = FloatVector.fromArray(S, v, from);
    FloatVector x1 = FloatVector.fromArray(S, v, from + step);
    FloatVector x2 = FloatVector.fromArray(S, v, from + 2 * step);
    FloatVector x3 = FloatVector.fromArray(S, v, from + 3 * step);
    float[] c = this.c;
    float[] idx = this.idx;
    int h = k >> 1;
    FloatVector bestA = FloatVector.broadcast(S, Float.POSITIVE_INFINITY);
    FloatVector bestB = bestA;
    FloatVector codeA = FloatVector.zero(S);
    // The upper half's start: if its best never drops below +Infinity, the merge keeps the lower.
    FloatVector codeB = FloatVector.broadcast(S, h);
    for (int j = 0, a = 0, b = 4 * h; j < h; j++, a += 4, b += 4) {
      FloatVector e0 = x0.sub(c[a]);
      FloatVector e1 = x1.sub(c[a + 1]);
      FloatVector e2 = x2.sub(c[a + 2]);
      FloatVector e3 = x3.sub(c[a + 3]);
      FloatVector distA = e0.mul(e0).add(e1.mul(e1)).add(e2.mul(e2)).add(e3.mul(e3));
      FloatVector f0 = x0.sub(c[b]);
      FloatVector f1 = x1.sub(c[b + 1]);
      FloatVector f2 = x2.sub(c[b + 2]);
      FloatVector f3 = x3.sub(c[b + 3]);
      FloatVector distB = f0.mul(f0).add(f1.mul(f1)).add(f2.mul(f2)).add(f3.mul(f3));
      VectorMask<Float> ltA = distA.compare(VectorOperators.LT, bestA);
      VectorMask<Float> ltB = distB.compare(VectorOperators.LT, bestB);
      bestA = min(bestA, distA);
      codeA = codeA.blend(idx[j], ltA);
      bestB = min(bestB, distB);
      codeB = codeB.blend(idx[j + h], ltB);
    }
    codeA.blend(codeB, bestB.compare(VectorOperators.LT, bestA)).intoArray(out, 0);
  }

  private void scan8(float[] v, int from, int step, float[] out) {
    FloatVector x0 = FloatVector.fromArray(S, v, from);
    FloatVector x1 = FloatVector.fromArray(S, v, from + step);
    FloatVector x2 = FloatVector.fromArray(S, v, from + 2 * step);
    FloatVector x3 = FloatVector.fromArray(S, v, from + 3 * step);
    FloatVector x4 = FloatVector.fromArray(S, v, from + 4 * step);
    FloatVector x5 = FloatVector.fromArray(S, v, from + 5 * step);
    FloatVector x6 = FloatVector.fromArray(S, v, from + 6 * step);
    FloatVector x7 = FloatVector.fromArray(S, v, from + 7 * step);
    float[] c = this.c;
    float[] idx = this.idx;
    // One chain: eight coordinates of work per codeword already outlast the compare's latency,
    // and a second chain would not fit in sixteen registers beside the eight coordinates.
    FloatVector best = FloatVector.broadcast(S, Float.POSITIVE_INFINITY);
    FloatVector code = FloatVector.zero(S);
    for (int j = 0, a = 0; j < k; j++, a += 8) {
      FloatVector e0 = x0.sub(c[a]);
      FloatVector e1 = x1.sub(c[a + 1]);
      FloatVector e2 = x2.sub(c[a + 2]);
      FloatVector e3 = x3.sub(c[a + 3]);
      FloatVector e4 = x4.sub(c[a + 4]);
      FloatVector e5 = x5.sub(c[a + 5]);
      FloatVector e6 = x6.sub(c[a + 6]);
      FloatVector e7 = x7.sub(c[a + 7]);
      FloatVector dist = e0.mul(e0).add(e1.mul(e1)).add(e2.mul(e2)).add(e3.mul(e3))
          .add(e4.mul(e4)).add(e5.mul(e5)).add(e6.mul(e6)).add(e7.mul(e7));
      VectorMask<Float> lt = dist.compare(VectorOperators.LT, best);
      best = min(best, dist);
      code = code.blend(idx[j], lt);
    }
    code.intoArray(out, 0);
  }
}
