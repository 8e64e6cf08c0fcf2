package io.sparticle.spark;

import io.sparticle.quant.GaussianMixture1D;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.ml.clustering.GaussianMixture;
import org.apache.spark.ml.clustering.GaussianMixtureModel;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.ml.stat.distribution.MultivariateGaussian;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Fits a group's {@link GaussianMixture1D} codebook with Spark MLlib's {@code
 * ml.clustering.GaussianMixture} (EM) on the group's weighted histogram.
 *
 * <p>What is done around MLlib, and why:
 *
 * <ul>
 *   <li>Values are standardized (weighted mean 0, weighted variance 1) and the result mapped back,
 *       because MLlib's defaults suit unit-scale data; weights are normalized to sum to 1, so that
 *       MLlib's {@code tol} (an absolute bound on the change of the weighted log-likelihood sum)
 *       bounds the change of the mean log-likelihood per unit weight, whatever the counts.
 *   <li>MLlib starts from {@code k * 5} rows drawn uniformly with replacement ({@code
 *       initRandom}: {@code takeSample(true, k * numSamples, seed)}), ignoring the weight column
 *       in the draw (each start is the weighted mean and variance of its 5 rows), and takes no
 *       start of ours (SPARK-15785). On a histogram, one row per distinct value, the draw
 *       over-samples the tails. Splitting heavy points into many rows of equal share, so that the
 *       draw approximates a weighted one, was tried: on a Student-t histogram it reached the same
 *       log-likelihood (2.2331 against 2.2332) at twice the time per iteration, so one row per
 *       point it is.
 *   <li>The data go to MLlib in one partition: EM's sums are then added in one fixed order, and
 *       the same input and seed give bit-identical parameters.
 *   <li>MLlib does not regularize variances: a component can collapse onto one distinct value
 *       (its variance computed as E[x^2] - mean^2 may even come out 0 or negative, which
 *       MultivariateGaussian treats as a flat density), or lose all its weight (NaN mean). The fit
 *       is repaired before {@link GaussianMixture1D#of}: variances are raised to {@value
 *       #VARIANCE_FLOOR} of the data's variance (scikit-learn's default {@code reg_covar} in
 *       standardized units), and a component with NaN or non-positive parameters becomes a
 *       narrow one of weight {@value #EMPTY_WEIGHT} at the data's mean, which wins no weight.
 *   <li>With fewer distinct values than k there is nothing to fit: each distinct value becomes a
 *       component (equal weights, equal variance (min gap / 4)^2, so each value decodes exactly)
 *       and the remaining codes are padded with components of weight {@value #EMPTY_WEIGHT} on the
 *       largest value, which never win.
 * </ul>
 *
 * <pre>{@code
 * GmmFitter.Fit fit = GmmFitter.fit(spark, values, counts, 16, 100, 1e-6, 42);
 * GaussianMixture1D gmm = fit.mixture();
 * int code = gmm.code(weight);
 * float decoded = gmm.codebook()[code];
 * }</pre>
 */
public final class GmmFitter {
  private GmmFitter() {}

  /** Variances are at least this fraction of the data's weighted variance. */
  public static final double VARIANCE_FLOOR = 1e-6;
  /** The mixing weight given to an empty or broken component (before renormalization). */
  public static final double EMPTY_WEIGHT = 1e-9;

  /**
   * A fitted mixture.
   *
   * @param mixture the repaired mixture, in the values' units
   * @param iterations MLlib's EM iterations (0 when nothing was fitted)
   * @param logLikelihood the mixture's mean log-likelihood per unit weight of the points, in the
   *     values' units
   * @param seconds wall time of the whole fit
   */
  public record Fit(GaussianMixture1D mixture, int iterations, double logLikelihood, double seconds) {}

  /**
   * Fits k components to the weighted points {@code values[i]} with weight {@code weights[i]}
   * (duplicates merge, zero weights drop out), deterministically for a given seed.
   *
   * @throws IllegalArgumentException on mismatched or empty arrays, non-finite values, negative or
   *     non-finite weights, no positive weight, k not from 2 to 256, maxIter &lt; 1,
   *     or tol negative or not finite
   * @throws IllegalStateException if every component of MLlib's result is broken
   */
  public static Fit fit(SparkSession spark, double[] values, double[] weights, int k, int maxIter,
      double tol, long seed) {
    long t0 = System.nanoTime();
    check(values, weights, k, maxIter, tol);
    double[][] points = merge(values, weights);
    double[] x = points[0];
    double[] w = points[1];
    int n = x.length;
    if (n < k) {
      GaussianMixture1D g = fewerValuesThanCodes(x, k);
      return new Fit(g, 0, logLikelihood(g, x, w), (System.nanoTime() - t0) / 1e9);
    }

    double total = 0;
    double mean = 0;
    for (int i = 0; i < n; i++) {
      total += w[i];
      mean += w[i] * x[i];
    }
    mean /= total;
    double var = 0;
    for (int i = 0; i < n; i++) {
      double d = x[i] - mean;
      var += w[i] * d * d;
    }
    // n >= k >= 2 distinct values with positive weight: the variance is positive.
    double std = Math.sqrt(var / total);
    double[] z = new double[n];
    double[] share = new double[n];
    for (int i = 0; i < n; i++) {
      z[i] = (x[i] - mean) / std;
      share[i] = w[i] / total;
    }

    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    String description = jsc.getLocalProperty("spark.job.description");
    jsc.setJobDescription("sparticle: GMM fit (k=" + k + ", " + n + " points)");
    GaussianMixtureModel model;
    try {
      model = new GaussianMixture()
          .setK(k)
          .setMaxIter(maxIter)
          .setTol(tol)
          .setSeed(seed)
          .setFeaturesCol("features")
          .setWeightCol("weight")
          .fit(rows(spark, jsc, z, share));
    } finally {
      jsc.setJobDescription(description); // the phase's, or the caller's
    }
    GaussianMixture1D g = repair(model, mean, std);
    return new Fit(g, model.summary().numIter(), logLikelihood(g, x, w),
        (System.nanoTime() - t0) / 1e9);
  }

  private static void check(double[] values, double[] weights, int k, int maxIter, double tol) {
    if (values.length != weights.length) {
      throw new IllegalArgumentException("Cannot fit " + values.length + " values with "
          + weights.length + " weights: lengths must match");
    }
    if (k < 2 || k > 256) {
      throw new IllegalArgumentException(
          "Cannot fit " + k + " components: must be from 2 to 256");
    }
    if (maxIter < 1) {
      throw new IllegalArgumentException(
          "Cannot set maxIter to " + maxIter + ": must be at least 1");
    }
    if (!(tol >= 0) || !Double.isFinite(tol)) {
      throw new IllegalArgumentException(
          "Cannot set tol to " + tol + ": must be finite and non-negative");
    }
    boolean positive = false;
    for (int i = 0; i < values.length; i++) {
      if (!Double.isFinite(values[i]) || Math.abs(values[i]) > Float.MAX_VALUE) {
        throw new IllegalArgumentException("Cannot fit value " + values[i] + " at index " + i
            + ": values must be finite floats");
      }
      if (!(weights[i] >= 0) || !Double.isFinite(weights[i])) {
        throw new IllegalArgumentException("Cannot fit weight " + weights[i] + " at index " + i
            + ": weights must be finite and non-negative");
      }
      positive |= weights[i] > 0;
    }
    if (!positive) {
      throw new IllegalArgumentException(
          "Cannot fit " + values.length + " points: no point has a positive weight");
    }
  }

  /** The distinct values of positive weight, ascending, with their summed weights. */
  private static double[][] merge(double[] values, double[] weights) {
    int n = values.length;
    double[] v = new double[n];
    double[] w = new double[n];
    Integer[] idx = new Integer[n];
    int m = 0;
    for (int i = 0; i < n; i++) {
      if (weights[i] > 0) {
        idx[m++] = i;
      }
    }
    // + 0.0 folds -0.0 into 0.0, so that they merge.
    Arrays.sort(idx, 0, m, (a, b) -> Double.compare(values[a] + 0.0, values[b] + 0.0));
    int distinct = 0;
    for (int j = 0; j < m; j++) {
      double value = values[idx[j]] + 0.0;
      if (distinct > 0 && v[distinct - 1] == value) {
        w[distinct - 1] += weights[idx[j]];
      } else {
        v[distinct] = value;
        w[distinct++] = weights[idx[j]];
      }
    }
    return new double[][] {Arrays.copyOf(v, distinct), Arrays.copyOf(w, distinct)};
  }

  /** See the class comment: one component per distinct value, padded on the largest. */
  private static GaussianMixture1D fewerValuesThanCodes(double[] x, int k) {
    int n = x.length;
    double gap = n > 1 ? Double.POSITIVE_INFINITY : Math.max(Math.abs(x[0]), 1);
    for (int i = 1; i < n; i++) {
      gap = Math.min(gap, x[i] - x[i - 1]);
    }
    double[] weights = new double[k];
    double[] means = new double[k];
    double[] variances = new double[k];
    for (int c = 0; c < k; c++) {
      weights[c] = c < n ? 1 : EMPTY_WEIGHT;
      means[c] = x[Math.min(c, n - 1)];
      variances[c] = gap * gap / 16;
    }
    return GaussianMixture1D.of(weights, means, variances);
  }

  /**
   * The points as MLlib's rows, built on the executor from two primitive arrays (cheaper to ship
   * than boxed rows), in one partition.
   */
  private static Dataset<Row> rows(SparkSession spark, JavaSparkContext jsc, double[] z,
      double[] share) {
    JavaRDD<Row> rows = jsc.parallelize(List.of(0), 1).flatMap(ignored -> {
      List<Row> out = new ArrayList<>(z.length);
      for (int i = 0; i < z.length; i++) {
        out.add(RowFactory.create(Vectors.dense(z[i]), share[i]));
      }
      return out.iterator();
    });
    StructType schema = new StructType(new StructField[] {
        new StructField("features", SQLDataTypes.VectorType(), false, Metadata.empty()),
        new StructField("weight", DataTypes.DoubleType, false, Metadata.empty())});
    return spark.createDataFrame(rows, schema);
  }

  /** MLlib's components mapped back to the values' units, repaired (see the class comment). */
  private static GaussianMixture1D repair(GaussianMixtureModel model, double mean, double std) {
    double[] pi = model.weights();
    MultivariateGaussian[] gaussians = model.gaussians();
    int k = pi.length;
    double[] weights = new double[k];
    double[] means = new double[k];
    double[] variances = new double[k];
    int broken = 0;
    for (int c = 0; c < k; c++) {
      double m = gaussians[c].mean().apply(0);
      double v = gaussians[c].cov().apply(0, 0);
      if (!(pi[c] > 0) || !Double.isFinite(pi[c]) || !Double.isFinite(m) || Double.isNaN(v)) {
        broken++;
        weights[c] = EMPTY_WEIGHT;
        means[c] = mean;
        variances[c] = VARIANCE_FLOOR * std * std;
        continue;
      }
      weights[c] = pi[c];
      means[c] = mean + std * m;
      variances[c] = Math.max(v, VARIANCE_FLOOR) * std * std;
    }
    if (broken == k) {
      throw new IllegalStateException(
          "Cannot use MLlib's Gaussian mixture of " + k + " components: every component is NaN");
    }
    return GaussianMixture1D.of(weights, means, variances);
  }

  /** Mean log-likelihood per unit weight of the points under g (log-sum-exp over components). */
  static double logLikelihood(GaussianMixture1D g, double[] x, double[] w) {
    double[] pi = g.weights();
    double[] mu = g.means();
    double[] var = g.variances();
    int k = pi.length;
    double[] logTerm = new double[k];
    for (int c = 0; c < k; c++) {
      logTerm[c] = Math.log(pi[c]) - 0.5 * Math.log(2 * Math.PI * var[c]);
    }
    double[] s = new double[k];
    double sum = 0;
    double total = 0;
    for (int i = 0; i < x.length; i++) {
      double max = Double.NEGATIVE_INFINITY;
      for (int c = 0; c < k; c++) {
        double d = x[i] - mu[c];
        s[c] = logTerm[c] - d * d / (2 * var[c]);
        max = Math.max(max, s[c]);
      }
      double e = 0;
      for (int c = 0; c < k; c++) {
        e += Math.exp(s[c] - max);
      }
      sum += w[i] * (max + Math.log(e));
      total += w[i];
    }
    return sum / total;
  }
}
