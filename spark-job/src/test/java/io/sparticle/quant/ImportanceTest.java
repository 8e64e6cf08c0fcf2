package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ImportanceTest {
  @Test
  void channelsRunAlongTheirAxis() {
    // ONNX MatMul weight [in = 2, out = 3]: rows are input channels.
    Importance rows = Importance.of(new float[] {0.5f, 2f}, new long[] {2, 3}, 0);
    assertEquals(3, rows.inner());
    float[] expected = {0.5f, 0.5f, 0.5f, 2f, 2f, 2f};
    for (int e = 0; e < expected.length; e++) {
      assertEquals(expected[e], rows.at(e), "weight " + e);
    }
    // PyTorch Linear weight [out = 2, in = 3]: columns are input channels.
    Importance cols = Importance.of(new float[] {1f, 2f, 3f}, new long[] {2, 3}, 1);
    float[] expectedCols = {1f, 2f, 3f, 1f, 2f, 3f};
    for (int e = 0; e < expectedCols.length; e++) {
      assertEquals(expectedCols[e], cols.at(e), "weight " + e);
    }
    assertEquals(12.0, cols.total(6), 1e-12);
  }

  @Test
  void scaledKeepsRatiosAndFloorsTheUnexcited() {
    Importance imp = Importance.of(new float[] {0f, 1f, 3f}, new long[] {4, 3}, 1);
    Importance s = imp.scaled(12.0 / imp.total(12));
    assertEquals(Importance.FLOOR, s.channel(0), 1e-9);
    assertEquals(0.75, s.channel(1), 1e-6);
    assertEquals(2.25, s.channel(2), 1e-6);
  }

  @Test
  void badVectorsAreRefusedWithTheReason() {
    IllegalArgumentException len = assertThrows(IllegalArgumentException.class,
        () -> Importance.of(new float[3], new long[] {4, 5}, 1));
    assertTrue(len.getMessage().contains("has 3 values") && len.getMessage().contains("5 input channels"),
        len.getMessage());
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> Importance.of(new float[] {1f, -1f}, new long[] {2, 2}, 1)).getMessage()
        .contains("non-negative"));
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> Importance.of(new float[] {1f, Float.NaN}, new long[] {2, 2}, 1)).getMessage()
        .contains("finite"));
    assertThrows(IllegalArgumentException.class, () -> Importance.of(new float[2], new long[] {2}, 1));
  }

  @Test
  void weightedHistogramSumsEachBinsImportance() {
    Random r = new Random(3);
    int rows = 64;
    int cols = 48;
    float[] x = new float[rows * cols];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) (r.nextGaussian() * 0.02);
    }
    float[] ch = new float[rows];
    for (int c = 0; c < rows; c++) {
      ch[c] = r.nextFloat() * 10;
    }
    Importance imp = Importance.of(ch, new long[] {rows, cols}, 0);
    for (ValueKind kind : new ValueKind[] {ValueKind.BF16, ValueKind.F32}) {
      byte[] raw = encode(x, kind);
      int half = x.length / 2;
      // Two chunks, as two tasks would read them, merged.
      ValueHistogram.Accumulator a = ValueHistogram.accumulator(kind);
      a.addLittleEndian(raw, 0, half, imp, 0);
      ValueHistogram.Accumulator b = ValueHistogram.accumulator(kind);
      b.addLittleEndian(raw, half * kind.byteSize(), x.length - half, imp, half);
      ValueHistogram h = a.finish(0).merge(b.finish(0));
      ValueHistogram.Accumulator plain = ValueHistogram.accumulator(kind);
      plain.addLittleEndian(raw, 0, x.length);
      ValueHistogram p = plain.finish(0);
      assertTrue(h.weighted());
      assertFalse(p.weighted());
      assertEquals(p.size(), h.size());
      double mass = 0;
      double expectedMass = 0;
      for (int i = 0; i < h.size(); i++) {
        assertEquals(p.count(i), h.count(i));
        assertEquals(p.count(i), p.weight(i));
        mass += h.weight(i);
      }
      for (int e = 0; e < x.length; e++) {
        expectedMass += imp.at(e);
      }
      assertEquals(expectedMass, mass, 1e-9 * expectedMass, kind.toString());
      if (kind == ValueKind.BF16) {
        // Exact bins: each bin's weight is the importance of exactly the weights of its value.
        java.util.Map<Float, Double> byValue = new java.util.HashMap<>();
        for (int e = 0; e < x.length; e++) {
          float v = Float.intBitsToFloat(Float.floatToIntBits(x[e]) >>> 16 << 16);
          byValue.merge(v, (double) imp.at(e), Double::sum);
        }
        for (int i = 0; i < h.size(); i++) {
          assertEquals(byValue.get((float) h.value(i)), h.weight(i), 1e-9, "bin " + i);
        }
      }
      // A weighted and an unweighted histogram of one tensor do not mix.
      assertThrows(IllegalArgumentException.class, () -> h.merge(p));
    }
  }

  private static byte[] encode(float[] x, ValueKind kind) {
    ByteBuffer b = ByteBuffer.allocate(x.length * kind.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : x) {
      if (kind == ValueKind.F32) {
        b.putFloat(v);
      } else {
        b.putShort((short) (Float.floatToIntBits(v) >>> 16));
      }
    }
    return b.array();
  }
}
