package io.sparticle.quant;

import io.sparticle.quant.EncodingSpec.ScalePrecision;
import java.util.Arrays;

/**
 * The scale of each block of a block-scaled codebook (kmeans with scope block): a block's
 * weights are {@code codebook[code] * scale}, and the scale is chosen per block to minimize the
 * block's squared error against the group's codebook, by a small search as llama.cpp's
 * quantizers do.
 *
 * <p>The search: with {@code m} the block's weight of largest magnitude, the candidate scales
 * are {@code m / c[k-1]} and {@code m / c[0]} (m mapped onto either end of the codebook, so the
 * scale may be negative and the block "flipped" onto the codebook's longer side), each times 1.0
 * and 0.9. For each candidate the weights get their nearest codes, and the least-squares
 * scale for those codes, {@code sum(x c) / sum(c c)}, is a further candidate. Every candidate is
 * rounded to the storage precision and scored by its error: for the first kind, that of its codes
 * (found with a multiply by the reciprocal scale), and for a least-squares scale the error with
 * the codes it was computed from (an upper bound on its exact error, which saves a pass); the
 * lowest wins, the earliest on ties. The encoder then codes every weight at the chosen scale. A
 * block whose weights are all zero gets scale 0.
 *
 * <p>Ladders ({@link ScalePrecision#ladder()}): the blocks' best F32 scales are clustered per
 * tensor, 1-D k-means on log|scale| weighted by each block's energy, into 2^(n-1) magnitudes
 * ("particles for the scales"); each block then takes the sign of its best scale and whichever of
 * the two ladder magnitudes around it gives the lower exact error. Those two exact passes find
 * the block's codes at both magnitudes, so {@link #ladderCode(float[], int, int, boolean[], float,
 * float[], int, int[]) ladderCode} hands back the winner's, and the encoder does not code the
 * block again.
 *
 * <p>The passes over a block's weights run in a {@link BlockKernel}: on the
 * {@code jdk.incubator.vector} API when the JVM has that module, else plain Java, with the same
 * results bit for bit. An instance keeps scratch arrays: one per thread.
 *
 * <pre>{@code
 * BlockScales s = new BlockScales(codebook);
 * float scale = s.search(x, 0, 32, null, ScalePrecision.F16);
 * int code = s.encode(x[0], scale);
 * }</pre>
 */
public final class BlockScales {
  /**
   * Multiples of each end's base scale tried. Measured on the bench model's weights, {1, 0.9}
   * is within 0.03 dB of {1, 0.9, 1.1} at two thirds of the passes; {1} alone loses 0.2 dB.
   */
  private static final float[] FACTORS = {1.0f, 0.9f};
  /** Bins of the log-scale histogram a ladder is fitted on. */
  static final int LADDER_BINS = 4096;

  private final float[] c;
  private final Codebook book;
  /** The codebook's ends, the first kind of candidate's denominators: c[k-1], then c[0]. */
  private final float[] ends;
  /** The passes over a block's weights (vectorized where the JVM allows). */
  private final BlockKernel kernel;
  /** The search's candidate scales and their sums ({@link BlockKernel#score}). */
  private final float[] candidates = new float[2 * FACTORS.length];
  private final double[] sums = new double[3 * candidates.length];
  /** The codes of {@link #ladderCode}'s candidate being scored; grown to the block length. */
  private int[] scratch = new int[0];

  /** @param codebook the group's codebook, ascending */
  public BlockScales(float[] codebook) {
    this.book = Codebook.of(codebook).dense();
    this.c = book.centroids();
    this.ends = new float[] {c[c.length - 1], c[0]};
    this.kernel = BlockKernel.of(book);
  }

  public float[] codebook() {
    return c;
  }

  /** The code of weight {@code x} in a block of scale {@code s}: the nearest of {@code c[i] * s}. */
  public int encode(float x, float s) {
    if (s == 0) {
      return book.nearest(0f);
    }
    return book.nearest(x / s);
  }

