package io.sparticle.spark;

import io.sparticle.plan.CompressionPlan;
import io.sparticle.plan.CompressionPlan.Group;
import io.sparticle.plan.JobConfig;
import io.sparticle.quant.BlockSample;
import io.sparticle.quant.BlockScales;
import io.sparticle.quant.Codebook;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.GroupPoints;
import io.sparticle.quant.Importance;
import io.sparticle.quant.ValueHistogram;
import io.sparticle.quant.WeightedKMeans1D;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.mllib.clustering.KMeans;
import org.apache.spark.mllib.clustering.KMeansModel;
import org.apache.spark.mllib.linalg.Vector;
import org.apache.spark.mllib.linalg.Vectors;
import scala.Option;
import scala.Tuple2;

/**
 * Pass 2: Spark MLlib k-means fits of every codebook group, on the group's weighted points.
 *
 * <p>Why it is done this way: MLlib's defaults (absolute tol 1e-4, 20 iterations, k-means||) are
 * tuned for unit-scale data while weights are ~1e-2, which costs about 1.6 dB. So values are
 * standardized (zero mean, unit variance) before the fit, the fit starts from the best of several
 * weighted k-means++ restarts computed on the driver (see {@link #bestInit}), and MLlib's Lloyd
 * iterations run to a tight tolerance. The driver's starts of different groups are computed
 * concurrently on driver threads, and then every scalar group's MLlib iterations run in one MLlib
 * run ({@link #fitTogether}): one set of Spark jobs for the job, not one per group.
 */
final class Particleizer {
  private Particleizer() {}

  /** A fitted group: the codebook (already rounded to the storage precision) and tensor scales. */
  record Fit(Codebook codebook, int iterations, int points, double initSeconds, double mllibSeconds,
      float[] codewords, io.sparticle.format.Manifest.Mixture mixture) {
    Fit(Codebook codebook, int iterations, int points, double initSeconds, double mllibSeconds) {
      this(codebook, iterations, points, initSeconds, mllibSeconds, null, null);
    }

    /** What codebooks.safetensors stores: the centroids ascending, or vq's codewords. */
    float[] centroids() {
      return codewords != null ? codewords.clone() : codebook.centroids();
    }
  }

  /** Every shared codebook; sampled blocks of tensors in {@code importance} weighted by it. */
  static Fit[] fitAll(JavaSparkContext jsc, CompressionPlan plan, HistogramPass.Result found,
      Map<Integer, Importance> importance, float[] scales)
      throws InterruptedException {
    Map<Integer, BlockSample> samples = found.samples();
    JobConfig config = plan.config();
    ExecutorService pool = Executors.newFixedThreadPool(config.fitThreads(), r -> {
      Thread t = new Thread(r, "sparticle-fit");
      t.setDaemon(true);
      return t;
    });
    try {
      // Each future gives a finished Fit, or a Pending start for the one MLlib run below.
      List<Future<Object>> futures = new ArrayList<>();
      for (Group g : plan.groups()) {
        // Only a shared codebook is fitted here; per-channel codebooks and uniform parameters
        // are fitted by the encode tasks.
        futures.add(!g.spec().sharedCodebook() ? null
            : g.spec().vector()
                ? pool.submit(() -> fitVectors(jsc, g, samples, plan, scales, config))
            : g.spec().method() == EncodingSpec.Method.GMM
                ? pool.submit(() -> fitMixture(g, found.points(g), config))
            : g.spec().blockScaled()
                ? pool.submit(() -> prepareBlocks(g, samples, importance, plan, config))
            : pool.submit(() -> prepare(g, points(found.points(g), true), config, false)));
      }
      Object[] results = new Object[futures.size()];
      for (int i = 0; i < results.length; i++) {
        if (futures.get(i) == null) {
          continue;
        }
        try {
          results[i] = futures.get(i).get();
        } catch (ExecutionException e) {
          Throwable cause = e.getCause();
          if (cause instanceof RuntimeException re) {
            throw re;
          }
          if (cause instanceof Error err) {
            throw err;
          }
          throw new IllegalStateException("Fit of group '" + plan.groups().get(i).name() + "' failed", cause);
        }
      }
      List<Pending> pending = new ArrayList<>();
      for (Object r : results) {
        if (r instanceof Pending p) {
          pending.add(p);
        }
      }
      Map<Integer, Fit> confirmed = fitTogether(jsc, pending, config);
      Fit[] fits = new Fit[results.length];
      for (int i = 0; i < fits.length; i++) {
        fits[i] = results[i] instanceof Fit f ? f : confirmed.get(i);
      }
      return fits;
    } finally {
      pool.shutdownNow();
    }
  }

  /**
   * A scalar fit waiting for MLlib: the group's standardized points, their weights, the driver's
   * start ({@link #bestInit}), and how to map centers back ({@code mean}, {@code std}).
   */
  record Pending(Group group, double[] z, double[] w, double[] init, double mean, double std,
      double initSeconds) {}

