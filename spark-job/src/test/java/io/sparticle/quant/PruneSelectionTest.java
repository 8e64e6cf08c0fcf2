package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The pruning threshold from a histogram ({@link ValueHistogram#pruned}): at most the count, as
 * many as ties allow, exact for every dtype, zeros (of both signs) first.
 */
class PruneSelectionTest {
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

  private static long selected(ValueHistogram.Pruned p, float[] x) {
    long n = 0;
    for (float v : x) {
      if (p.test(v)) {
        n++;
      }
    }
    return n;
  }

  // ---- hand-made examples ----

  @Test
  void bf16TiesAndZeros() {
    // Three zeros (one negative), three of magnitude 0.1, one 0.2, two of 0.5, one 1.
    float[] x = {0f, 0.1f, -0.0f, -0.1f, 0.5f, 0.1f, 0f, 0.2f, -0.5f, 1f};
    ValueHistogram h = histogram(ValueKind.BF16, x);
    float tenth = HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(0.1f));

    ValueHistogram.Pruned zeros = h.pruned(3);
    assertEquals(new ValueHistogram.Pruned(0f, 3), zeros);
    assertEquals(3, selected(zeros, x));
    // 4 or 5: the three 0.1s do not fit beside the zeros, so the zeros alone.
    assertEquals(new ValueHistogram.Pruned(0f, 3), h.pruned(4));
    assertEquals(new ValueHistogram.Pruned(0f, 3), h.pruned(5));
    assertEquals(new ValueHistogram.Pruned(tenth, 6), h.pruned(6));
    assertEquals(new ValueHistogram.Pruned(HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(0.2f)), 7),
        h.pruned(8));
    assertEquals(new ValueHistogram.Pruned(0.5f, 9), h.pruned(9));
    assertEquals(new ValueHistogram.Pruned(1f, 10), h.pruned(10));
    assertEquals(new ValueHistogram.Pruned(1f, 10), h.pruned(Long.MAX_VALUE));
    // The three zeros alone exceed 2: nothing is pruned.
    assertSame(ValueHistogram.Pruned.NONE, h.pruned(2));
    assertSame(ValueHistogram.Pruned.NONE, h.pruned(0));
    assertSame(ValueHistogram.Pruned.NONE, h.pruned(-1));
    assertEquals(0, selected(ValueHistogram.Pruned.NONE, x), "NONE selects not even a zero");
  }

  @Test
  void smallestMagnitudeAloneOverTheLimitPrunesNothing() {
    // No zeros: the smallest magnitude, 0.25, has four weights (both signs).
    float[] x = {0.25f, -0.25f, 0.25f, -0.25f, 0.5f, 0.75f, 1f, -1f};
    for (ValueKind kind : ValueKind.values()) {
      ValueHistogram h = histogram(kind, x);
      assertSame(ValueHistogram.Pruned.NONE, h.pruned(3), kind.name());
      assertEquals(4, h.pruned(4).count(), kind.name());
      assertEquals(4, selected(h.pruned(4), x), kind.name());
      assertEquals(5, h.pruned(5).count(), kind.name());
    }
  }

  @Test
  void f32BinsAreInOrOutTogetherAndTheThresholdIsTheBinsUpperEdge() {
    // 0.1f and the next two floats above it share a bin (top 20 bits); 0.1f's bin holds three.
    float a = 0.1f;
    float b = Math.nextUp(a);
    float c = -Math.nextUp(b);
    float far = 0.2f;
    float[] x = {a, b, c, far, 0f};
    ValueHistogram h = histogram(ValueKind.F32, x);
    assertEquals(new ValueHistogram.Pruned(Float.intBitsToFloat(0xFFF), 1), h.pruned(1));
    assertEquals(1, h.pruned(3).count(), "the three of 0.1's bin do not fit in 3 beside the zero");
    ValueHistogram.Pruned four = h.pruned(4);
    assertEquals(4, four.count());
    assertEquals(Float.intBitsToFloat(Float.floatToIntBits(a) | 0xFFF), four.threshold());
    assertEquals(4, selected(four, x));
    assertFalse(four.test(far));

    // Zeros and the smallest subnormals share bin 0: the zero cannot be taken without them.
    float[] tiny = {0f, -0f, Float.MIN_VALUE, 0.5f};
    ValueHistogram t = histogram(ValueKind.F32, tiny);
    assertSame(ValueHistogram.Pruned.NONE, t.pruned(2));
    assertEquals(new ValueHistogram.Pruned(Float.intBitsToFloat(0xFFF), 3), t.pruned(3));
    assertEquals(3, selected(t.pruned(3), tiny));
  }

  @Test
  void nonFiniteWeightsAreNeverPruned() {
    float[] x = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0.5f, -0.25f, 0f};
    for (ValueKind kind : ValueKind.values()) {
      ValueHistogram h = histogram(kind, x);
      ValueHistogram.Pruned all = h.pruned(100);
      assertEquals(3, all.count(), kind.name());
      assertEquals(3, selected(all, x), kind.name());
      assertEquals(0.5f, all.threshold(), kind == ValueKind.F32 ? 1e-3f : 0f, kind.name());
    }
  }

  // ---- randomized ----

  @Test
  void countsAreExactBoundedAndMaximal() {
    SplittableRandom r = new SplittableRandom(17);
    for (ValueKind kind : ValueKind.values()) {
      for (int trial = 0; trial < 20; trial++) {
        float[] x = new float[5_000 + r.nextInt(5_000)];
        for (int i = 0; i < x.length; i++) {
          // Laplace-ish with a run of exact zeros: ties at 0 and many ties in 16-bit kinds.
          double v = r.nextInt(10) == 0 ? 0 : Math.log(r.nextDouble()) * 0.02 * (r.nextBoolean() ? 1 : -1);
          x[i] = kind.roundTrip((float) v);
        }
        long max = r.nextInt(x.length);
        ValueHistogram.Pruned p = histogram(kind, x).pruned(max);
        long in = selected(p, x);
        assertEquals(p.count(), in, kind + " trial " + trial);
        assertTrue(in <= max, kind + ": " + in + " of at most " + max);
        // Maximal: the smallest magnitude left out, with its ties (its bin for F32), does not fit.
        float next = Float.POSITIVE_INFINITY;
        for (float v : x) {
          if (!p.test(v)) {
            next = Math.min(next, Math.abs(v));
          }
        }
        if (next < Float.POSITIVE_INFINITY) {
          long tied = 0;
          for (float v : x) {
            boolean same = kind == ValueKind.F32
                ? (Float.floatToRawIntBits(Math.abs(v)) >>> ValueHistogram.F32_BIN_SHIFT)
                    == (Float.floatToRawIntBits(next) >>> ValueHistogram.F32_BIN_SHIFT)
                : Math.abs(v) == next;
            if (same) {
              tied++;
            }
          }
          assertTrue(in + tied > max, kind + " trial " + trial + ": " + in + " + " + tied
              + " weights of magnitude " + next + " would fit in " + max);
        }
      }
    }
  }

  @Test
  void mergedHistogramsPruneAsOne() {
    SplittableRandom r = new SplittableRandom(3);
    float[] x = new float[4000];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) (r.nextGaussian() * 0.05);
    }
    for (ValueKind kind : ValueKind.values()) {
      ValueHistogram whole = histogram(kind, x);
      ValueHistogram halves = histogram(kind, java.util.Arrays.copyOf(x, 1500))
          .merge(histogram(kind, java.util.Arrays.copyOfRange(x, 1500, x.length)));
      for (long max : new long[] {1, 100, 1999, 2000, 3999}) {
        assertEquals(whole.pruned(max), halves.pruned(max), kind + " " + max);
      }
    }
  }
}
