package io.sparticle.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class EmbeddingMetricsTest {

  @Test
  void ranksAverageTies() {
    assertArrayEquals(new double[] {3, 1.5, 4, 1.5, 5},
        EmbeddingMetrics.ranks(new double[] {3, 1, 4, 1, 5}), 0);
    assertArrayEquals(new double[] {2, 2, 2},
        EmbeddingMetrics.ranks(new double[] {7, 7, 7}), 0);
  }

  @Test
  void spearmanWithTiesOnOneSide() {
    // ranks x = [1, 2.5, 2.5, 4], y = [1, 3, 2, 4]; both means 2.5:
    // sxy = 2.25 + 0 + 0 + 2.25 = 4.5, sxx = 4.5, syy = 5 -> 4.5 / sqrt(22.5) = 3 / sqrt(10).
    double rho = EmbeddingMetrics.spearman(new double[] {1, 2, 2, 3}, new double[] {1, 3, 2, 4});
    assertEquals(3 / Math.sqrt(10), rho, 1e-12);
    assertEquals(0.9486832980505138, rho, 1e-12);
  }

  @Test
  void spearmanWithTiesOnBothSides() {
    // ranks x = [1, 2.5, 2.5, 4.5, 4.5], y = [3, 1, 2, 4.5, 4.5]; both means 3:
    // dx = [-2, -.5, -.5, 1.5, 1.5], dy = [0, -2, -1, 1.5, 1.5]
    // sxy = 0 + 1 + .5 + 2.25 + 2.25 = 6, sxx = 9, syy = 9.5 -> 6 / sqrt(85.5).
    double rho = EmbeddingMetrics.spearman(
        new double[] {10, 20, 20, 30, 30}, new double[] {3, 1, 2, 5, 5});
    assertEquals(6 / Math.sqrt(85.5), rho, 1e-12);
    assertEquals(0.6488856845230502, rho, 1e-12);
  }

  @Test
  void spearmanOfMonotoneMaps() {
    double[] x = {1, 2, 3, 4, 5};
    assertEquals(1.0, EmbeddingMetrics.spearman(x, new double[] {1, 8, 27, 64, 125}), 0);
    assertEquals(-1.0, EmbeddingMetrics.spearman(x, new double[] {5, 4, 3, 2, -100}), 1e-15);
    assertTrue(Double.isNaN(EmbeddingMetrics.spearman(x, new double[] {2, 2, 2, 2, 2})));
  }

  @Test
  void spearmanRejectsMismatchedLengths() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> EmbeddingMetrics.spearman(new double[] {1, 2}, new double[] {1, 2, 3}));
    assertEquals("Cannot correlate 2 values with 3", e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> EmbeddingMetrics.spearman(new double[] {1}, new double[] {1}));
    assertEquals("Spearman needs at least 2 values, got 1", e.getMessage());
  }

  private static double[] unit(double degrees) {
    double r = Math.toRadians(degrees);
    return new double[] {Math.cos(r), Math.sin(r)};
  }

  @Test
  void top1AgreementOnHandMadeEmbeddings() {
    // a: 0, 10, 90, 100 degrees -> nearest neighbours 1, 0, 3, 2.
    double[][] a = {unit(0), unit(10), unit(90), unit(100)};
    // b: 0, 50, 60, 120 degrees -> nearest neighbours 1, 2, 1, 2.
    double[][] b = {unit(0), unit(50), unit(60), unit(120)};
    assertArrayEquals(new int[] {1, 0, 3, 2}, EmbeddingMetrics.nearestNeighbours(a));
    assertArrayEquals(new int[] {1, 2, 1, 2}, EmbeddingMetrics.nearestNeighbours(b));
    // Sentences 0 and 3 agree.
    assertEquals(0.5, EmbeddingMetrics.top1Agreement(a, b), 0);
    assertEquals(1.0, EmbeddingMetrics.top1Agreement(a, a), 0);
  }

  @Test
  void nearestNeighbourTieGoesToTheLowerIndex() {
    double[][] e = {{1, 0}, {0, 1}, {0, -1}};
    assertArrayEquals(new int[] {1, 0, 0}, EmbeddingMetrics.nearestNeighbours(e));
  }

  @Test
  void cosineOfNormalizedVectors() {
    double[] v = EmbeddingMetrics.l2Normalize(new double[] {3, 4});
    assertArrayEquals(new double[] {0.6, 0.8}, v, 1e-15);
    assertEquals(0.6, EmbeddingMetrics.dot(v, EmbeddingMetrics.l2Normalize(new double[] {5, 0})),
        1e-15);
    assertEquals(1.0, EmbeddingMetrics.dot(v, v), 1e-15);
    // Opposite directions; scale does not matter after normalization.
    assertEquals(-1.0, EmbeddingMetrics.dot(v,
        EmbeddingMetrics.l2Normalize(new double[] {-300, -400})), 1e-15);
    // The zero vector stays zero instead of becoming NaN.
    assertArrayEquals(new double[] {0, 0}, EmbeddingMetrics.l2Normalize(new double[] {0, 0}), 0);
    assertArrayEquals(new double[] {0.6, 0},
        EmbeddingMetrics.rowCosines(new double[][] {v, unit(0)},
            new double[][] {unit(0), unit(90)}), 1e-15);
  }

  @Test
  void pairwiseCosinesInRowMajorPairOrder() {
    double[][] e = {unit(0), unit(90), unit(180)};
    // (0,1), (0,2), (1,2)
    assertArrayEquals(new double[] {0, -1, 0}, EmbeddingMetrics.pairwiseCosines(e), 1e-15);
  }

  @Test
  void compareSummarizesTheMetrics() {
    double[][] a = {unit(0), unit(10), unit(90), unit(100)};
    double[][] b = {unit(0), unit(50), unit(60), unit(120)};
    EvaluationResult r = EmbeddingEvaluator.compare(a, b, Pooling.CLS);
    // Per sentence cosines: cos 0, cos 40, cos 30, cos 20.
    double[] cos = {1, Math.cos(Math.toRadians(40)), Math.cos(Math.toRadians(30)),
        Math.cos(Math.toRadians(20))};
    assertEquals((cos[0] + cos[1] + cos[2] + cos[3]) / 4, r.meanCosine(), 1e-12);
    assertEquals(cos[1], r.minCosine(), 1e-12);
    assertEquals(0.5, r.top1Agreement(), 0);
    assertEquals(4, r.sentences());
    assertEquals(Pooling.CLS, r.pooling());
    assertEquals(EmbeddingMetrics.spearman(EmbeddingMetrics.pairwiseCosines(a),
        EmbeddingMetrics.pairwiseCosines(b)), r.pairwiseSpearman(), 0);
  }
}