  /**
   * Every pending group's MLlib k-means in ONE run (one set of Spark jobs instead of one per
   * group): each group's points are moved into a region of the line of their own, the regions
   * apart by more than the widest region, so no point is ever nearer another group's centre than
   * its own group's nearest and each group's Lloyd iterations are exactly its own. All values are
   * made positive, which makes MLlib's norm bound the exact distance (a centre farther than the
   * best so far is skipped without a distance computed; see {@link #lloydAll} for the order that
   * keeps those rare); the groups with the most points go first. The run ends when every centre
   * has converged (or at max-iterations).
   */
  static Map<Integer, Fit> fitTogether(JavaSparkContext jsc, List<Pending> pending, JobConfig config) {
    Map<Integer, Fit> fits = new java.util.HashMap<>();
    if (pending.isEmpty()) {
      return fits;
    }
    List<Pending> order = new ArrayList<>(pending);
    order.sort((a, b) -> a.z().length != b.z().length ? Integer.compare(b.z().length, a.z().length)
        : Integer.compare(a.group().index(), b.group().index()));
    double[][] z = new double[order.size()][];
    double[][] w = new double[order.size()][];
    double[][] init = new double[order.size()][];
    for (int i = 0; i < order.size(); i++) {
      z[i] = order.get(i).z();
      w[i] = order.get(i).w();
      init[i] = order.get(i).init();
    }
    StringBuilder names = new StringBuilder();
    for (Pending p : order) {
      names.append(names.length() == 0 ? "" : ", ").append(p.group().name());
      if (names.length() > 200) {
        names.append(", ...");
        break;
      }
    }
    jsc.setJobDescription("sparticle: k-means of " + order.size() + " groups (" + names + ")");
    long t0 = System.nanoTime();
    Lloyd[] fit = lloydAll(jsc, z, w, init, config.maxIterations(), config.tolerance(), config.seed());
    double seconds = (System.nanoTime() - t0) / 1e9;
    for (int i = 0; i < order.size(); i++) {
      Pending p = order.get(i);
      Group g = p.group();
      int k = p.init().length;
      fits.put(g.index(), withPrune(g, new Fit(toCodebook(fit[i].centers(), k, p.std(), p.mean(), g),
          fit[i].iterations(), p.z().length, p.initSeconds(), seconds)));
    }
    return fits;
  }

  /**
   * A scalar group's start on the driver ({@link Pending}), or its finished fit when it has no
   * more distinct values than codes.
   */
  static Object prepare(Group group, Points p, JobConfig config, boolean quick) {
    int k = group.k() - (group.spec().prune() > 0 ? 1 : 0);
    if (p.values.length <= k) {
      // Fewer distinct values than codes: the codebook holds them all, error zero.
      return withPrune(group, new Fit(toCodebook(p.values, k, 1, 0, group), 0, p.values.length, 0, 0));
    }
    Standardized st = standardize(p);
    long t0 = System.nanoTime();
    double[] init = start(st.z(), p.weights, k, group, config, quick);
    return new Pending(group, st.z(), p.weights, init, st.mean(), st.std(),
        (System.nanoTime() - t0) / 1e9);
  }

  /**
   * The per-tensor scale: the RMS of its values when its group shares a codebook across
   * tensors of different magnitude, else 1.
   */
  static float[] scales(CompressionPlan plan, Map<Integer, HistogramPass.TensorStats> stats) {
    float[] scales = new float[plan.tensors().size()];
    Arrays.fill(scales, 1f);
    for (Group g : plan.groups()) {
      if (!g.perTensorScale()) {
        continue;
      }
      for (int t : g.tensors()) {
        float rms = (float) stats.get(t).rms();
        scales[t] = rms > 0 && Float.isFinite(rms) ? rms : 1f;
      }
    }
    return scales;
  }

  /**
   * A gmm group: MLlib's {@code GaussianMixture} with one component per code (per code but the
   * reserved zero, when pruning) on the group's weighted histogram; the codebook is the
   * components' means, and the manifest keeps the mixture that assigns the codes.
   */
  static Fit fitMixture(Group group, GroupPoints points, JobConfig config) {
    boolean prune = group.spec().prune() > 0;
    int k = group.k() - (prune ? 1 : 0);
    Points p = points(points, true);
    GmmFitter.Fit f = GmmFitter.fit(org.apache.spark.sql.SparkSession.active(), p.values,
        p.weights, k, config.maxIterations(), config.tolerance(), config.seed() + group.index());
    io.sparticle.quant.GaussianMixture1D m = f.mixture();
    Codebook book;
    try {
      book = Codebook.of(io.sparticle.format.TensorEncoder.withZero(
          Codebook.of(m.codebook()).roundTo(group.spec().codebookPrecision()).centroids(), prune));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("Codebook of group '" + group.name() + "': " + e.getMessage(), e);
    }
    return new Fit(book, f.iterations(), p.values.length, 0, f.seconds(), null,
        new io.sparticle.format.Manifest.Mixture(m.weights(), m.means(), m.variances()));
  }

