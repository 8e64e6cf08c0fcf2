package io.sparticle.quant;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * A straightforward port of scikit-learn's {@code KMeans(n_clusters=k, init='k-means++',
 * n_init=1, max_iter=300, tol=1e-4, algorithm='lloyd')} for unweighted 1-D data, used as the
 * quality reference in tests and benchmarks (scikit-learn itself cannot be installed here). It is
 * deliberately simple and O(n k) per iteration; the job uses {@link WeightedKMeans1D}.
 *
 * <p>Reproduced, following the current {@code sklearn/cluster/_kmeans.py} and
 * {@code _k_means_common.pyx}:
 *
 * <ul>
 *   <li>data are centered on their mean before clustering and the mean added back to the centers;
 *   <li>the tolerance is relative: {@code tol * var(X)} (population variance), compared with the
 *       sum of squared center shifts of an iteration;
 *   <li>greedy k-means++ ({@code _kmeans_plusplus}): first center drawn uniformly (numpy {@code
 *       choice}: first index whose cumulative probability exceeds the draw), then {@code 2 +
 *       int(log k)} candidates per step drawn with {@code searchsorted(cumsum(D^2), u *
 *       potential)} (side left, clipped to n-1), keeping the one with the lowest potential (first
 *       on ties);
 *   <li>Lloyd: assign each point to the nearest center (lowest index on ties), move each center
 *       to the mean of its points (multiplying by {@code 1.0 / count}, as {@code _average_centers}
 *       does); empty clusters are relocated as in {@code _relocate_empty_clusters_dense}: the
 *       farthest points from their (old) centers become the new centers and are taken out of their
 *       old clusters' sums, unless every point sits exactly on its center; a cluster still empty
 *       takes the position of the heaviest cluster's entry at that moment (the loop-order quirk of
 *       {@code _average_centers} included);
 *   <li>stopping: strict convergence when the labels did not change, else when the center shift
 *       is within the tolerance, else after 300 iterations; when not strictly converged, a final
 *       assignment step so that the inertia is the one of the final centers; the reported
 *       iteration count is scikit-learn's {@code n_iter_}.
 * </ul>
 *
 * <p>Not reproduced:
 *
 * <ul>
 *   <li>the random stream: numpy's MT19937 {@code RandomState} is replaced by {@link
 *       SplittableRandom}, so for a given seed the initial centers differ and results agree with
 *       scikit-learn in distribution (quality), not bit for bit;
 *   <li>precision: scikit-learn keeps float32 input in float32; this class widens to double, as if
 *       {@code X.astype(np.float64)} had been passed;
 *   <li>distances: scikit-learn computes squared distances as {@code |x|^2 - 2 x c + |c|^2} with
 *       BLAS and sums with numpy's pairwise summation; this class computes {@code (x - c)^2} and
 *       sums left to right, so near-ties may break differently;
 *   <li>the order among several relocated empty clusters (numpy's {@code argpartition} leaves it
 *       unspecified; here the farthest point goes to the lowest empty cluster);
 *   <li>sample weights, {@code n_init > 1}, Elkan, sparse input, and the "fewer distinct clusters
 *       than n_clusters" warning.
 * </ul>
 *
 * <pre>{@code
 * WeightedKMeans1D.Result ref = ReferenceKMeans.fit(weights, 16, 42L);
 * double db = ReferenceKMeans.sqnrDb(weights, ref.centers());
 * }</pre>
 */
public final class ReferenceKMeans {
  /** scikit-learn's default {@code max_iter}. */
  public static final int MAX_ITER = 300;

  /** scikit-learn's default relative {@code tol}. */
  public static final double TOL = 1e-4;

  private ReferenceKMeans() {}

