package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;
import org.junit.jupiter.api.Test;

class WeightHistogramTest {

  @Test
  void handExample() {
    // 9 weights from -1 to 3; the quantiles are the extremes, so the range is [-1, 3] in 4 bins
    // of width 1, the last one closed.
    WeightHistogram h = WeightHistogram.of(new double[] {-1, 0, 1, 2, 3},
        new double[] {1, 2, 3, 2, 1}, 4, null);
    assertEquals(-1, h.lo());
    assertEquals(3, h.hi());
    assertEquals(1, h.binWidth());
    assertArrayEquals(new long[] {1, 2, 3, 3}, h.counts());
    assertEquals(0, h.below());
    assertEquals(0, h.above());
    assertEquals(9, h.total());
  }

  @Test
  void farTailIsCountedOutsideTheRangeAndParticlesWidenIt() {
    // 10,000 zeros and one 100: the 99.95% quantile is 0, so the 100 lies above the range.
    double[] values = {0, 100};
    double[] counts = {10_000, 1};
    WeightHistogram h = WeightHistogram.of(values, counts, 8, null);
    assertEquals(-1, h.lo()); // one distinct value in range: a range around it
    assertEquals(1, h.hi());
    assertEquals(1, h.above());
    assertEquals(100, h.max());
    assertEquals(10_001, h.total());

    WeightHistogram marked = WeightHistogram.of(values, counts, 9, new float[] {-0.5f, 4f});
    assertEquals(-0.5, marked.lo());
    assertEquals(4, marked.hi());
    assertEquals(10_000, marked.counts()[1]); // [0, 0.5)
    assertEquals(1, marked.above());
  }

  @Test
  void noPointsGiveNoHistogram() {
    assertNull(WeightHistogram.of(new double[0], new double[0], 8, new float[] {1f}));
  }

  @Test
  void rejectsMisuse() {
    assertEquals("Cannot bin 2 values with 1 counts: must be as many",
        assertThrows(IllegalArgumentException.class,
            () -> WeightHistogram.of(new double[] {1, 2}, new double[] {1}, 8, null)).getMessage());
    assertEquals("Cannot set bins to 0: must be at least 1",
        assertThrows(IllegalArgumentException.class,
            () -> WeightHistogram.of(new double[] {1}, new double[] {1}, 0, null)).getMessage());
    assertThrows(IllegalArgumentException.class,
        () -> new WeightHistogram(1, 1, new long[1], 0, 0, 1, 1));
  }

  @Test
  void randomPointsAreAllCounted() {
    Random r = new Random(7);
    for (int round = 0; round < 50; round++) {
      int n = 1 + r.nextInt(2000);
      double[] v = new double[n];
      double[] c = new double[n];
      double x = -r.nextDouble() * 10;
      long total = 0;
      for (int i = 0; i < n; i++) {
        x += r.nextDouble() + 1e-9;
        v[i] = x;
        c[i] = 1 + r.nextInt(100);
        total += (long) c[i];
      }
      int bins = 1 + r.nextInt(200);
      WeightHistogram h = WeightHistogram.of(v, c, bins, new float[] {(float) v[0], (float) v[n / 2]});
      assertEquals(total, h.total());
      assertEquals(bins, h.counts().length);
      assertEquals(v[0], h.min());
      assertEquals(v[n - 1], h.max());
    }
  }
}