  /**
   * A vq group's codewords: MLlib's distributed {@code KMeans} (k-means|| start) on the
   * sub-vectors the histogram pass drew from its tensors, each divided by its tensor's scale and
   * all standardized by one mean and deviation (MLlib's tolerance suits unit-scale data).
   * Outliers count as 0 in their sub-vectors, as in the encoder's search.
   */
  static Fit fitVectors(JavaSparkContext jsc, Group group, Map<Integer, BlockSample> samples,
      CompressionPlan plan, float[] scales, JobConfig config) {
    int d = group.spec().dim();
    int k = group.k();
    List<float[]> parts = new ArrayList<>();
    int n = 0;
    for (int t : group.tensors()) {
      BlockSample s = samples.get(t);
      if (s == null || s.size() == 0) {
        continue;
      }
      float[] v = s.sortedValues();
      ValueHistogram.Outliers o = plan.tensors().get(t).outliers();
      for (int i = 0; i < v.length; i++) {
        v[i] = o.test(v[i]) ? 0f : v[i] / scales[t];
      }
      parts.add(v);
      n += v.length;
    }
    double[] x = new double[n];
    int at = 0;
    for (float[] p : parts) {
      for (float f : p) {
        x[at++] = f;
      }
    }
    double mean = 0;
    for (double v : x) {
      mean += v;
    }
    mean = n == 0 ? 0 : mean / n;
    double var = 0;
    for (double v : x) {
      var += (v - mean) * (v - mean);
    }
    double std = n == 0 || !(var > 0) ? 1 : Math.sqrt(var / n);
    for (int i = 0; i < n; i++) {
      x[i] = (x[i] - mean) / std;
    }
    int vectors = n / d;
    long t0 = System.nanoTime();
    double[] centers = new double[k * d];
    int iterations = 0;
    float[] xf = new float[n];
    for (int i = 0; i < n; i++) {
      xf[i] = (float) x[i];
    }
    float[] start = io.sparticle.quant.VqKMeans.fit(xf, d, k, config.seed() + group.index(),
        localSteps(vectors, k));
    long t1 = System.nanoTime();
    if (vectors > k) {
      Vector[] init = new Vector[k];
      for (int i = 0; i < k; i++) {
        double[] v = new double[d];
        for (int j = 0; j < d; j++) {
          v[j] = start[i * d + j];
        }
        init[i] = Vectors.dense(v);
      }
      jsc.setJobDescription("sparticle: vq k-means of group '" + group.name() + "' (k=" + k
          + ", dim=" + d + ", " + vectors + " sub-vectors)");
      // One partition, as the scalar fit: MLlib merges per-partition sums in the order their
      // shuffle blocks arrive, so more partitions would let a re-run's codewords differ in their
      // last bits. The sample is small (a few MB) and MLlib runs two iterations over it.
      int partitions = 1;
      List<Integer> ids = new ArrayList<>(partitions);
      for (int p = 0; p < partitions; p++) {
        ids.add(p);
      }
      // Ship one primitive array (broadcast, not inside every task) and build each partition's
      // rows on its executor, as the scalar fit does.
      org.apache.spark.broadcast.Broadcast<double[]> sample = jsc.broadcast(x);
      int slices = partitions;
      int count = vectors;
      JavaRDD<Vector> data = jsc.parallelize(ids, partitions).flatMap(p -> {
        double[] all = sample.value();
        int from = (int) ((long) count * p / slices);
        int to = (int) ((long) count * (p + 1) / slices);
        List<Vector> rows = new ArrayList<>(to - from);
        for (int i = from; i < to; i++) {
          rows.add(Vectors.dense(Arrays.copyOfRange(all, i * d, i * d + d)));
        }
        return rows.iterator();
      }).cache();
      try {
        KMeansModel model = new KMeans()
            .setK(k)
            .setMaxIterations(Math.min(config.maxIterations(), VQ_MLLIB_ITERATIONS))
            .setEpsilon(config.tolerance())
            .setSeed(config.seed() + group.index())
            .setInitialModel(new KMeansModel(init))
            .run(data.rdd());
        Vector[] c = model.clusterCenters();
        iterations = model.numIter();
        for (int i = 0; i < k; i++) {
          // Fewer distinct sub-vectors than codewords: MLlib returns fewer centers; repeat the last.
          Vector v = c[Math.min(i, c.length - 1)];
          for (int j = 0; j < d; j++) {
            centers[i * d + j] = v.apply(j);
          }
        }
      } finally {
        data.unpersist(false);
        sample.destroy();
      }
    } else {
      for (int i = 0; i < centers.length; i++) {
        centers[i] = start[i];
      }
    }
    float[] codewords = new float[k * d];
    io.sparticle.quant.CodebookPrecision precision = group.spec().codebookPrecision();
    for (int i = 0; i < codewords.length; i++) {
      codewords[i] = precision.round((float) (vectors == 0 ? 0 : centers[i] * std + mean));
    }
    return new Fit(null, iterations, vectors, (t1 - t0) / 1e9, (System.nanoTime() - t1) / 1e9,
        codewords, null);
  }

  /**
   * Lloyd steps of a vq fit's start on the driver: each is a nearest-codeword search over the
   * sample with the encoder's kernel (milliseconds at k = 256), up to {@value #VQ_LOCAL_STEPS};
   * large codebooks get as many as {@value #VQ_LOCAL_BUDGET} distances allow, at least 10.
   */
  static int localSteps(long vectors, int k) {
    long perStep = Math.max(1, vectors * k);
    return (int) Math.max(10, Math.min(VQ_LOCAL_STEPS, VQ_LOCAL_BUDGET / perStep));
  }

  static final int VQ_LOCAL_STEPS = 100;
  static final long VQ_LOCAL_BUDGET = 4_000_000_000L;
  /**
   * MLlib iterations of a vq fit from that start: each is a Spark job and a generic distance
   * loop (about 0.3 s over 65,536 sub-vectors at k = 256), and from a start near the fixed point
   * a few move the codewords little (README: measured).
   */
  static final int VQ_MLLIB_ITERATIONS = 2;

