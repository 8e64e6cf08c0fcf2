package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

class ValueHistogramTest {

  private static byte[] le16(int... patterns) {
    ByteBuffer b = ByteBuffer.allocate(patterns.length * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (int p : patterns) {
      b.putShort((short) p);
    }
    return b.array();
  }

  private static byte[] le32(float... values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      b.putFloat(v);
    }
    return b.array();
  }

  private static byte[] le32Bits(int... bits) {
    ByteBuffer b = ByteBuffer.allocate(bits.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (int v : bits) {
      b.putInt(v);
    }
    return b.array();
  }

  private static ValueHistogram histogram(ValueKind kind, int tensor, byte[] bytes) {
    ValueHistogram.Accumulator acc = ValueHistogram.accumulator(kind);
    acc.addLittleEndian(bytes, 0, bytes.length / kind.byteSize());
    return acc.finish(tensor);
  }

  private static void assertSameBins(ValueHistogram expected, ValueHistogram actual) {
    assertEquals(expected.tensor(), actual.tensor());
    assertEquals(expected.kind(), actual.kind());
    assertEquals(expected.size(), actual.size());
    for (int i = 0; i < expected.size(); i++) {
      assertEquals(expected.count(i), actual.count(i), "bin " + i);
      assertEquals(expected.value(i), actual.value(i), "bin " + i);
    }
    assertEquals(expected.nonFinite(), actual.nonFinite());
    assertEquals(expected.totalCount(), actual.totalCount());
  }

  @Test
  void bf16HandExample() {
    // 1.0 x3, -2.0 x2, 0.5, +0, -0, two NaNs, +Inf, -Inf; the first value is skipped by offset.
    byte[] bytes = le16(0x4000, 0x3F80, 0xC000, 0x7FC0, 0x3F80, 0x0000, 0x3F00, 0xFF80, 0xC000,
        0x8000, 0xFFC1, 0x3F80, 0x7F80);
    ValueHistogram.Accumulator acc = ValueHistogram.accumulator(ValueKind.BF16);
    acc.addLittleEndian(bytes, 2, 5);
    acc.addLittleEndian(bytes, 12, 7);
    ValueHistogram h = acc.finish(7);

    assertEquals(7, h.tensor());
    assertEquals(ValueKind.BF16, h.kind());
    // Bins in key order: +0 (0x0000), 0.5 (0x3F00), 1.0 (0x3F80), -0 (0x8000), -2.0 (0xC000).
    assertEquals(5, h.size());
    long[] counts = {1, 1, 3, 1, 2};
    double[] values = {0.0, 0.5, 1.0, -0.0, -2.0};
    for (int i = 0; i < 5; i++) {
      assertEquals(counts[i], h.count(i), "bin " + i);
      assertEquals(values[i], h.value(i), "bin " + i);
    }
    assertEquals(4, h.nonFinite());
    assertEquals(8, h.totalCount());
    assertEquals(Math.sqrt((3 * 1.0 + 2 * 4.0 + 0.25) / 8), h.rms());
  }

  @Test
  void f16HandExample() {
    // 1.0 x2, -2.0, 0.5 x3, smallest subnormal 2^-24, +Inf, -Inf, quiet NaN, signalling NaN.
    ValueHistogram h = histogram(ValueKind.F16, 0, le16(0x3C00, 0x3800, 0x7C00, 0xC000, 0x3800,
        0x0001, 0x7E00, 0x3C00, 0xFC00, 0x3800, 0x7C01));
    assertEquals(4, h.size());
    long[] counts = {1, 3, 2, 1};
    double[] values = {0x1p-24, 0.5, 1.0, -2.0};
    for (int i = 0; i < 4; i++) {
      assertEquals(counts[i], h.count(i), "bin " + i);
      assertEquals(values[i], h.value(i), "bin " + i);
    }
    assertEquals(4, h.nonFinite());
    assertEquals(7, h.totalCount());
    assertEquals(Math.sqrt((2 * 1.0 + 4.0 + 3 * 0.25 + 0x1p-48) / 7), h.rms());
  }

  @Test
  void every16BitPatternOnce() {
    for (ValueKind kind : new ValueKind[] {ValueKind.F16, ValueKind.BF16}) {
      int[] all = new int[1 << 16];
      for (int i = 0; i < all.length; i++) {
        all[i] = i;
      }
      ValueHistogram h = histogram(kind, 1, le16(all));
      // Non-finite: exponent all ones, both signs, every fraction (10 bits for F16, 7 for BF16).
      long nonFinite = kind == ValueKind.F16 ? 2 * 1024 : 2 * 128;
      assertEquals(nonFinite, h.nonFinite(), kind.name());
      assertEquals(65536 - nonFinite, h.totalCount(), kind.name());
      assertEquals(65536 - nonFinite, h.size(), kind.name());
      for (int i = 0; i < h.size(); i++) {
        assertEquals(1, h.count(i));
        assertTrue(Double.isFinite(h.value(i)));
      }
    }
  }

  @Test
  void emptyHistogram() {
    ValueHistogram h = ValueHistogram.accumulator(ValueKind.F32).finish(2);
    assertEquals(0, h.size());
    assertEquals(0, h.totalCount());
    assertEquals(0, h.nonFinite());
    assertEquals(0.0, h.rms());
    ValueHistogram nan = histogram(ValueKind.BF16, 2, le16(0x7FC0, 0x7F80));
    assertEquals(0, nan.size());
    assertEquals(2, nan.nonFinite());
    assertEquals(0.0, nan.rms());
  }

  @Test
  void f32HandExample() {
    float up = Math.nextUp(1.0f);
    ValueHistogram h = histogram(ValueKind.F32, 3, le32(1.0f, Float.NaN, up, -3.5f, 1.0f,
        Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1.25f));
    // Bins: 1.0 and nextUp(1.0) share their top 20 bits; 1.25; then the negative -3.5.
    assertEquals(3, h.size());
    assertEquals(3, h.count(0));
    assertEquals((1.0 + 1.0 + (double) up) / 3, h.value(0));
    assertEquals(1, h.count(1));
    assertEquals(1.25, h.value(1));
    assertEquals(1, h.count(2));
    assertEquals(-3.5, h.value(2));
    assertEquals(3, h.nonFinite());
    assertEquals(5, h.totalCount());
    double sq = 1.0 + (double) up * up + 12.25 + 1.0 + 1.5625;
    assertEquals(Math.sqrt(sq / 5), h.rms(), 1e-15);
  }

  @Test
  void f32NanPayloadsAreNonFinite() {
    ValueHistogram h = histogram(ValueKind.F32, 0,
        le32Bits(0x7F800001, 0xFFFFFFFF, 0x7FC00000, 0xFF800000, 0x3F800000));
    assertEquals(4, h.nonFinite());
    assertEquals(1, h.size());
    assertEquals(1.0, h.value(0));
  }

  /** Normal floats around a few centres, so many values share a bin. */
  private static float[] randomFloats(Random random, int n) {
    float[] out = new float[n];
    for (int i = 0; i < n; i++) {
      int exponent = 100 + random.nextInt(40);              // normal, 2^-27 .. 2^12
      int mantissa = random.nextInt(4) == 0 ? random.nextInt(1 << 23)
          : (random.nextInt(8) << 12) | random.nextInt(1 << 12);  // few bins, many values
      int sign = random.nextInt(3) == 0 ? 1 << 31 : 0;
      out[i] = Float.intBitsToFloat(sign | exponent << 23 | mantissa);
    }
    return out;
  }

  @Test
  void f32BinsRandomized() {
    Random random = new Random(2024);
    for (int round = 0; round < 8; round++) {
      float[] xs = randomFloats(random, 1 + random.nextInt(20000));
      ValueHistogram h = histogram(ValueKind.F32, round, le32(xs));

      // The model: bins keyed by the top 20 bits, in key order.
      TreeMap<Integer, double[]> model = new TreeMap<>();
      double sq = 0;
      for (float x : xs) {
        double[] cs = model.computeIfAbsent(Float.floatToRawIntBits(x) >>> 12, k -> new double[2]);
        cs[0]++;
        cs[1] += x;
        sq += (double) x * x;
      }
      assertEquals(model.size(), h.size());
      assertEquals(xs.length, h.totalCount());
      assertEquals(0, h.nonFinite());
      Map<Integer, Integer> binOfKey = new java.util.HashMap<>();
      int i = 0;
      long countSum = 0;
      for (Map.Entry<Integer, double[]> e : model.entrySet()) {
        assertEquals((long) e.getValue()[0], h.count(i), "bin " + i);
        assertEquals(e.getValue()[1] / e.getValue()[0], h.value(i), "bin " + i);
        countSum += h.count(i);
        binOfKey.put(e.getKey(), i++);
      }
      assertEquals(xs.length, countSum);
      for (float x : xs) {
        double mean = h.value(binOfKey.get(Float.floatToRawIntBits(x) >>> 12));
        assertTrue(Math.abs(x - mean) <= 0x1p-11 * Math.abs(mean), x + " vs bin mean " + mean);
        assertEquals(Math.signum(x), Math.signum(mean));
      }
      assertEquals(Math.sqrt(sq / xs.length), h.rms(), 1e-12 * Math.sqrt(sq / xs.length));
    }
  }

  @Test
  void mergeOfHalvesEqualsWhole() {
    Random random = new Random(99);
    for (ValueKind kind : ValueKind.values()) {
      // F32 accumulators hold 2^20 bins each, so fewer F32 rounds keep the test fast.
      for (int round = 0; round < (kind == ValueKind.F32 ? 3 : 10); round++) {
        int n = 2 + random.nextInt(3000);
        byte[] bytes;
        if (kind == ValueKind.F32) {
          float[] xs = randomFloats(random, n);
          xs[random.nextInt(n)] = Float.NaN;
          bytes = le32(xs);
        } else {
          int[] ps = new int[n];
          for (int j = 0; j < n; j++) {
            ps[j] = random.nextInt(2) == 0 ? random.nextInt(1 << 16) : 0x3C00 + random.nextInt(16);
          }
          bytes = le16(ps);
        }
        int cut = random.nextInt(n + 1);
        int w = kind.byteSize();
        ValueHistogram.Accumulator a = ValueHistogram.accumulator(kind);
        a.addLittleEndian(bytes, 0, cut);
        ValueHistogram.Accumulator b = ValueHistogram.accumulator(kind);
        b.addLittleEndian(bytes, cut * w, n - cut);
        ValueHistogram whole = histogram(kind, 5, bytes);
        ValueHistogram merged = a.finish(5).merge(b.finish(5));
        assertSameBins(whole, merged);
        assertSameBins(whole, b.finish(5).merge(a.finish(5)));
        assertEquals(whole.rms(), merged.rms(), 1e-12 * whole.rms());
        if (kind == ValueKind.F32) {
          assertEquals(1, merged.nonFinite());
        }
      }
    }
  }

  @Test
  void mergeWithEmpty() {
    ValueHistogram h = histogram(ValueKind.BF16, 4, le16(0x3F80, 0x3F80, 0x7FC0));
    ValueHistogram empty = ValueHistogram.accumulator(ValueKind.BF16).finish(4);
    assertSameBins(h, h.merge(empty));
    assertSameBins(h, empty.merge(h));
    assertEquals(h.rms(), empty.merge(h).rms());
  }

  @Test
  void mergeRejectsDifferentTensors() {
    ValueHistogram a = ValueHistogram.accumulator(ValueKind.F32).finish(3);
    ValueHistogram b = ValueHistogram.accumulator(ValueKind.F32).finish(4);
    assertEquals("Cannot merge histograms of tensors 3/F32 and 4/F32",
        assertThrows(IllegalArgumentException.class, () -> a.merge(b)).getMessage());
    ValueHistogram c = ValueHistogram.accumulator(ValueKind.BF16).finish(3);
    ValueHistogram d = ValueHistogram.accumulator(ValueKind.F16).finish(3);
    assertEquals("Cannot merge histograms of tensors 3/BF16 and 3/F16",
        assertThrows(IllegalArgumentException.class, () -> c.merge(d)).getMessage());
  }
}
