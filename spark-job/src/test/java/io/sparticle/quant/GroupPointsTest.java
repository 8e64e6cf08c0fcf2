package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

class GroupPointsTest {

  private static ValueHistogram bf16(int tensor, float... values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      b.putShort((short) (Float.floatToRawIntBits(v) >>> 16));
    }
    ValueHistogram.Accumulator acc = ValueHistogram.accumulator(ValueKind.BF16);
    acc.addLittleEndian(b.array(), 0, values.length);
    return acc.finish(tensor);
  }

  private static ValueHistogram f32(int tensor, float... values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      b.putFloat(v);
    }
    ValueHistogram.Accumulator acc = ValueHistogram.accumulator(ValueKind.F32);
    acc.addLittleEndian(b.array(), 0, values.length);
    return acc.finish(tensor);
  }

  private static GroupPoints of(ValueHistogram h, double scale) {
    return GroupPoints.of(h, scale, ValueHistogram.Outliers.NONE, ValueHistogram.Pruned.NONE);
  }

  @Test
  void handExample() {
    // 1.0 x2, -2.0, 0.5, +0 and -0 (one bin), scale 2.
    GroupPoints p = of(bf16(0, 1f, 1f, -2f, 0.5f, 0f, -0f), 2);
    assertArrayEquals(new double[] {-1, 0, 0.25, 0.5}, p.values());
    assertArrayEquals(new double[] {1, 2, 1, 2}, p.weights(false));
    assertEquals(6, p.totalCount());
    assertEquals(4, p.size());
  }

  @Test
  void unscaledBf16IsExact() {
    Random r = new Random(1);
    float[] v = new float[20_000];
    for (int i = 0; i < v.length; i++) {
      v[i] = Float.intBitsToFloat(Float.floatToRawIntBits((float) r.nextGaussian() * 0.02f) & 0xFFFF0000);
    }
    ValueHistogram h = bf16(0, v);
    GroupPoints p = of(h, 1);
    assertEquals(h.size(), p.size());
    double[] x = p.values();
    double[] w = p.weights(false);
    // Same values and counts as the histogram's exact bins, ascending.
    double[][] bins = new double[h.size()][];
    for (int i = 0; i < h.size(); i++) {
      bins[i] = new double[] {h.value(i), h.count(i)};
    }
    Arrays.sort(bins, (a, b) -> Double.compare(a[0], b[0]));
    for (int i = 0; i < bins.length; i++) {
      assertEquals(bins[i][0], x[i], "value " + i);
      assertEquals(bins[i][1], w[i], "count " + i);
    }
  }

  @Test
  void binMeanIsWithinTheStatedBoundAndMergeOrderDoesNotMatter() {
    Random r = new Random(7);
    GroupPoints[] parts = new GroupPoints[6];
    double sum = 0;
    long n = 0;
    for (int t = 0; t < parts.length; t++) {
      float[] v = new float[5_000];
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) (r.nextGaussian() * (t + 1) * 0.01);
      }
      ValueHistogram h = f32(t, v);
      double scale = (t + 1) * 0.01;
      parts[t] = of(h, scale);
      for (float x : v) {
        sum += (float) (x / scale);
      }
      n += v.length;
    }
    GroupPoints forward = parts[0];
    for (int t = 1; t < parts.length; t++) {
      forward = forward.merge(parts[t]);
    }
    GroupPoints tree = parts[5].merge(parts[3]).merge(parts[1].merge(parts[4]))
        .merge(parts[2].merge(parts[0]));
    assertArrayEquals(forward.values(), tree.values());
    assertArrayEquals(forward.weights(false), tree.weights(false));
    assertEquals(n, forward.totalCount());
    assertTrue(forward.size() <= 1 << GroupPoints.BIN_SHIFT);
    double[] x = forward.values();
    double[] w = forward.weights(false);
    double mean = 0;
    for (int i = 0; i < x.length; i++) {
      mean += x[i] * w[i];
      if (i > 0) {
        assertTrue(x[i] > x[i - 1], "ascending and distinct at " + i);
      }
    }
    // Bins keep first moments: the weighted mean matches the values' mean (up to the F32
    // histogram's own bin means, within 2^-11).
    assertEquals(sum / n, mean / n, 1e-3);
  }

  @Test
  void manyTensorsStayBounded() {
    Random r = new Random(3);
    GroupPoints all = GroupPoints.empty(false);
    for (int t = 0; t < 200; t++) {
      float[] v = new float[4_000];
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) (r.nextGaussian() * 0.02 * (1 + t % 7));
      }
      ValueHistogram h = bf16(t, v);
      all = all.merge(of(h, h.rms()));
    }
    assertEquals(800_000, all.totalCount());
    // 16-bit bins of values within a few binades around 1: a few thousand points, not 800,000.
    assertTrue(all.size() < 10_000, "points: " + all.size());
  }

  @Test
  void outliersAndPrunedAreLeftOut() {
    ValueHistogram h = bf16(0, 0.001f, -0.002f, 0.5f, 1f, -8f, 9f);
    GroupPoints p = GroupPoints.of(h, 1, new ValueHistogram.Outliers(4f, 2),
        new ValueHistogram.Pruned(0.002f, 2));
    assertArrayEquals(new double[] {0.5, 1}, p.values());
  }

  @Test
  void importanceWeightsMergeWithCounts() {
    ValueHistogram.Accumulator acc = ValueHistogram.accumulator(ValueKind.BF16);
    ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
    b.putShort((short) 0x3F80).putShort((short) 0x4000); // 1.0, 2.0
    acc.addLittleEndian(b.array(), 0, 2, Importance.of(new float[] {3f, 5f}, new long[] {2}, 0), 0);
    GroupPoints weighted = of(acc.finish(0), 1);
    GroupPoints plain = of(bf16(1, 2f, 4f), 1);
    GroupPoints m = plain.merge(weighted);
    assertArrayEquals(new double[] {1, 2, 4}, m.values());
    assertArrayEquals(new double[] {3, 6, 1}, m.weights(true));
    assertArrayEquals(new double[] {1, 2, 1}, m.weights(false));
  }

  @Test
  void rejectsBadScale() {
    ValueHistogram h = bf16(0, 1f);
    assertThrows(IllegalArgumentException.class, () -> of(h, 0));
    assertThrows(IllegalArgumentException.class, () -> of(h, Double.NaN));
  }
}
