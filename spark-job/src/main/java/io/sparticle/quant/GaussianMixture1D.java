package io.sparticle.quant;

import java.io.Serializable;
import java.util.Arrays;

/**
 * A one-dimensional Gaussian mixture used as a codebook: code c is the c-th component in order of
 * ascending mean, a weight x is encoded as its most probable component and decoded as that
 * component's mean.
 *
 * <p><b>The decision rule.</b> With mixing weights {@code pi_c} (normalized to sum to 1), means
 * {@code mu_c} and variances {@code var_c} as stored (see {@link #weights}, {@link #means},
 * {@link #variances}), the code of a float x is the lowest c that maximizes, evaluated in double,
 *
 * <pre>{@code
 * double d = (double) x - mu_c;
 * double score_c = (Math.log(pi_c) - 0.5 * Math.log(var_c)) - d * d / (2 * var_c);
 * }</pre>
 *
 * (the log-density up to a constant; {@link #scoreArgmax} is this rule, k evaluations). A
 * verifier can recompute every code from the stored parameters with it, and the intervals below
 * reproduce it bit for bit, rounding included: so far out (about 1e8 standard deviations from
 * the means) where the rounded scores of components with equal variances tie, the rule and the
 * intervals give the lower code.
 *
 * <p><b>Encoding is a lookup.</b> In one dimension each score is a parabola, so the argmax cuts
 * the real line into intervals. {@link #thresholds} and {@link #intervalCodes} hold them:
 * thresholds {@code t_0 < ... < t_{m-1}} (finite floats) and codes {@code c_0 .. c_m}, with x in
 * {@code (t_{i-1}, t_i]} (left-open, right-closed; {@code t_{-1} = -inf}, {@code t_m = +inf})
 * encoded as {@code c_i}. {@link #code} is a binary search over them. The intervals are built in
 * three steps: the pairwise intersections of the parabolas (roots of a quadratic, in double) cut
 * the line into pieces on which the argmax is constant; the argmax at each piece's midpoint names
 * it and equal neighbours merge; then each cut is <em>snapped</em> to the float where {@link
 * #scoreArgmax} actually changes, by galloping and binary search over float bit patterns, and the
 * floats right around every cut are checked one by one. So {@code code(x) == scoreArgmax(x)} for
 * every finite float x, which the tests check on all finite bf16 values and on random floats.
 * Infinities take the code of their end of the line, NaN that of -inf.
 *
 * <p><b>The variance floor.</b> {@link #of} raises each variance to at least {@value
 * #RELATIVE_VARIANCE_FLOOR} times the mixture's total variance {@code sum pi_c (var_c + mu_c^2) -
 * (sum pi_c mu_c)^2}, and to at least {@value #ABSOLUTE_VARIANCE_FLOOR}. The first bound keeps a
 * component collapsed onto a single value from making {@code 1 / var_c} so large that its parabola's
 * intersections lose all precision; the second keeps {@code (x - mu)^2 / (2 var)} finite for every
 * float x, so no two scores tie at -infinity. A fitter should apply its own, data-aware floor
 * first (GmmFitter uses 1e-6 of the data's variance).
 *
 * <pre>{@code
 * GaussianMixture1D g = GaussianMixture1D.of(
 *     new double[] {0.7, 0.3}, new double[] {0.0, 0.05}, new double[] {1e-4, 4e-4});
 * int code = g.code(0.02f);            // the most probable component of 0.02
 * float decoded = g.codebook()[code];  // its mean
 * }</pre>
 */
