package io.sparticle.spark;

import io.sparticle.plan.CompressionPlan;
import io.sparticle.plan.CompressionPlan.Group;
import io.sparticle.plan.CompressionPlan.Tensor;
import io.sparticle.plan.JobConfig;
import io.sparticle.quant.BlockSample;
import io.sparticle.quant.BlockScales;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.ValueHistogram;
import io.sparticle.quant.WeightedKMeans1D;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Mixed precision to a size target ({@code target-bits}): each kmeans group's code width is
 * chosen to minimize the total squared error of all weights with the average bits per compressed
 * weight, every stored byte counted, at most the target.
 *
 * <p>Each group's distortion curve, its squared error at every width from 2 to 8 bits, is
 * estimated on the driver from what the histogram pass gathered: for scope group, k-means on the
 * group's weighted histogram (exact for 16-bit weights, as the fit itself); for scope block, the
 * fit's two rounds and the encoder's scale search on the sampled blocks, scaled to the group's
 * size. Then a greedy allocation: every group starts at 2 bits and the group whose next bit buys
 * the largest error reduction per stored bit gets it, while the total fits the budget. Groups of
 * other methods keep their width and count against the budget. The floor is 2 bits because the
 * squared error of the weights does not see how sensitive a small tensor is: on e5-small-v2 the
 * allocation gave two small tensors 1 bit and cost 0.03 of embedding Spearman.
 *
 * <p>The curves are of the weights' squared error even when the weights have an importance
 * (calibration): weighted by mean squared activations, the allocation moved bits from the
 * feed-forward down-projections (few, very large activation channels) to the attention
 * projections and the word embedding, and all-MiniLM-L6-v2's embeddings lost 0.06 of cosine at
 * 4.0 bits/weight. Importance shapes each group's codebook, not the split of bits between groups.
 */
final class BitAllocator {
  private BitAllocator() {}

  static final int MIN_BITS = 2;
  static final int MAX_BITS = 8;
  /** Sampled weights per block-scaled group that its curve is estimated on. */
  static final int CURVE_SAMPLE_WEIGHTS = 1 << 16;
  /** Lloyd steps per width of a scope-group curve. */
  static final int CURVE_LLOYD_STEPS = 100;

  /** One group's curve: stored bits and estimated squared error at each width. */
  record Curve(String group, int chosen, long[] storedBits, double[] sse, boolean allocated) {}

  /** The allocation: the plan at the chosen widths, and why. */
  record Result(CompressionPlan plan, double targetBits, double bitsPerWeight, List<Curve> curves) {}