  /**
   * The best scale of {@code x[off, off + n)}, weights with {@code skip[off + i]} set left out
   * ({@code skip} may be null), rounded to {@code p} (F32 for a ladder: its code is chosen later
   * by {@link #ladderCode}).
   *
   * @throws IllegalArgumentException if the best scale overflows F16
   */
  public float search(float[] x, int off, int n, boolean[] skip, ScalePrecision p) {
    float m = 0;
    double sxx = 0;
    for (int i = off; i < off + n; i++) {
      if (skip == null || !skip[i]) {
        sxx += (double) x[i] * x[i];
        if (Math.abs(x[i]) > Math.abs(m)) {
          m = x[i];
        }
      }
    }
    if (m == 0) {
      return 0f;
    }
    int count = 0;
    for (float end : ends) {
      if (end == 0) {
        continue;
      }
      float base = m / end;
      for (float f : FACTORS) {
        float s0 = round(base * f, p);
        if (s0 != 0 && Float.isFinite(s0)) {
          candidates[count++] = s0;
        }
      }
    }
    // Per candidate, one pass: its codes (found with a multiply by the reciprocal scale, which
    // ranks a little faster than the encoder's division; the encoder then codes every weight of
    // the chosen scale exactly), their error, and the sums of the least-squares scale.
    kernel.score(x, off, n, skip, candidates, count, sums);
    float best = 0;
    double bestErr = Double.POSITIVE_INFINITY;
    for (int j = 0; j < count; j++) {
      float s0 = candidates[j];
      double e0 = sums[3 * j];
      double sxc = sums[3 * j + 1];
      double scc = sums[3 * j + 2];
      if (e0 < bestErr) {
        bestErr = e0;
        best = s0;
      }
      if (scc > 0) {
        float s1 = round((float) (sxc / scc), p);
        if (s1 != 0 && s1 != s0 && Float.isFinite(s1)) {
          // The error at s1 with s0's codes: an upper bound on s1's exact error, for which the
          // encoder re-chooses every code. It ranks s1 without another pass over the block.
          double e1 = sxx - 2 * s1 * sxc + (double) s1 * s1 * scc;
          if (e1 < bestErr) {
            bestErr = e1;
            best = s1;
          }
        }
      }
    }
    if (bestErr == Double.POSITIVE_INFINITY) {
      throw new IllegalArgumentException("a block's weights (largest " + m
          + ") need a scale beyond " + p + "; use scale-precision F32 or a ladder (Q3 to Q8)");
    }
    return best;
  }

  /** The exact squared error of the block at scale {@code s}, each weight at its nearest code. */
  public double error(float[] x, int off, int n, boolean[] skip, float s) {
    return codes(x, off, n, skip, s, scratch(n));
  }

  /**
   * The code of every weight of {@code x[off, off + n)} (skipped ones too) at scale {@code s}, as
   * {@link #encode} gives it, into {@code codes[0, n)}; returns the block's exact squared error
   * over the weights not skipped, as {@link #error}.
   */
  public double codes(float[] x, int off, int n, boolean[] skip, float s, int[] codes) {
    return kernel.codes(x, off, n, skip, s, codes);
  }

  private int[] scratch(int n) {
    if (scratch.length < n) {
      scratch = new int[n];
    }
    return scratch;
  }

  private static float round(float s, ScalePrecision p) {
    return p == ScalePrecision.F16 ? HalfFloats.f16ToFloat(HalfFloats.floatToF16(s)) : s;
  }