  /**
   * Clusters {@code data} into {@code k} clusters.
   *
   * @return the centers (ascending), the inertia (sum of squared distances to the nearest center)
   *     and the number of iterations
   * @throws IllegalArgumentException if {@code k < 1}, there are fewer points than {@code k}, or
   *     a value is not finite
   */
  public static WeightedKMeans1D.Result fit(float[] data, int k, long seed) {
    int n = data.length;
    if (k < 1) {
      throw new IllegalArgumentException("Cannot fit " + k + " clusters: k must be at least 1");
    }
    if (n < k) {
      throw new IllegalArgumentException(
          "Cannot fit " + k + " clusters to " + n + " points: need at least k points");
    }
    double[] x = new double[n];
    double sum = 0;
    for (int i = 0; i < n; i++) {
      if (!Float.isFinite(data[i])) {
        throw new IllegalArgumentException(
            "Cannot fit value " + data[i] + " at index " + i + ": values must be finite");
      }
      x[i] = data[i];
      sum += x[i];
    }
    double mean = sum / n;
    double sumSquares = 0;
    for (int i = 0; i < n; i++) {
      x[i] -= mean;
      sumSquares += x[i] * x[i];
    }
    double tolerance = TOL * (sumSquares / n);

    double[] centers = kMeansPlusPlus(x, k, new SplittableRandom(seed));
    int[] labels = new int[n];
    int[] labelsOld = new int[n];
    Arrays.fill(labels, -1);
    Arrays.fill(labelsOld, -1);
    double[] centersNew = new double[k];
    double[] weightInClusters = new double[k];

    boolean strictConvergence = false;
    int i = 0;
    for (; i < MAX_ITER; i++) {
      double shift = lloydIteration(x, centers, centersNew, weightInClusters, labels);
      double[] t = centers;
      centers = centersNew;
      centersNew = t;
      if (Arrays.equals(labels, labelsOld)) {
        strictConvergence = true;
        break;
      } else if (shift <= tolerance) {
        break;
      }
      System.arraycopy(labels, 0, labelsOld, 0, n);
    }
    int iterations = Math.min(i + 1, MAX_ITER);
    if (!strictConvergence) {
      assign(x, centers, labels);
    }
    double inertia = 0;
    for (int p = 0; p < n; p++) {
      double d = x[p] - centers[labels[p]];
      inertia += d * d;
    }
    for (int c = 0; c < k; c++) {
      centers[c] += mean;
    }
    Arrays.sort(centers);
    return new WeightedKMeans1D.Result(centers, inertia, iterations);
  }

  /**
   * SQNR in dB of replacing each value by its nearest center: 10 log10(sum x^2 / sum (x -
   * nearest)^2), with the edge cases of {@link ErrorStats#sqnrDb}.
   */
  public static double sqnrDb(float[] data, double[] centers) {
    double[] sorted = centers.clone();
    Arrays.sort(sorted);
    ErrorStats stats = new ErrorStats();
    for (float v : data) {
      stats.add(v, sorted[WeightedKMeans1D.nearestSorted(sorted, v)]);
    }
    return stats.sqnrDb();
  }

  private static double[] kMeansPlusPlus(double[] x, int k, SplittableRandom random) {
    int n = x.length;
    double[] centers = new double[k];
    // choice(n, p=ones/n): first index whose cumulative share (i+1)/n exceeds the draw.
    int first = (int) Math.min((long) (random.nextDouble() * n), n - 1);
    centers[0] = x[first];

    double[] closest = new double[n];
    double potential = 0;
    for (int i = 0; i < n; i++) {
      double d = x[i] - centers[0];
      closest[i] = d * d;
      potential += closest[i];
    }
    int trials = 2 + (int) Math.log(k);
    int[] candidateIds = new int[trials];
    double[] cumulative = new double[n];
    double[] candidateDistances = new double[n];
    double[] bestDistances = new double[n];
    for (int c = 1; c < k; c++) {
      double running = 0;
      for (int i = 0; i < n; i++) {
        running += closest[i];
        cumulative[i] = running;
      }
      for (int t = 0; t < trials; t++) {
        double r = random.nextDouble() * potential;
        candidateIds[t] = Math.min(lowerBound(cumulative, r), n - 1);
      }
      double bestPotential = Double.POSITIVE_INFINITY;
      int best = -1;
      for (int t = 0; t < trials; t++) {
        double candidate = x[candidateIds[t]];
        double pot = 0;
        for (int i = 0; i < n; i++) {
          double d = x[i] - candidate;
          candidateDistances[i] = Math.min(closest[i], d * d);
          pot += candidateDistances[i];
        }
        if (best < 0 || pot < bestPotential) {
          best = t;
          bestPotential = pot;
          double[] swap = bestDistances;
          bestDistances = candidateDistances;
          candidateDistances = swap;
        }
      }
      centers[c] = x[candidateIds[best]];
      potential = bestPotential;
      double[] swap = closest;
      closest = bestDistances;
      bestDistances = swap;
    }
    return centers;
  }

