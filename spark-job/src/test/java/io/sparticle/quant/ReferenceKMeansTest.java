package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ReferenceKMeansTest {

  @Test
  void handMadeExample() {
    float[] data = {0f, 1f, 10f, 11f, 20f, 21f};
    WeightedKMeans1D.Result r = ReferenceKMeans.fit(data, 3, 1L);
    assertArrayEquals(new double[] {0.5, 10.5, 20.5}, r.centers(), 1e-12);
    assertEquals(1.5, r.inertia(), 1e-12);
    double sqnr = ReferenceKMeans.sqnrDb(data, r.centers());
    assertEquals(10 * Math.log10((1 + 100 + 121 + 400 + 441) / 1.5), sqnr, 1e-9);
  }

  @Test
  void kEqualToTheNumberOfPointsIsExact() {
    float[] data = {3f, -1f, 2f, 7f};
    WeightedKMeans1D.Result r = ReferenceKMeans.fit(data, 4, 5L);
    assertArrayEquals(new double[] {-1, 2, 3, 7}, r.centers(), 1e-12);
    assertEquals(0, r.inertia(), 1e-24);
  }

  @Test
  void rejectsBadInputs() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> ReferenceKMeans.fit(new float[3], 4, 0));
    assertEquals("Cannot fit 4 clusters to 3 points: need at least k points", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> ReferenceKMeans.fit(new float[3], 0, 0));
    assertEquals("Cannot fit 0 clusters: k must be at least 1", e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> ReferenceKMeans.fit(new float[] {1f, Float.NaN}, 1, 0));
    assertEquals("Cannot fit value NaN at index 1: values must be finite", e.getMessage());
  }

  /**
   * The job's path (k-means++ and sorted-sweep Lloyd on the histogram) must be as good as the
   * scikit-learn-style reference on the raw samples: within 0.1 dB of SQNR, or better.
   */
  @Test
  void histogramKMeansMatchesTheReferenceQuality() {
    float[] samples = StudentT.bf16Samples(200_000, 5, 0.02, 2025L);
    StudentT.Histogram h = StudentT.histogram(samples);
    double tolerance = ReferenceKMeans.TOL * StudentT.variance(samples);
    int k = 16;
    long[] seeds = {1L, 2L, 3L};
    double sumOurs = 0;
    double sumReference = 0;
    for (long seed : seeds) {
      WeightedKMeans1D.Result reference = ReferenceKMeans.fit(samples, k, seed);
      double[] init = WeightedKMeans1D.initPlusPlus(h.values(), h.counts(), k, seed);
      WeightedKMeans1D.Result ours =
          WeightedKMeans1D.lloyd(
              h.values(), h.counts(), init, ReferenceKMeans.MAX_ITER, tolerance);
      double refDb = ReferenceKMeans.sqnrDb(samples, reference.centers());
      double ourDb = ReferenceKMeans.sqnrDb(samples, ours.centers());
      System.out.printf(
          "seed %d: reference SQNR %.4f dB (%d iterations), histogram k-means SQNR %.4f dB"
              + " (%d iterations)%n",
          seed, refDb, reference.iterations(), ourDb, ours.iterations());
      assertEquals(
          WeightedKMeans1D.inertia(h.values(), h.counts(), ours.centers()),
          ours.inertia(),
          1e-9 * ours.inertia());
      assertTrue(
          ourDb >= refDb - 0.1,
          "seed " + seed + ": histogram k-means " + ourDb + " dB vs reference " + refDb + " dB");
      sumOurs += ourDb;
      sumReference += refDb;
    }
    double meanOurs = sumOurs / seeds.length;
    double meanReference = sumReference / seeds.length;
    System.out.printf(
        "mean over %d seeds: reference %.4f dB, histogram k-means %.4f dB%n",
        seeds.length, meanReference, meanOurs);
    assertTrue(
        meanOurs >= meanReference - 0.1,
        "histogram k-means " + meanOurs + " dB vs reference " + meanReference + " dB");
  }
}