  /**
   * A ladder of {@code size} magnitudes for blocks whose best scales are {@code scales}, weighted
   * by {@code energy} (each block's sum of squared weights): weighted 1-D k-means (quantile start,
   * Lloyd to a fixed point) on log|scale| over a {@value #LADDER_BINS}-bin histogram. Zero scales
   * (all-zero blocks) reserve entry 0 = 0. Ascending, every entry finite and non-negative.
   */
  public static float[] fitLadder(float[] scales, double[] energy, int size) {
    boolean zero = false;
    double lo = Double.POSITIVE_INFINITY;
    double hi = Double.NEGATIVE_INFINITY;
    for (float s : scales) {
      if (s == 0) {
        zero = true;
      } else {
        double l = Math.log(Math.abs(s));
        lo = Math.min(lo, l);
        hi = Math.max(hi, l);
      }
    }
    float[] ladder = new float[size];
    int first = zero ? 1 : 0;
    if (lo > hi) {
      return ladder; // all blocks zero
    }
    int k = size - first;
    double width = (hi - lo) / LADDER_BINS;
    double[] w = new double[LADDER_BINS];
    double[] wl = new double[LADDER_BINS];
    for (int b = 0; b < scales.length; b++) {
      if (scales[b] == 0) {
        continue;
      }
      double l = Math.log(Math.abs(scales[b]));
      int bin = width > 0 ? (int) Math.min(LADDER_BINS - 1, (l - lo) / width) : 0;
      // A floor keeps blocks of tiny energy in the fit: every block must get a nearby magnitude.
      double e = Math.max(energy[b], 1e-30) + 1e-30;
      w[bin] += e;
      wl[bin] += e * l;
    }
    int n = 0;
    double[] v = new double[LADDER_BINS];
    double[] vw = new double[LADDER_BINS];
    for (int bin = 0; bin < LADDER_BINS; bin++) {
      if (w[bin] > 0) {
        v[n] = wl[bin] / w[bin];
        vw[n] = w[bin];
        n++;
      }
    }
    v = Arrays.copyOf(v, n);
    vw = Arrays.copyOf(vw, n);
    double[] centers;
    if (n <= k) {
      centers = v;
    } else {
      double[] init = new double[k];
      double total = 0;
      for (double x : vw) {
        total += x;
      }
      double acc = 0;
      int j = 0;
      for (int i = 0; i < n && j < k; i++) {
        acc += vw[i];
        while (j < k && acc >= total * (j + 0.5) / k) {
          init[j++] = v[i];
        }
      }
      for (; j < k; j++) {
        init[j] = v[n - 1];
      }
      // Distinct starts: quantiles can repeat on a peaked distribution.
      for (int i = 1; i < k; i++) {
        if (init[i] <= init[i - 1]) {
          init[i] = Math.nextUp(init[i - 1]);
        }
      }
      centers = WeightedKMeans1D.lloyd(v, vw, init, 200, 0).centers();
    }
    for (int i = 0; i < k; i++) {
      double l = centers[Math.min(i, centers.length - 1)];
      ladder[first + i] = (float) Math.exp(l);
    }
    Arrays.sort(ladder, first, size);
    return ladder;
  }

  /**
   * The ladder code of a block whose best scale is {@code best}: the sign bit (bit
   * {@code bits - 1}) of {@code best} over the index of whichever of the two magnitudes around
   * |best| gives the lower exact error (the lower index on ties).
   */
  public int ladderCode(float[] x, int off, int n, boolean[] skip, float best, float[] ladder,
      int bits) {
    return ladderCode(x, off, n, skip, best, ladder, bits, new int[n]);
  }

  /**
   * As {@link #ladderCode(float[], int, int, boolean[], float, float[], int)}, also writing to
   * {@code codes[0, n)} the code of every weight of the block (skipped ones too) at the code's
   * scale, as {@link #encode} gives them: the exact-error passes that rank the two magnitudes
   * find those codes anyway, so the encoder need not code the block again. Not thread-safe (it
   * keeps a scratch array).
   */
  public int ladderCode(float[] x, int off, int n, boolean[] skip, float best, float[] ladder,
      int bits, int[] codes) {
    int sign = best < 0 ? 1 << (bits - 1) : 0;
    if (best == 0) {
      // Entry 0 is 0 when the ladder reserves it; otherwise the smallest magnitude.
      codes(x, off, n, skip, ladder[0], codes);
      return 0;
    }
    float mag = Math.abs(best);
    // The ladder is ascending: the entries just below and just above |best|.
    int above = 0;
    while (above < ladder.length && ladder[above] < mag) {
      above++;
    }
    int bestIdx = Math.min(above, ladder.length - 1);
    double bestErr = Double.POSITIVE_INFINITY;
    int[] scratch = scratch(n);
    int held = -1; // the ladder index whose codes codes holds
    for (int i = Math.max(0, above - 1); i <= Math.min(ladder.length - 1, above); i++) {
      float s = sign != 0 ? -ladder[i] : ladder[i];
      // The first candidate's codes go straight to codes, the second's to scratch.
      boolean first = held < 0;
      double e = codes(x, off, n, skip, s, first ? codes : scratch);
      if (first) {
        held = i;
      }
      if (e < bestErr) {
        bestErr = e;
        bestIdx = i;
        if (!first) {
          System.arraycopy(scratch, 0, codes, 0, n);
          held = i;
        }
      }
    }
    if (held != bestIdx) {
      // No candidate's error compared below infinity (a NaN error): code at the default index.
      codes(x, off, n, skip, sign != 0 ? -ladder[bestIdx] : ladder[bestIdx], codes);
    }
    return sign | bestIdx;
  }

  /** The scale a ladder code stands for: the signed magnitude. */
  public static float ladderScale(int code, float[] ladder, int bits) {
    int mask = (1 << (bits - 1)) - 1;
    float m = ladder[code & mask];
    return (code >>> (bits - 1) & 1) != 0 ? -m : m;
  }
}