  /** Bins of the bounded histogram of block-normalized weights. */
  static final int BLOCK_BINS = 4096;

  /**
   * A block-scaled group's codebook, from the blocks sampled by the histogram pass, in two
   * rounds. Round 1: each block divided by its largest magnitude (values in [-1, 1], weight its
   * square: the block's error in the original units), clustered on the driver. Round 2: each
   * block's scale searched against that codebook as the encoder will ({@link BlockScales}), the
   * blocks divided by it, and MLlib's fit on those values gives the codebook. Both rounds
   * cluster a bounded histogram: {@value #BLOCK_BINS} equal bins over [-R, R] (R the largest
   * normalized magnitude), each represented by the weighted mean of its values, so every value is
   * within 2R / {@value #BLOCK_BINS} of its representative in units of its block's scale.
   */
  static Object prepareBlocks(Group group, Map<Integer, BlockSample> samples,
      Map<Integer, Importance> importance, CompressionPlan plan, JobConfig config) {
    Sample s = blockSample(group, samples, importance, plan);
    Object round2 = blockRound2(group, s.values(), s.importance(), config, false);
    // Round 2 joins the other groups' MLlib run (fitTogether).
    return round2 instanceof Points p ? prepare(group, p, config, false) : round2;
  }

  /**
   * A group's sampled blocks: their weights, and each weight's importance (null when no tensor
   * of the group has any; 1 for the weights of a tensor without).
   */
  record Sample(float[] values, float[] importance) {}

  /** The group's sampled blocks, concatenated in tensor order, outliers zeroed. */
  static Sample blockSample(Group group, Map<Integer, BlockSample> samples,
      Map<Integer, Importance> importance, CompressionPlan plan) {
    List<float[]> parts = new ArrayList<>();
    List<float[]> weights = new ArrayList<>();
    boolean weighted = false;
    for (int t : group.tensors()) {
      BlockSample s = samples.get(t);
      if (s != null && s.size() > 0) {
        float[] v = s.sortedValues();
        float[] w = new float[v.length];
        Importance imp = importance.get(t);
        if (imp == null) {
          Arrays.fill(w, 1f);
        } else {
          weighted = true;
          long[] ids = s.sortedIds();
          int b = s.blockSize();
          for (int i = 0; i < ids.length; i++) {
            for (int j = 0; j < b; j++) {
              w[i * b + j] = imp.at(ids[i] * b + j);
            }
          }
        }
        weights.add(w);
        // Outliers are kept exact, so they are left out of the fit: as zeros, which neither set
        // a block's largest magnitude nor weigh in the scaled histogram beyond a point at 0.
        ValueHistogram.Outliers o = plan.tensors().get(t).outliers();
        for (int i = 0; i < v.length; i++) {
          if (o.test(v[i])) {
            v[i] = 0;
          }
        }
        parts.add(v);
      }
    }
    int n = 0;
    for (float[] p : parts) {
      n += p.length;
    }
    float[] x = new float[n];
    float[] w = weighted ? new float[n] : null;
    int at = 0;
    for (int i = 0; i < parts.size(); i++) {
      float[] p = parts.get(i);
      System.arraycopy(p, 0, x, at, p.length);
      if (w != null) {
        System.arraycopy(weights.get(i), 0, w, at, p.length);
      }
      at += p.length;
    }
    return new Sample(x, w);
  }

  /**
   * The two rounds of {@link #prepareBlocks} on sampled blocks {@code x}, both on the driver (the
   * bit allocator's estimate), each weight {@code x[i]} weighted by {@code importance[i]} in the clustering
   * (null: all 1); the scale search is unweighted. {@code quick}: see {@link #fitPoints}.
   */
  static Fit fitBlockSample(Group group, float[] x, float[] importance, JobConfig config,
      boolean quick) {
    Object round2 = blockRound2(group, x, importance, config, quick);
    return round2 instanceof Points p ? fitPoints(group, p, config, quick) : (Fit) round2;
  }

  /**
   * Round 1 of {@link #fitBlockSample} on the driver, then round 2's points; or the finished fit
   * when there are too few blocks to fit.
   */
  private static Object blockRound2(Group group, float[] x, float[] importance, JobConfig config,
      boolean quick) {
    int b = group.spec().blockSize();
    int blocks = x.length / b;
    float[] scale = new float[blocks];
    for (int i = 0; i < blocks; i++) {
      float m = 0;
      for (int j = i * b; j < i * b + b; j++) {
        m = Math.max(m, Math.abs(x[j]));
      }
      scale[i] = m;
    }
    Points round1 = normalizedPoints(x, importance, b, scale);
    if (round1.values.length <= group.k()) {
      // Too few blocks (or values) to fit: the group's tensors are shorter than a block, or zero.
      return fitPoints(group, round1.values.length == 0
          ? new Points(new double[] {0}, new double[] {1}) : round1, config, quick);
    }
    Fit first = fitPoints(group, round1, config, quick);
    BlockScales search = new BlockScales(first.codebook().centroids());
    EncodingSpec.ScalePrecision p = group.spec().scalePrecision();
    for (int i = 0; i < blocks; i++) {
      scale[i] = search.search(x, i * b, b, null,
          p.ladder() ? EncodingSpec.ScalePrecision.F32 : p);
    }
    return normalizedPoints(x, importance, b, scale);
  }