  /** First index with a[i] >= r (numpy searchsorted side='left'). */
  private static int lowerBound(double[] a, double r) {
    int lo = 0;
    int hi = a.length;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (a[mid] < r) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  /** Brute-force nearest center, lowest index on ties (np.argmin). */
  private static void assign(double[] x, double[] centers, int[] labels) {
    for (int i = 0; i < x.length; i++) {
      double best = Double.POSITIVE_INFINITY;
      int label = 0;
      for (int j = 0; j < centers.length; j++) {
        double d = x[i] - centers[j];
        d *= d;
        if (d < best) {
          best = d;
          label = j;
        }
      }
      labels[i] = label;
    }
  }

  /** One {@code lloyd_iter_chunked_dense}; returns the sum of squared center shifts. */
  private static double lloydIteration(
      double[] x, double[] centers, double[] centersNew, double[] weightInClusters, int[] labels) {
    int k = centers.length;
    assign(x, centers, labels);
    Arrays.fill(centersNew, 0);
    Arrays.fill(weightInClusters, 0);
    for (int i = 0; i < x.length; i++) {
      centersNew[labels[i]] += x[i];
      weightInClusters[labels[i]] += 1;
    }
    relocateEmptyClusters(x, centers, centersNew, weightInClusters, labels);
    // _average_centers, including its loop order: an empty cluster copies the heaviest cluster's
    // entry, which is still a sum if that cluster comes later.
    int argmaxWeight = 0;
    for (int j = 1; j < k; j++) {
      if (weightInClusters[j] > weightInClusters[argmaxWeight]) {
        argmaxWeight = j;
      }
    }
    for (int j = 0; j < k; j++) {
      if (weightInClusters[j] > 0) {
        double alpha = 1.0 / weightInClusters[j];
        centersNew[j] *= alpha;
      } else {
        centersNew[j] = centersNew[argmaxWeight];
      }
    }
    double shift = 0;
    for (int j = 0; j < k; j++) {
      double d = centersNew[j] - centers[j];
      shift += d * d;
    }
    return shift;
  }

  private static void relocateEmptyClusters(
      double[] x,
      double[] centersOld,
      double[] centersNew,
      double[] weightInClusters,
      int[] labels) {
    int k = centersOld.length;
    // The empty set is fixed up front: relocation may empty a one-point cluster, which is not
    // refilled in this iteration.
    int[] empty = new int[k];
    int nEmpty = 0;
    for (int j = 0; j < k; j++) {
      if (weightInClusters[j] == 0) {
        empty[nEmpty++] = j;
      }
    }
    if (nEmpty == 0) {
      return;
    }
    int n = x.length;
    double[] distances = new double[n];
    double maxDistance = 0;
    for (int i = 0; i < n; i++) {
      double d = x[i] - centersOld[labels[i]];
      distances[i] = d * d;
      maxDistance = Math.max(maxDistance, distances[i]);
    }
    if (maxDistance == 0) {
      return;
    }
    // The nEmpty farthest points, farthest first (nEmpty is small: a selection pass each).
    boolean[] taken = new boolean[n];
    for (int e = 0; e < nEmpty; e++) {
      int j = empty[e];
      int far = -1;
      for (int i = 0; i < n; i++) {
        if (!taken[i] && (far < 0 || distances[i] > distances[far])) {
          far = i;
        }
      }
      taken[far] = true;
      int old = labels[far];
      centersNew[old] -= x[far];
      centersNew[j] = x[far];
      weightInClusters[j] = 1;
      weightInClusters[old] -= 1;
    }
  }
}