  static Result allocate(CompressionPlan plan, double target, HistogramPass.Result found,
      float[] scales, JobConfig config) {
    Map<Integer, BlockSample> samples = found.samples();
    int groups = plan.groups().size();
    long[][] bits = new long[groups][];
    double[][] sse = new double[groups][];
    int[] width = new int[groups];
    boolean[] allocated = new boolean[groups];
    long fixed = 0;
    for (Group g : plan.groups()) {
      width[g.index()] = g.bits();
      // kmeans groups only: a gmm or vq width changes what is fitted, and pruned or
      // entropy-coded sizes are not known before encoding; those keep their configured bits.
      allocated[g.index()] = g.spec().sharedCodebook()
          && g.spec().method() == io.sparticle.quant.EncodingSpec.Method.KMEANS
          && g.spec().prune() == 0
          && g.spec().entropy() == io.sparticle.quant.EncodingSpec.Entropy.NONE;
      if (!allocated[g.index()]) {
        fixed += storedBits(plan, g, g.spec());
        continue;
      }
      bits[g.index()] = new long[MAX_BITS + 1];
      for (int b = MIN_BITS; b <= MAX_BITS; b++) {
        bits[g.index()][b] = storedBits(plan, g, g.spec().withBits(b));
      }
      sse[g.index()] = g.spec().blockScaled()
          ? blockCurve(plan, g, samples, config) : groupCurve(plan, g, found, scales, config);
      width[g.index()] = MIN_BITS;
    }
    long params = plan.compressedParams();
    double budget = target * params;
    long total = fixed;
    for (int g = 0; g < groups; g++) {
      if (allocated[g]) {
        total += bits[g][MIN_BITS];
      }
    }
    if (total > budget) {
      throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
          "Cannot reach target-bits %.3f: at %d bit(s) per kmeans group these tensors take %.3f "
              + "bits/weight (other methods and overhead included)", target, MIN_BITS,
          (double) total / params));
    }
    while (true) {
      int best = -1;
      double bestGain = 0;
      for (int g = 0; g < groups; g++) {
        if (!allocated[g] || width[g] == MAX_BITS) {
          continue;
        }
        long cost = bits[g][width[g] + 1] - bits[g][width[g]];
        double gain = (sse[g][width[g]] - sse[g][width[g] + 1]) / Math.max(1, cost);
        if (total + cost <= budget && (best < 0 || gain > bestGain)) {
          best = g;
          bestGain = gain;
        }
      }
      if (best < 0) {
        break;
      }
      total += bits[best][width[best] + 1] - bits[best][width[best]];
      width[best]++;
    }
    List<Curve> curves = new ArrayList<>();
    for (Group g : plan.groups()) {
      curves.add(new Curve(g.name(), width[g.index()], bits[g.index()], sse[g.index()],
          allocated[g.index()]));
    }
    return new Result(plan.withBits(width), target, (double) total / params, curves);
  }

  /** Every stored bit of the group at {@code spec}: codes, parameters, outliers, shared codebook. */
  static long storedBits(CompressionPlan plan, Group g, EncodingSpec spec) {
    long bytes = spec.sharedCodebook() ? (long) spec.k() * spec.codebookPrecision().byteSize() : 0;
    for (int t : g.tensors()) {
      Tensor tensor = plan.tensors().get(t);
      bytes += io.sparticle.packing.BitPacking.bytesRequired(tensor.numel(), spec.bits())
          + plan.paramBytes(tensor, spec);
    }
    return 8 * bytes;
  }

  /**
   * Scope group: k-means (the fit's own start, without MLlib's confirmation) on the group's
   * histogram points at each width; the inertia, in the points' units, times the mean squared
   * per-tensor scale.
   */
  private static double[] groupCurve(CompressionPlan plan, Group g, HistogramPass.Result found,
      float[] scales, JobConfig config) {
    Particleizer.Points p = Particleizer.points(found.points(g), false);
    double scale2 = 0;
    long n = 0;
    for (int t : g.tensors()) {
      Tensor tensor = plan.tensors().get(t);
      scale2 += (double) scales[t] * scales[t] * tensor.numel();
      n += tensor.numel();
    }
    scale2 /= Math.max(1, n);
    double[] sse = new double[MAX_BITS + 1];
    if (p.values().length == 0) {
      return sse;
    }
    // Standardized, as the fit clusters them.
    Particleizer.Standardized st = Particleizer.standardize(p);
    double[] z = st.z();
    double[] w = p.weights();
    double std = st.std();
    for (int b = MIN_BITS; b <= MAX_BITS; b++) {
      int k = 1 << b;
      if (z.length <= k) {
        continue; // every distinct value gets its own centroid: no error
      }
      // One k-means++ start to a fixed point: an estimate within a few percent of the fit's
      // best-of-restarts, which is all a ranking of widths needs.
      double[] c = WeightedKMeans1D.initPlusPlus(z, w, k, config.seed() + g.index());
      sse[b] = WeightedKMeans1D.lloyd(z, w, c, CURVE_LLOYD_STEPS, 0).inertia() * std * std * scale2;
    }
    return monotone(sse);
  }

  /**
   * Scope block: the fit on the sampled blocks at each width, then each sampled block's scale
   * searched and its error measured as the encoder would; scaled from the sample to the group.
   */
  private static double[] blockCurve(CompressionPlan plan, Group g, Map<Integer, BlockSample> samples,
      JobConfig config) {
    float[] all = Particleizer.blockSample(g, samples, Map.of(), plan).values();
    int b = g.spec().blockSize();
    // Every stride-th sampled block, fitted from one k-means++ start: a curve only ranks widths.
    int stride = (int) Math.max(1, all.length / b / (CURVE_SAMPLE_WEIGHTS / b));
    float[] x = new float[all.length / b / stride * b];
    for (int i = 0, at = 0; at < x.length; i += stride * b, at += b) {
      System.arraycopy(all, i, x, at, b);
    }
    long groupNumel = 0;
    for (int t : g.tensors()) {
      groupNumel += plan.tensors().get(t).numel();
    }
    double[] sse = new double[MAX_BITS + 1];
    if (x.length < b) {
      return sse;
    }
    EncodingSpec.ScalePrecision p = g.spec().scalePrecision();
    for (int bits = MIN_BITS; bits <= MAX_BITS; bits++) {
      Group at = new Group(g.index(), g.name(), g.spec().withBits(bits), g.tensors());
      Particleizer.Fit fit = Particleizer.fitBlockSample(at, x, null, config, true);
      BlockScales search = new BlockScales(fit.codebook().centroids());
      double e = 0;
      for (int i = 0; i + b <= x.length; i += b) {
        float s = search.search(x, i, b, null, p.ladder() ? EncodingSpec.ScalePrecision.F32 : p);
        e += search.error(x, i, b, null, s);
      }
      sse[bits] = e * groupNumel / x.length;
    }
    return monotone(sse);
  }

  /** A wider code never does worse (the narrower codebook is among its choices). */
  private static double[] monotone(double[] sse) {
    for (int b = MIN_BITS + 1; b <= MAX_BITS; b++) {
      sse[b] = Math.min(sse[b], sse[b - 1]);
    }
    return sse;
  }
}