  /**
   * Blocks divided by their scales, weighted by the scale's square (times each weight's
   * importance, if any), as a bounded histogram.
   */
  private static Points normalizedPoints(float[] x, float[] importance, int b, float[] scale) {
    double r = 0;
    for (int i = 0; i < scale.length; i++) {
      if (scale[i] != 0) {
        for (int j = i * b; j < i * b + b; j++) {
          r = Math.max(r, Math.abs(x[j] / scale[i]));
        }
      }
    }
    if (!(r > 0)) {
      return new Points(new double[0], new double[0]);
    }
    double[] w = new double[BLOCK_BINS];
    double[] wy = new double[BLOCK_BINS];
    for (int i = 0; i < scale.length; i++) {
      double s = scale[i];
      if (s == 0) {
        continue;
      }
      for (int j = i * b; j < i * b + b; j++) {
        double y = x[j] / s;
        int bin = (int) Math.min(BLOCK_BINS - 1, Math.max(0, (y + r) / (2 * r) * BLOCK_BINS));
        double ws = importance == null ? s * s : s * s * importance[j];
        w[bin] += ws;
        wy[bin] += ws * y;
      }
    }
    int m = 0;
    double[] v = new double[BLOCK_BINS];
    double[] vw = new double[BLOCK_BINS];
    for (int bin = 0; bin < BLOCK_BINS; bin++) {
      if (w[bin] > 0) {
        v[m] = wy[bin] / w[bin] + 0.0;
        vw[m] = w[bin];
        m++;
      }
    }
    return new Points(Arrays.copyOf(v, m), Arrays.copyOf(vw, m));
  }

  /**
   * A group's codebook from the driver's start alone (no MLlib): for block round 1 and the bit
   * allocator's curves, which rank candidates. {@code quick}: one k-means++ start instead of the
   * best of several.
   */
  static Fit fitPoints(Group group, Points p, JobConfig config, boolean quick) {
    Object prepared = prepare(group, p, config, quick);
    if (!(prepared instanceof Pending pending)) {
      return (Fit) prepared;
    }
    return withPrune(group, new Fit(toCodebook(pending.init(), pending.init().length,
        pending.std(), pending.mean(), group), 0, pending.z().length, pending.initSeconds(), 0));
  }

  /** With pruning: the k - 1 fitted particles and the reserved exact 0. */
  private static Fit withPrune(Group group, Fit f) {
    if (group.spec().prune() == 0) {
      return f;
    }
    return new Fit(Codebook.of(io.sparticle.format.TensorEncoder.withZero(
        f.codebook().centroids(), true)), f.iterations(), f.points(), f.initSeconds(),
        f.mllibSeconds());
  }

  /** The driver's start: the best of several restarts, or ({@code quick}) one. */
  private static double[] start(double[] z, double[] w, int k, Group group, JobConfig config,
      boolean quick) {
    return quick
        // One k-means++ start to a fixed point: enough to rank widths (BitAllocator).
        ? WeightedKMeans1D.lloyd(z, w, WeightedKMeans1D.initPlusPlus(z, w, k,
            config.seed() + group.index()), 100, 0).centers()
        : bestInit(z, w, k, config.seed() + group.index(), config.tolerance());
  }

  record Lloyd(double[] centers, int iterations) {}

  /** MLlib's weighted Lloyd iterations of one group from the given start ({@link #lloydAll}). */
  static Lloyd lloyd(JavaSparkContext jsc, double[] z, double[] w, double[] init, int maxIterations,
      double tolerance, long seed) {
    return lloydAll(jsc, new double[][] {z}, new double[][] {w}, new double[][] {init},
        maxIterations, tolerance, seed)[0];
  }

