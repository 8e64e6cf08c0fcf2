package io.sparticle.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.quant.WeightedKMeans1D;
import java.util.Random;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.Test;

/**
 * All groups in one MLlib run: each group's centres come out as its own MLlib run gives them,
 * from a plain k-means++ start (so MLlib has many iterations to do), with groups of different
 * shapes, sizes and k, including a heavy-tailed one whose region is much wider than the others.
 */
class FitTogetherTest {

  @Test
  void oneRunForAllGroupsEqualsOneRunPerGroup() {
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(SharedSpark.get().sparkContext());
    Random r = new Random(11);
    int groups = 12;
    double[][] z = new double[groups][];
    double[][] w = new double[groups][];
    double[][] init = new double[groups][];
    for (int g = 0; g < groups; g++) {
      int n = 500 + 300 * g;
      double[] v = new double[n];
      for (int i = 0; i < n; i++) {
        double x = r.nextGaussian();
        // Group 3 heavy-tailed (Cauchy-like), group 5 two modes, the others Gaussian.
        v[i] = g == 3 ? x / Math.max(0.02, Math.abs(r.nextGaussian())) : g == 5 ? x + (i % 2 == 0 ? 4 : -4) : x;
      }
      java.util.Arrays.sort(v);
      z[g] = v;
      w[g] = new double[n];
      for (int i = 0; i < n; i++) {
        w[g][i] = 1 + r.nextInt(50);
      }
      init[g] = WeightedKMeans1D.initPlusPlus(z[g], w[g], g % 2 == 0 ? 16 : 4, g);
    }
    Particleizer.Lloyd[] together = Particleizer.lloydAll(jsc, z, w, init, 50, 1e-9, 1);
    int maxAlone = 0;
    for (int g = 0; g < groups; g++) {
      Particleizer.Lloyd alone = Particleizer.lloyd(jsc, z[g], w[g], init[g], 50, 1e-9, 1);
      maxAlone = Math.max(maxAlone, alone.iterations());
      assertEquals(init[g].length, together[g].centers().length);
      for (int c = 0; c < init[g].length; c++) {
        // Shifting into a region and back costs at most a few ulps of the region's position.
        assertEquals(alone.centers()[c], together[g].centers()[c], 1e-8,
            "group " + g + " centre " + c);
      }
    }
    // The shared run stops when its slowest group has converged.
    assertEquals(maxAlone, together[0].iterations());
    assertTrue(maxAlone > 1, "the start left MLlib work to do");
  }
}
