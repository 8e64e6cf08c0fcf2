package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class HalfFloatsTest {

  private static short s(int bits) {
    return (short) bits;
  }

  private static int f16(float x) {
    return HalfFloats.floatToF16(x) & 0xFFFF;
  }

  private static int bf16(float x) {
    return HalfFloats.floatToBf16(x) & 0xFFFF;
  }

  // ---- hand-made examples ----

  @Test
  void f16KnownValues() {
    assertEquals(1f, HalfFloats.f16ToFloat(s(0x3C00)));
    assertEquals(-2f, HalfFloats.f16ToFloat(s(0xC000)));
    assertEquals(65504f, HalfFloats.f16ToFloat(s(0x7BFF)));
    assertEquals(0x1p-14f, HalfFloats.f16ToFloat(s(0x0400)));
    assertEquals(0x1p-24f, HalfFloats.f16ToFloat(s(0x0001)));
    assertEquals(1023 * 0x1p-24f, HalfFloats.f16ToFloat(s(0x03FF)));
    assertEquals(0x1.554p-2f, HalfFloats.f16ToFloat(s(0x3555)));
    assertEquals(Float.floatToIntBits(-0f), Float.floatToIntBits(HalfFloats.f16ToFloat(s(0x8000))));
    assertEquals(Float.POSITIVE_INFINITY, HalfFloats.f16ToFloat(s(0x7C00)));
    assertEquals(Float.NEGATIVE_INFINITY, HalfFloats.f16ToFloat(s(0xFC00)));
    assertTrue(Float.isNaN(HalfFloats.f16ToFloat(s(0x7E00))));
    assertTrue(Float.isNaN(HalfFloats.f16ToFloat(s(0xFC01))));

    assertEquals(0x2E66, f16(0.1f));
    assertEquals(0x3C00, f16(1f));
    assertEquals(0x8000, f16(-0f));
    assertEquals(0x7BFF, f16(65519f)); // just below the midpoint to 65536
    assertEquals(0x7C00, f16(65520f)); // the midpoint: ties to even, which is infinity
    assertEquals(0xFC00, f16(-1e9f));
    assertEquals(0x0000, f16(0x1p-25f)); // half the smallest subnormal: ties to even (0)
    assertEquals(0x0001, f16(Math.nextUp(0x1p-25f)));
    assertEquals(0x0002, f16(3 * 0x1p-25f)); // 1.5 units: ties to even (2)
    assertEquals(0x0400, f16(Math.nextDown(0x1p-14f))); // rounds up into the normals
    assertEquals(0x7C00, f16(Float.POSITIVE_INFINITY));
  }

  @Test
  void bf16KnownValues() {
    assertEquals(1f, HalfFloats.bf16ToFloat(s(0x3F80)));
    assertEquals(-0x1.fep127f, HalfFloats.bf16ToFloat(s(0xFF7F)));
    assertEquals(0x3DCD, bf16(0.1f));
    assertEquals(0x3F80, bf16(1f));
    assertEquals(0x3F80, bf16(Float.intBitsToFloat(0x3F80_8000))); // tie, 0x3F80 even
    assertEquals(0x3F82, bf16(Float.intBitsToFloat(0x3F81_8000))); // tie, 0x3F82 even
    assertEquals(0x3F81, bf16(Float.intBitsToFloat(0x3F80_8001)));
    assertEquals(0x7F80, bf16(Float.MAX_VALUE)); // above the midpoint to 2^128
    assertEquals(0xFF80, bf16(Float.NEGATIVE_INFINITY));
  }

  @Test
  void nanStaysNanEvenWithLowPayloadBits() {
    float lowPayload = Float.intBitsToFloat(0x7F80_0001); // truncation alone would give Inf
    float negativeNan = Float.intBitsToFloat(0xFFC0_0000);
    for (float nan : new float[] {Float.NaN, lowPayload, negativeNan}) {
      assertTrue(Float.isNaN(HalfFloats.f16ToFloat(HalfFloats.floatToF16(nan))));
      assertTrue(Float.isNaN(HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(nan))));
    }
    assertEquals(0xFE00, f16(negativeNan) & 0xFE00);
    assertEquals(0xFFC0, bf16(negativeNan));
  }

  // ---- exhaustive and randomized ----

  @Test
  void everyPatternRoundTrips() {
    for (int i = 0; i < 1 << 16; i++) {
      final int p = i; // messages are built lazily: eager concatenation dominated the run time
      float h = HalfFloats.f16ToFloat(s(p));
      if (Float.isNaN(h)) {
        assertTrue((p & 0x7C00) == 0x7C00 && (p & 0x3FF) != 0, () -> "pattern " + p);
        assertTrue(Float.isNaN(HalfFloats.f16ToFloat(HalfFloats.floatToF16(h))));
      } else {
        assertEquals(p, f16(h), () -> "f16 pattern " + Integer.toHexString(p));
      }
      float b = HalfFloats.bf16ToFloat(s(p));
      if (Float.isNaN(b)) {
        assertTrue(Float.isNaN(HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(b))));
      } else {
        assertEquals(p, bf16(b), () -> "bf16 pattern " + Integer.toHexString(p));
      }
    }
  }

  @Test
  void everyF16MidpointRoundsToEven() {
    for (int i = 0; i < 0x7C00; i++) {
      final int p = i;
      double lo = HalfFloats.f16ToFloat(s(p));
      double hi = p == 0x7BFF ? 65536 : HalfFloats.f16ToFloat(s(p + 1));
      float mid = (float) ((lo + hi) / 2); // exact: needs 12 significant bits
      assertEquals((lo + hi) / 2, mid, 0);
      int even = (p & 1) == 0 ? p : p + 1;
      assertEquals(even, f16(mid), () -> "midpoint above " + Integer.toHexString(p));
      assertEquals(even | 0x8000, f16(-mid));
      assertEquals(p, f16(Math.nextDown(mid)));
      assertEquals(p + 1, f16(Math.nextUp(mid)));
    }
  }

  @Test
  void everyBf16MidpointRoundsToEven() {
    for (int i = 0; i < 0x7F7F; i++) { // the midpoint above 0x7F7F is not a float
      final int p = i;
      double lo = HalfFloats.bf16ToFloat(s(p));
      double hi = HalfFloats.bf16ToFloat(s(p + 1));
      float mid = (float) ((lo + hi) / 2);
      assertEquals((lo + hi) / 2, mid, 0);
      int even = (p & 1) == 0 ? p : p + 1;
      assertEquals(even, bf16(mid), () -> "midpoint above " + Integer.toHexString(p));
      assertEquals(even | 0x8000, bf16(-mid));
      assertEquals(p, bf16(Math.nextDown(mid)));
      assertEquals(p + 1, bf16(Math.nextUp(mid)));
    }
  }

  @Test
  void randomFloatsGoToTheNearestPattern() {
    SplittableRandom random = new SplittableRandom(3);
    for (int i = 0; i < 1_000_000; i++) {
      // Bias toward the f16 range so that normals, subnormals and overflow all occur.
      float x =
          (i & 1) == 0
              ? Float.intBitsToFloat(random.nextInt())
              : (float) (random.nextGaussian() * Math.pow(2, random.nextInt(-30, 20)));
      if (Float.isNaN(x)) {
        continue;
      }
      assertNearest(x, f16(x), Float16Kind.F16);
      assertNearest(x, bf16(x), Float16Kind.BF16);
    }
  }

  private static void assertNearest(float x, int pattern, Float16Kind kind) {
    double error = Math.abs((double) x - kind.toFloat(s(pattern)));
    if (Double.isInfinite(error)) {
      double limit = kind == Float16Kind.F16 ? 65520 : 0x1.ffp127;
      assertTrue(Math.abs(x) >= limit, () -> "overflowed too early: " + x);
      return;
    }
    int magnitude = pattern & 0x7FFF;
    int sign = pattern & 0x8000;
    for (int neighbour : new int[] {magnitude - 1, magnitude + 1}) {
      if (neighbour < 0) {
        continue;
      }
      float n = kind.toFloat(s(sign | neighbour));
      if (Float.isFinite(n)) {
        assertTrue(
            error <= Math.abs((double) x - n),
            () -> kind + " " + x + " -> " + Integer.toHexString(pattern) + ", " + n + " is closer");
      }
    }
  }
}