  /**
   * Compiles the code the fits run hottest, on a daemon thread while the histogram pass runs: the
   * driver's start (k-means++ and Lloyd steps) and MLlib's per-point work (norm, nearest-centre
   * search, cluster sum, SizeEstimator), called directly on made-up groups laid out as a real run
   * lays them out (0.3-0.6 s of one core in a compress, beside the histogram pass); then one small
   * MLlib run of them as a Spark job ({@link #sparkWarmUp}). In a fresh JVM the shared MLlib run
   * otherwise spends most of its time interpreting that work and in Spark's first use of
   * MLlib's jobs. Once per JVM; call it after the histogram phase has begun (the thread carries
   * the calling thread's job group).
   */
  static void warmUp(JavaSparkContext jsc) {
    if (warmedUp) {
      return;
    }
    warmedUp = true;
    Thread t = new Thread(() -> {
      // Eight made-up groups of heavy-tailed points, started and laid out as a real run is, so
      // the compiled code sees the branches the real run takes (code compiled on other data is
      // thrown away at the first branch it never saw, and the run goes back to interpreting).
      java.util.SplittableRandom r = new java.util.SplittableRandom(0);
      int groups = 8;
      double[][] z = new double[groups][];
      double[][] w = new double[groups][];
      double[][] init = new double[groups][];
      for (int g = 0; g < groups; g++) {
        z[g] = new double[2048];
        w[g] = new double[z[g].length];
        for (int i = 0; i < z[g].length; i++) {
          z[g][i] = r.nextGaussian() / (0.3 + r.nextDouble());
          w[g][i] = 1 + r.nextInt(1000);
        }
        Arrays.sort(z[g]);
        init[g] = bestInit(z[g], w[g], 16, g, 1e-6);
      }
      Layout layout = layout(z, w, init, 0);
      org.apache.spark.mllib.clustering.EuclideanDistanceMeasure m =
          new org.apache.spark.mllib.clustering.EuclideanDistanceMeasure();
      org.apache.spark.mllib.clustering.VectorWithNorm[] centers =
          new org.apache.spark.mllib.clustering.VectorWithNorm[layout.centers().length];
      Vector[] sums = new Vector[centers.length];
      for (int c = 0; c < centers.length; c++) {
        centers[c] = new org.apache.spark.mllib.clustering.VectorWithNorm(layout.centers()[c]);
        sums[c] = Vectors.zeros(1);
      }
      // What MLlib does per point (KMeans.runWithWeight, runAlgorithmWithWeight): the point's
      // norm, its nearest centre, and the weighted sum it adds to (BLAS axpy, which on JDK 17 runs
      // through the incubator Vector API and is very slow until compiled).
      double sink = 0;
      for (int pass = 0; pass < 2; pass++) {
        scala.Option<double[]> stats = scala.Option.apply(m.computeStatistics(centers));
        for (int i = 0; i < layout.values().length; i++) {
          Vector v = Vectors.dense(layout.values()[i]);
          org.apache.spark.mllib.clustering.VectorWithNorm p =
              new org.apache.spark.mllib.clustering.VectorWithNorm(v, Vectors.norm(v, 2.0),
                  layout.weights()[i]);
          scala.Tuple2<Object, Object> best = m.findClosest(centers, stats, p);
          m.updateClusterSum(p, sums[(Integer) best._1()]);
          sink += ((Number) best._2()).doubleValue();
        }
      }
      // A persisted RDD's values are sized by SizeEstimator as they are stored.
      Object[] boxed = new Object[4096];
      for (int i = 0; i < boxed.length; i++) {
        boxed[i] = (double) i;
      }
      for (int i = 0; i < 50; i++) {
        sink += org.apache.spark.util.SizeEstimator.estimate(boxed);
      }
      if (sink < 0) {
        throw new AssertionError(); // keeps the loop from being optimized away
      }
      if (jsc != null) {
        sparkWarmUp(jsc, z, w, init);
      }
    }, "sparticle-warm-up");
    t.setDaemon(true);
    t.start();
  }

  private static volatile boolean warmedUp;

