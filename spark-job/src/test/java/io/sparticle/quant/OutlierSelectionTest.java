package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The outlier threshold from a histogram: at most the fraction, as many as ties allow, exact. */
class OutlierSelectionTest {
  private static ValueHistogram histogram(ValueKind kind, float[] x) {
    ByteBuffer b = ByteBuffer.allocate(x.length * kind.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : x) {
      switch (kind) {
        case F32 -> b.putFloat(v);
        case F16 -> b.putShort(HalfFloats.floatToF16(v));
        case BF16 -> b.putShort(HalfFloats.floatToBf16(v));
      }
    }
    ValueHistogram.Accumulator acc = ValueHistogram.accumulator(kind);
    acc.addLittleEndian(b.array(), 0, x.length);
    return acc.finish(0);
  }

  @Test
  void countsAreExactAndBounded() {
    SplittableRandom r = new SplittableRandom(5);
    for (ValueKind kind : ValueKind.values()) {
      for (int trial = 0; trial < 20; trial++) {
        float[] x = new float[10_000 + r.nextInt(5000)];
        for (int i = 0; i < x.length; i++) {
          x[i] = kind.roundTrip((float) (r.nextGaussian() * 0.02 * (r.nextInt(100) == 0 ? 10 : 1)));
        }
        long max = 1 + r.nextInt(200);
        ValueHistogram.Outliers o = histogram(kind, x).outliers(max);
        long above = 0;
        for (float v : x) {
          if (o.test(v)) {
            above++;
          }
        }
        assertEquals(o.count(), above, kind + " trial " + trial);
        assertTrue(above <= max && above >= max / 2, kind + ": " + above + " of at most " + max);
      }
    }
    assertEquals(0, histogram(ValueKind.F16, new float[] {1, 2, 3}).outliers(0).count());
  }

  @Test
  void tiesAreAllInOrAllOut() {
    float[] x = {0.1f, -0.5f, 0.5f, 0.5f, 0.2f, 0.3f};
    ValueHistogram.Outliers o = histogram(ValueKind.BF16, x).outliers(2);
    // Three weights of magnitude 0.5 cannot all fit in 2: none are kept, nothing larger exists.
    assertEquals(0, o.count());
    ValueHistogram.Outliers three = histogram(ValueKind.BF16, x).outliers(3);
    assertEquals(3, three.count());
  }
}