public final class GaussianMixture1D implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Each variance is at least this fraction of the mixture's total variance. */
  public static final double RELATIVE_VARIANCE_FLOOR = 1e-12;
  /** And at least this much: (2 Float.MAX_VALUE)^2 / ABSOLUTE_VARIANCE_FLOOR stays finite. */
  public static final double ABSOLUTE_VARIANCE_FLOOR = 1e-200;
  /** Floats checked one by one on each side of each snapped cut. */
  private static final int WINDOW = 8;

  private final double[] weights;
  private final double[] means;
  private final double[] variances;
  // The decision structure, derived (and rebuilt by readResolve).
  private final transient double[] logTerm;
  private final transient double[] twoVariance;
  private final transient float[] thresholds;
  private final transient int[] codes;

  private GaussianMixture1D(double[] weights, double[] means, double[] variances) {
    this.weights = weights;
    this.means = means;
    this.variances = variances;
    int k = weights.length;
    this.logTerm = new double[k];
    this.twoVariance = new double[k];
    for (int c = 0; c < k; c++) {
      logTerm[c] = Math.log(weights[c]) - 0.5 * Math.log(variances[c]);
      twoVariance[c] = 2 * variances[c];
    }
    Cuts cuts = snap(approximateCuts());
    this.thresholds = cuts.thresholds;
    this.codes = cuts.codes;
  }

  /**
   * A mixture of {@code weights.length} components, re-sorted by ascending mean (ties by variance,
   * then weight), weights normalized to sum to 1 and variances floored (see the class comment).
   *
   * @throws IllegalArgumentException unless the arrays have the same length k, from 2 to 256 (a
   *     power of two, or one less when pruning reserves a code); weights are finite and positive; means are finite and within the float range;
   *     variances are finite and positive
   */
  public static GaussianMixture1D of(double[] weights, double[] means, double[] variances) {
    int k = weights.length;
    if (means.length != k || variances.length != k) {
      throw new IllegalArgumentException("Cannot build a mixture from " + k + " weights, "
          + means.length + " means and " + variances.length + " variances: lengths must match");
    }
    if (k < 2 || k > 256) {
      throw new IllegalArgumentException(
          "Cannot build a mixture of " + k + " components: must be from 2 to 256");
    }
    double total = 0;
    for (int c = 0; c < k; c++) {
      if (!(weights[c] > 0) || !Double.isFinite(weights[c])) {
        throw new IllegalArgumentException("Cannot build a mixture with weight " + weights[c]
            + " at component " + c + ": weights must be finite and positive");
      }
      if (!Double.isFinite(means[c]) || Math.abs(means[c]) > Float.MAX_VALUE) {
        throw new IllegalArgumentException("Cannot build a mixture with mean " + means[c]
            + " at component " + c + ": means must be finite floats");
      }
      if (!(variances[c] > 0) || !Double.isFinite(variances[c])) {
        throw new IllegalArgumentException("Cannot build a mixture with variance " + variances[c]
            + " at component " + c + ": variances must be finite and positive");
      }
      total += weights[c];
    }
    if (!Double.isFinite(total)) {
      throw new IllegalArgumentException("Cannot build a mixture whose weights sum to " + total);
    }
    Integer[] order = new Integer[k];
    for (int c = 0; c < k; c++) {
      order[c] = c;
    }
    Arrays.sort(order, (a, b) -> {
      int r = Double.compare(means[a], means[b]);
      if (r == 0) {
        r = Double.compare(variances[a], variances[b]);
      }
      return r != 0 ? r : Double.compare(weights[a], weights[b]);
    });
    double[] w = new double[k];
    double[] m = new double[k];
    double[] v = new double[k];
    for (int c = 0; c < k; c++) {
      w[c] = weights[order[c]] / total;
      m[c] = means[order[c]] + 0.0; // -0.0 and 0.0 are one mean
      v[c] = variances[order[c]];
    }
    double mean = 0;
    for (int c = 0; c < k; c++) {
      mean += w[c] * m[c];
    }
    double spread = 0;
    for (int c = 0; c < k; c++) {
      double d = m[c] - mean;
      spread += w[c] * (v[c] + d * d);
    }
    double floor = Math.max(ABSOLUTE_VARIANCE_FLOOR, RELATIVE_VARIANCE_FLOOR * spread);
    for (int c = 0; c < k; c++) {
      v[c] = Math.max(v[c], floor);
    }
    return new GaussianMixture1D(w, m, v);
  }

  /** The number of components (codes). */
  public int k() {
    return weights.length;
  }

  /** The mixing weights in code order, summing to 1 (a copy). */
  public double[] weights() {
    return weights.clone();
  }

  /** The means in code order, ascending (a copy). */
  public double[] means() {
    return means.clone();
  }

  /** The variances in code order, after the floor (a copy). */
  public double[] variances() {
    return variances.clone();
  }

  /** The means as float32, ascending: the codebook a decoder indexes with the codes. */
  public float[] codebook() {
    float[] book = new float[means.length];
    for (int c = 0; c < book.length; c++) {
      book[c] = (float) means[c];
    }
    return book;
  }

  /** The cuts between intervals, ascending finite floats (a copy); see the class comment. */
  public float[] thresholds() {
    return thresholds.clone();
  }

  /** The code of each interval, one more than {@link #thresholds} (a copy). */
  public int[] intervalCodes() {
    return codes.clone();
  }

  /**
   * The code of {@code x}: its most probable component, the lowest code on ties; equal to {@link
   * #scoreArgmax} for every finite float. A binary search over the thresholds.
   */
  public int code(float x) {
    // The number of thresholds strictly below x is the interval: x == t_i stays on the left.
    int lo = 0;
    int hi = thresholds.length;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (thresholds[mid] < x) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return codes[lo];
  }

  /**
   * The reference decision rule: the lowest c maximizing {@code score_c(x)} as the class comment
   * defines it, in k evaluations. Use {@link #code} to encode.
   */
  public int scoreArgmax(float x) {
    return argmax((double) x);
  }

  private int argmax(double x) {
    int best = 0;
    double bestScore = Double.NEGATIVE_INFINITY;
    for (int c = 0; c < logTerm.length; c++) {
      double d = x - means[c];
      double s = logTerm[c] - d * d / twoVariance[c];
      if (s > bestScore || c == 0) {
        best = c;
        bestScore = s;
      }
    }
    return best;
  }

  // ---- building the intervals ----

  /**
   * Where the argmax changes, approximately: the sorted pairwise intersections of the score
   * parabolas at which the argmax of the pieces on either side differs.
   */
  private double[] approximateCuts() {
    int k = means.length;
    double[] roots = new double[k * (k - 1)];
    int n = 0;
    for (int i = 0; i < k; i++) {
      for (int j = i + 1; j < k; j++) {
        // score_i = score_j in y = x - mu_i, delta = mu_j - mu_i:
        // (h_j - h_i) y^2 - 2 h_j delta y + (h_j delta^2 + L_i - L_j) = 0; the origin at mu_i
        // keeps far-off means from cancelling the terms that matter.
        double hi = 0.5 / variances[i];
        double hj = 0.5 / variances[j];
        double delta = means[j] - means[i];
        double a = hj - hi;
        double b = -2 * hj * delta;
        double c = hj * delta * delta + logTerm[i] - logTerm[j];
        if (a == 0) {
          if (b != 0) {
            roots[n++] = means[i] - c / b;
          }
          continue;
        }
        double disc = b * b - 4 * a * c;
        if (!(disc >= 0)) {
          continue;
        }
        // The stable pair: q = -(b + sign(b) sqrt(disc)) / 2, roots q / a and c / q.
        double q = -0.5 * (b + Math.copySign(Math.sqrt(disc), b));
        roots[n++] = means[i] + q / a;
        if (q != 0) {
          roots[n++] = means[i] + c / q;
        }
      }
    }
    double[] r = new double[n];
    int m = 0;
    for (int i = 0; i < n; i++) {
      double x = roots[i];
      if (Double.isFinite(x) && Math.abs(x) <= Float.MAX_VALUE) {
        r[m++] = x;
      }
    }
    Arrays.sort(r, 0, m);
    // The argmax of each piece between consecutive roots; keep the roots where it changes.
    double[] cuts = new double[m];
    int cutCount = 0;
    int left = argmax(m == 0 ? 0 : r[0] - 1 - Math.abs(r[0]));
    for (int i = 0; i < m; i++) {
      if (i + 1 < m && r[i + 1] == r[i]) {
        continue;
      }
      double next = i + 1 < m ? r[i + 1] : r[i] + 1 + Math.abs(r[i]);
      int right = argmax(r[i] + (next - r[i]) / 2);
      if (right != left) {
        cuts[cutCount++] = r[i];
        left = right;
      }
    }
    return Arrays.copyOf(cuts, cutCount);
  }

  private record Cuts(float[] thresholds, int[] codes) {}

  /**
   * The exact intervals over floats: a sweep from -Float.MAX_VALUE up, which at each approximate
   * cut finds by galloping and binary search the first float whose {@link #scoreArgmax} differs
   * from the current code, then checks {@value #WINDOW} floats on either side one by one (where
   * rounding could make the argmax flicker), and at the end confirms the last interval reaches
   * Float.MAX_VALUE.
   */
  private Cuts snap(double[] approx) {
    int[] t = new int[16];
    int[] c = new int[17];
    int m = 0;
    int pos = MIN_KEY;
    int cur = codeAt(pos);
    c[0] = cur;
    int next = 0;
    while (true) {
      // The next approximate cut above pos, or the top end.
      while (next < approx.length && keyOf(approx[next]) <= pos) {
        next++;
      }
      int target = next < approx.length ? keyOf(approx[next]) : MAX_KEY;
      int lo;
      int hi;
      if (codeAt(target) == cur) {
        if (target == MAX_KEY) {
          break;
        }
        // The change lies above the estimate, or this cut merged away: gallop up, but no further
        // than the cut after it (which then becomes the target).
        int limit = next + 1 < approx.length ? keyOf(approx[next + 1]) : MAX_KEY;
        lo = target;
        hi = target;
        boolean found = false;
        for (long step = 1; ; step <<= 1) {
          int probe = (int) Math.min((long) target + step, limit);
          if (codeAt(probe) != cur) {
            hi = probe;
            found = true;
            break;
          }
          lo = probe;
          if (probe == limit) {
            break;
          }
        }
        if (!found) {
          pos = lo;
          next++;
          continue;
        }
      } else {
        hi = target;
        lo = pos;
        for (long step = 1; (long) target - step > pos; step <<= 1) {
          int probe = (int) (target - step);
          if (codeAt(probe) == cur) {
            lo = probe;
            break;
          }
          hi = probe;
        }
      }
      // codeAt(lo) == cur, codeAt(hi) != cur: find the first key after lo that differs.
      while (hi - lo > 1) {
        // Keys can be negative: an arithmetic shift of the long sum floors correctly.
        int mid = (int) (((long) lo + hi) >> 1);
        if (codeAt(mid) == cur) {
          lo = mid;
        } else {
          hi = mid;
        }
      }
      // Every float from (pos, end] one by one, from WINDOW below the change to WINDOW above it.
      int from = (int) Math.max((long) pos + 1, (long) hi - WINDOW);
      int to = (int) Math.min(MAX_KEY, (long) hi + WINDOW);
      for (int key = from; key <= to; key++) {
        int code = codeAt(key);
        if (code != cur) {
          if (m == t.length) {
            t = Arrays.copyOf(t, 2 * m);
            c = Arrays.copyOf(c, 2 * m + 1);
          }
          t[m++] = key - 1;
          c[m] = code;
          cur = code;
        }
      }
      pos = to;
      if (pos == MAX_KEY) {
        break;
      }
    }
    float[] thresholds = new float[m];
    for (int i = 0; i < m; i++) {
      thresholds[i] = floatOf(t[i]);
    }
    return new Cuts(thresholds, Arrays.copyOf(c, m + 1));
  }

  private int codeAt(int key) {
    return argmax((double) floatOf(key));
  }

  // Floats as ordered ints: one key per value (-0.0 and 0.0 are both 0), adjacent floats adjacent.
  private static final int MAX_KEY = Float.floatToRawIntBits(Float.MAX_VALUE);
  private static final int MIN_KEY = -MAX_KEY;

  private static float floatOf(int key) {
    return key >= 0 ? Float.intBitsToFloat(key) : -Float.intBitsToFloat(-key);
  }

  /** The key of the float nearest to x, clamped to the finite floats. */
  private static int keyOf(double x) {
    float f = (float) x;
    if (f > Float.MAX_VALUE) {
      return MAX_KEY;
    }
    if (f < -Float.MAX_VALUE) {
      return MIN_KEY;
    }
    int bits = Float.floatToRawIntBits(f) & 0x7FFFFFFF;
    return f < 0 ? -bits : bits;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof GaussianMixture1D g && Arrays.equals(weights, g.weights)
        && Arrays.equals(means, g.means) && Arrays.equals(variances, g.variances);
  }

  @Override
  public int hashCode() {
    return 31 * (31 * Arrays.hashCode(weights) + Arrays.hashCode(means))
        + Arrays.hashCode(variances);
  }

  @Override
  public String toString() {
    return "GaussianMixture1D{weights=" + Arrays.toString(weights) + ", means="
        + Arrays.toString(means) + ", variances=" + Arrays.toString(variances) + "}";
  }

  private Object readResolve() {
    // Never trust a stream: validate and rebuild the intervals. The stored parameters were
    // sorted, normalized and floored by of(), so they are kept bit for bit (doing it again could
    // move a weight by an ulp).
    GaussianMixture1D checked = of(weights, means, variances);
    for (int c = 0; c < weights.length; c++) {
      if (Double.compare(checked.means[c], means[c]) != 0
          || Math.abs(checked.variances[c] - variances[c]) > 1e-9 * variances[c]
          || Math.abs(checked.weights[c] - weights[c]) > 1e-9 * weights[c]) {
        throw new IllegalArgumentException(
            "Cannot read a mixture that is not sorted, normalized and floored: " + this);
      }
    }
    return new GaussianMixture1D(weights.clone(), means.clone(), variances.clone());
  }
}