  /**
   * One real MLlib run on a few made-up points (one task), beside the phase that is running
   * when it starts (the histogram pass, whose job group it carries): the driver's first
   * closure cleaning, class loading and broadcast of MLlib's k-means, and the executors' first
   * zip, persist and reduceByKey of it, happen while that pass's last tasks leave a core idle
   * instead of in the real run (measured on MiniLM, module grouping: particleization 0.38 s ->
   * 0.25 s, the histogram pass unchanged). Only while a job of that phase is running, so it
   * never runs on its own or after the compress; any failure is ignored (it changes no result).
   */
  static void sparkWarmUp(JavaSparkContext jsc, double[][] z, double[][] w, double[][] init) {
    try {
      String group = jsc.getLocalProperty(JobPhases.GROUP);
      if (group == null) {
        return;
      }
      // The phase's first job may still be being planned: wait for it, not past its end.
      long deadline = System.nanoTime() + 2_000_000_000L;
      while (!running(jsc, group)) {
        if (jsc.statusTracker().getJobIdsForGroup(group).length > 0 || System.nanoTime() > deadline) {
          return;
        }
        Thread.sleep(10);
      }
      int groups = Math.min(4, z.length);
      double[][] zs = new double[groups][];
      double[][] ws = new double[groups][];
      double[][] is = new double[groups][];
      for (int g = 0; g < groups; g++) {
        zs[g] = Arrays.copyOf(z[g], 1024);
        ws[g] = Arrays.copyOf(w[g], 1024);
        is[g] = init[g];
      }
      jsc.setJobDescription("sparticle: warm-up of MLlib k-means on made-up points");
      lloydAll(jsc, zs, ws, is, 1, 1e-6, 0);
    } catch (Exception e) {
      // A warm-up changes no result: a stopped context or a cancelled job is not an error.
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private static boolean running(JavaSparkContext jsc, String group) {
    for (int id : jsc.statusTracker().getJobIdsForGroup(group)) {
      org.apache.spark.SparkJobInfo info = jsc.statusTracker().getJobInfo(id);
      if (info != null && info.status() == org.apache.spark.JobExecutionStatus.RUNNING) {
        return true;
      }
    }
    return false;
  }

  /** Points of a whole run above which MLlib's iterations use both partitions (both cores). */
  static final int TWO_PARTITIONS = 10_000;

  /**
   * MLlib's weighted Lloyd iterations of several groups in one run, each group {@code g} its
   * points {@code z[g]} (weights {@code w[g]}) and start {@code init[g]}: group g's values are
   * shifted into a region of their own ({@link #fitTogether} says why that keeps the groups
   * apart). One or two partitions: MLlib adds per-partition sums, and a sum of two is the same in
   * either order, so re-runs are byte-identical.
   */
  static Lloyd[] lloydAll(JavaSparkContext jsc, double[][] z, double[][] w, double[][] init,
      int maxIterations, double tolerance, long seed) {
    Layout layout = layout(z, w, init, seed);
    double[] values = layout.values();
    double[] weights = layout.weights();
    Vector[] initCenters = layout.centers();
    double[] offset = layout.offset();
    int n = values.length;
    int k = initCenters.length;
    int groups = z.length;
    // Ship two primitive arrays and build the rows on the executors: serializing hundreds of
    // thousands of boxed (Vector, weight) rows from the driver cost more than the fit itself.
    int partitions = n > TWO_PARTITIONS ? 2 : 1;
    org.apache.spark.broadcast.Broadcast<double[][]> bc = jsc.broadcast(new double[][] {values, weights});
    int total = n;
    JavaRDD<Tuple2<Vector, Object>> data = jsc.parallelize(
        partitions == 1 ? List.of(0) : List.of(0, 1), partitions).flatMap(part -> {
          double[] v = bc.value()[0];
          double[] wt = bc.value()[1];
          int from = (int) ((long) total * part / partitions);
          int to = (int) ((long) total * (part + 1) / partitions);
          List<Tuple2<Vector, Object>> rows = new ArrayList<>(to - from);
          for (int i = from; i < to; i++) {
            rows.add(new Tuple2<>(Vectors.dense(v[i]), wt[i]));
          }
          return rows.iterator();
        });
    KMeansModel model;
    try {
      model = new KMeans()
          .setK(k)
          .setMaxIterations(maxIterations)
          .setEpsilon(tolerance)
          .setSeed(seed)
          .setInitialModel(new KMeansModel(initCenters))
          // false: MLlib then caches only the points' norms, not a VectorWithNorm per point, and
          // rebuilds the points from the broadcast on each iteration. It runs one or two from
          // the driver's fixed point, and storing (and sizing) an object per point in the block
          // manager cost more than rebuilding them.
          .runWithWeight(data.rdd(), false, Option.empty());
    } finally {
      bc.destroy();
    }
    Vector[] centers = model.clusterCenters();
    Lloyd[] out = new Lloyd[groups];
    int c = 0;
    for (int g = 0; g < groups; g++) {
      double[] mine = new double[init[g].length];
      for (int i = 0; i < mine.length; i++) {
        mine[i] = centers[c++].apply(0) - offset[g];
      }
      Arrays.sort(mine);
      out[g] = new Lloyd(mine, model.numIter());
    }
    return out;
  }

  /**
   * The one MLlib run's input: every group's points shifted into a region of its own
   * ({@code values[i]}, {@code weights[i]}, group by group), the starting centres in MLlib's scan
   * order ({@link #scanOrder}) and each group's shift ({@code offset[g]}).
   */
  record Layout(double[] values, double[] weights, Vector[] centers, double[] offset) {}

  static Layout layout(double[][] z, double[][] w, double[][] init, long seed) {
    int groups = z.length;
    double[] lo = new double[groups];
    double[] hi = new double[groups];
    double widest = 0;
    int n = 0;
    int k = 0;
    for (int g = 0; g < groups; g++) {
      lo[g] = Double.POSITIVE_INFINITY;
      hi[g] = Double.NEGATIVE_INFINITY;
      for (double v : z[g]) {
        lo[g] = Math.min(lo[g], v);
        hi[g] = Math.max(hi[g], v);
      }
      for (double v : init[g]) {
        lo[g] = Math.min(lo[g], v);
        hi[g] = Math.max(hi[g], v);
      }
      widest = Math.max(widest, hi[g] - lo[g]);
      n += z[g].length;
      k += init[g].length;
    }
    // Regions lie along the line in a shuffled order (fixed seed), each starting where the one
    // before it ends plus a gap wider than any region; the first starts at 1. MLlib scans the
    // centres in array order (group by group) and computes a distance only for a centre nearer
    // than the best so far: were positions in array order, every earlier group's centres would
    // be nearer in turn and all computed; in a shuffled order a point meets about ln(groups)
    // such records before its own group.
    int[] place = new int[groups];
    for (int g = 0; g < groups; g++) {
      place[g] = g;
    }
    java.util.SplittableRandom shuffle = new java.util.SplittableRandom(seed);
    for (int g = groups - 1; g > 0; g--) {
      int r = shuffle.nextInt(g + 1);
      int t = place[g];
      place[g] = place[r];
      place[r] = t;
    }
    double gap = widest + 1;
    double[] offset = new double[groups];
    double at = 1;
    for (int g : place) {
      offset[g] = at - lo[g];
      at += hi[g] - lo[g] + gap;
    }
    double[] values = new double[n];
    double[] weights = new double[n];
    Vector[] initCenters = new Vector[k];
    int p = 0;
    int c = 0;
    for (int g = 0; g < groups; g++) {
      for (int i = 0; i < z[g].length; i++) {
        values[p] = z[g][i] + offset[g];
        weights[p++] = w[g][i];
      }
      // A group's centres in the order of scanOrder: MLlib computes a distance for each centre
      // nearer than the best so far, and in ascending order a point above the group would meet
      // every centre nearer in turn (k distances).
      double[] sorted = init[g].clone();
      Arrays.sort(sorted);
      for (int i : scanOrder(sorted.length)) {
        initCenters[c++] = Vectors.dense(sorted[i] + offset[g]);
      }
    }
    return new Layout(values, weights, initCenters, offset);
  }

  /**
   * The order in which a group's {@code n} sorted centres are handed to MLlib, which scans them
   * in that order and computes a distance only for a centre nearer than the best so far: the two
   * ends first (a point outside the group meets its nearest centre at once and computes no more
   * distances in it), then the inside breadth-first by bisection (a point inside meets about
   * log2(n) nearer-in-turn centres instead of up to n).
   */
  static int[] scanOrder(int n) {
    int[] order = new int[n];
    int m = 0;
    if (n > 0) {
      order[m++] = 0;
    }
    if (n > 1) {
      order[m++] = n - 1;
    }
    java.util.ArrayDeque<int[]> ranges = new java.util.ArrayDeque<>();
    ranges.add(new int[] {1, n - 1});
    while (!ranges.isEmpty()) {
      int[] r = ranges.poll();
      if (r[0] >= r[1]) {
        continue;
      }
      int mid = (r[0] + r[1]) >>> 1;
      order[m++] = mid;
      ranges.add(new int[] {r[0], mid});
      ranges.add(new int[] {mid + 1, r[1]});
    }
    return order;
  }

  /** k-means++ restarts tried on the driver; the best seeds MLlib's iterations. */
  static final int INIT_TRIALS = 8;
  /** Local Lloyd steps per restart: enough to rank restarts. */
  static final int INIT_LLOYD_STEPS = 10;
  /**
   * Local Lloyd steps for the chosen restart, which is carried to its fixed point: 1-D k-means can
   * creep for hundreds of steps, and each costs microseconds on prefix sums, while each step left
   * to MLlib costs a Spark job for every group of the run.
   */
  static final int INIT_LLOYD_REFINE_STEPS = 5000;

  /**
   * The start for MLlib: greedy weighted k-means++ from {@link #INIT_TRIALS} seeds, each refined
   * by a few Lloyd steps on the driver, keeping the lowest weighted inertia; then the best is
   * refined further. One k-means++ draw can land in a poor local optimum on heavy-tailed weights,
   * and restarts (as scikit-learn's n_init) make the result reliable. In one dimension a Lloyd
   * step over sorted histogram points is O(points + k) on the driver, while one MLlib iteration
   * costs a Spark job (~50 ms of scheduling): starting MLlib near its fixed point leaves it one or
   * two iterations to confirm it, which is what makes hundreds of groups affordable.
   */
  static double[] bestInit(double[] z, double[] w, int k, long seed, double tolerance) {
    // Points are sorted (GroupPoints.values); each Lloyd step is then O(k log n) on prefix sums.
    WeightedKMeans1D.Sorted sorted = new WeightedKMeans1D.Sorted(z, w);
    WeightedKMeans1D.Result best = null;
    for (int trial = 0; trial < INIT_TRIALS; trial++) {
      double[] c = WeightedKMeans1D.initPlusPlus(z, w, k, seed * 31 + trial);
      WeightedKMeans1D.Result r = sorted.lloyd(c, INIT_LLOYD_STEPS, 0);
      if (best == null || r.inertia() < best.inertia()) {
        best = r;
      }
    }
    // MLlib stops when no centre moves more than its epsilon; lloyd's tolerance is on the sum of
    // squared shifts, so the square of epsilon is at least as strict.
    return sorted.lloyd(best.centers(), INIT_LLOYD_REFINE_STEPS, tolerance * tolerance).centers();
  }

  private static Codebook toCodebook(double[] standardized, int k, double std, double mean,
      Group group) {
    float[] c = new float[k];
    for (int i = 0; i < k; i++) {
      // Pad with the largest value when there were fewer distinct values than codes.
      double z = standardized[Math.min(i, standardized.length - 1)];
      c[i] = (float) (z * std + mean);
    }
    if (standardized.length < k) {
      float max = Float.NEGATIVE_INFINITY;
      for (int i = 0; i < standardized.length; i++) {
        max = Math.max(max, c[i]);
      }
      for (int i = standardized.length; i < k; i++) {
        c[i] = max;
      }
    }
    try {
      return Codebook.of(c).roundTo(group.spec().codebookPrecision());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("Codebook of group '" + group.name() + "': " + e.getMessage(), e);
    }
  }

  /** The group's distinct (scaled) values with their counts, sorted, duplicates merged. */
  record Points(double[] values, double[] weights) {}

  /** Points in standardized units: zero weighted mean, unit weighted variance (std 1 if none). */
  record Standardized(double[] z, double mean, double std) {}

  static Standardized standardize(Points p) {
    double mean = 0;
    double total = 0;
    for (int i = 0; i < p.values.length; i++) {
      mean += p.values[i] * p.weights[i];
      total += p.weights[i];
    }
    mean /= total;
    double var = 0;
    for (int i = 0; i < p.values.length; i++) {
      double d = p.values[i] - mean;
      var += d * d * p.weights[i];
    }
    double std = Math.sqrt(var / total);
    if (!(std > 0)) {
      std = 1;
    }
    double[] z = new double[p.values.length];
    for (int i = 0; i < z.length; i++) {
      z[i] = (p.values[i] - mean) / std;
    }
    return new Standardized(z, mean, std);
  }

  /**
   * The group's points as the fit takes them: distinct values ascending, with their weights
   * ({@code weighted}: importance where the histograms carry it, else counts).
   */
  static Points points(GroupPoints points, boolean weighted) {
    return new Points(points.values(), points.weights(weighted));
  }
}
