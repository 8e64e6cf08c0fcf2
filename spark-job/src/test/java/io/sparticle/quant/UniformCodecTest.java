package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.quant.EncodingSpec.ScalePrecision;
import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class UniformCodecTest {

  // ---- hand-made examples ----

  private static final float[] EXAMPLE = {-0.5f, -0.25f, 0f, 0.3f, 1.0f, 1.5f};

  private static int[] encodeAll(UniformCodec codec, float[] values) {
    int[] q = new int[values.length];
    for (int i = 0; i < values.length; i++) {
      q[i] = codec.encode(0, values[i]);
    }
    return q;
  }

  @Test
  void fourBitsF32() {
    // lo = -0.5, hi = 1.5, qmax = 15: scale = float32(2 / 15), zero = rint(0.5 / scale) = rint(3.75).
    UniformCodec.Params p = UniformCodec.fit(-0.5f, 1.5f, 4, ScalePrecision.F32);
    assertEquals(new UniformCodec.Params(0.13333334f, 4), p);
    UniformCodec codec =
        new UniformCodec(UnitLayout.whole(6), 4, new float[] {p.scale()}, new int[] {p.zero()});
    assertEquals(0.13333334f, codec.scale(0));
    assertEquals(4, codec.zero(0));
    assertEquals(16, codec.numCodes());
    // 1.0 / scale = 7.4999996: rounds down to 7, so q = 11.
    assertArrayEquals(new int[] {0, 2, 4, 6, 11, 15}, encodeAll(codec, EXAMPLE));
    assertEquals(-0.53333336f, codec.value(0, 0));
    assertEquals(-0.26666668f, codec.value(0, 2));
    assertEquals(0f, codec.value(0, 4));
    assertEquals(0.26666668f, codec.value(0, 6));
    assertEquals(0.9333334f, codec.value(0, 11));
    assertEquals(1.4666667f, codec.value(0, 15));
  }

  @Test
  void fourBitsF16() {
    // float32(2 / 15) rounded to binary16: 0.125 + 68 * 2^-13 = 0.13330078125.
    UniformCodec.Params p = UniformCodec.fit(-0.5f, 1.5f, 4, ScalePrecision.F16);
    assertEquals(new UniformCodec.Params(0.13330078125f, 4), p);
    UniformCodec codec =
        new UniformCodec(UnitLayout.whole(6), 4, new float[] {p.scale()}, new int[] {p.zero()});
    // 1.0 / scale = 7.5018: rounds up to 8 here (q = 12), unlike the F32 scale.
    assertArrayEquals(new int[] {0, 2, 4, 6, 12, 15}, encodeAll(codec, EXAMPLE));
    assertEquals(-0.5332031f, codec.value(0, 0));
    assertEquals(0.26660156f, codec.value(0, 6));
    assertEquals(1.0664062f, codec.value(0, 12));
    assertEquals(1.4663086f, codec.value(0, 15));
    // Out-of-range weights clamp to the end codes.
    assertEquals(0, codec.encode(0, -100f));
    assertEquals(15, codec.encode(0, 100f));
  }

  @Test
  void theRangeIsWidenedToHoldZero() {
    // All positive: lo = 0, so zero = 0 and 0 is code 0.
    UniformCodec.Params pos = UniformCodec.fit(1f, 3f, 2, ScalePrecision.F32);
    assertEquals(new UniformCodec.Params(1f, 0), pos);
    // All negative: hi = 0, so zero = qmax.
    UniformCodec.Params neg = UniformCodec.fit(-6f, -2f, 2, ScalePrecision.F32);
    assertEquals(new UniformCodec.Params(2f, 3), neg);
  }

  @Test
  void aZeroRangeGivesScaleOne() {
    for (ScalePrecision sp : ScalePrecision.values()) {
      assertEquals(new UniformCodec.Params(1f, 0), UniformCodec.fit(0f, 0f, 4, sp));
      assertEquals(new UniformCodec.Params(1f, 0), UniformCodec.fit(-0f, 0f, 8, sp));
      UniformCodec.Params p = UniformCodec.fit(0f, 0f, 3, sp);
      UniformCodec codec =
          new UniformCodec(UnitLayout.whole(2), 3, new float[] {p.scale()}, new int[] {p.zero()});
      assertEquals(0, codec.encode(0, 0f));
      assertEquals(0f, codec.value(0, 0));
    }
  }

  // ---- error rules ----

  @Test
  void f16ScaleOverflow() {
    // 1e6 / 15 = 66666.7 > 65504 (rounds to F16 infinity).
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> UniformCodec.fit(-1e6f, 0f, 4, ScalePrecision.F16));
    assertEquals(
        "weights in [-1000000.0, 0.0] need a scale beyond F16; use scale-precision F32",
        e.getMessage());
    assertEquals(66666.664f, UniformCodec.fit(-1e6f, 0f, 4, ScalePrecision.F32).scale());
    // The largest F16 scale still fits: 65504 * 15.
    assertEquals(65504f, UniformCodec.fit(0f, 65504f * 15, 4, ScalePrecision.F16).scale());
  }

  @Test
  void rejectsParametersThatDoNotMatchTheLayout() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> new UniformCodec(UnitLayout.blocks(20, 8), 4, new float[2], new int[3]));
    assertEquals("2 scales and 3 zero points for 3 units", e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> new UniformCodec(UnitLayout.blocks(20, 8), 4, new float[3], new int[2]));
    assertEquals("3 scales and 2 zero points for 3 units", e.getMessage());
  }

  // ---- randomized: bit-exact with an independent reference ----

  /** The exact value of x rounded to a binary format of p significant bits, ties to even. */
  private static BigDecimal roundBinary(BigDecimal x, int precisionBits, int minExponent,
      BigDecimal maxFinite) {
    if (x.signum() == 0) {
      return BigDecimal.ZERO;
    }
    BigDecimal abs = x.abs();
    int e = Math.getExponent(abs.doubleValue());
    while (abs.compareTo(pow2(e)) < 0) {
      e--;
    }
    while (abs.compareTo(pow2(e + 1)) >= 0) {
      e++;
    }
    e = Math.max(e, minExponent);
    BigDecimal ulp = pow2(e - precisionBits + 1);
    BigDecimal rounded = abs.divide(ulp).setScale(0, RoundingMode.HALF_EVEN).multiply(ulp);
    if (rounded.compareTo(maxFinite) > 0) {
      return null; // overflow
    }
    return x.signum() < 0 ? rounded.negate() : rounded;
  }

  private static BigDecimal pow2(int e) {
    return e >= 0
        ? new BigDecimal(java.math.BigInteger.ONE.shiftLeft(e))
        : BigDecimal.ONE.divide(new BigDecimal(java.math.BigInteger.ONE.shiftLeft(-e)));
  }

  private static final BigDecimal MAX_F32 = new BigDecimal(Float.MAX_VALUE);
  private static final BigDecimal MAX_F16 = new BigDecimal(65504);

  private static float toF32(BigDecimal x) {
    BigDecimal r = roundBinary(x, 24, -126, MAX_F32);
    return r.floatValue(); // exact: r is a float
  }

  private static double toF64(BigDecimal x) {
    BigDecimal r = roundBinary(x, 53, -1022, new BigDecimal(Double.MAX_VALUE));
    return r.doubleValue(); // exact: r is a double
  }

  /** A double division as IEEE does it: the exact quotient rounded once to binary64. */
  private static BigDecimal doubleQuotient(BigDecimal a, BigDecimal b) {
    return new BigDecimal(toF64(a.divide(b, new MathContext(80, RoundingMode.HALF_EVEN))));
  }

  private static long rintHalfEven(BigDecimal x) {
    return x.setScale(0, RoundingMode.HALF_EVEN).longValueExact();
  }

  record Ref(float scale, int zero, int[] codes, float[] values) {}

  /** The javadoc's fit and encode of one unit, in exact arithmetic with explicit roundings. */
  private static Ref reference(List<Float> unit, int bits, ScalePrecision sp) {
    int qmax = (1 << bits) - 1;
    BigDecimal lo = BigDecimal.ZERO;
    BigDecimal hi = BigDecimal.ZERO;
    for (float v : unit) {
      BigDecimal b = new BigDecimal(v);
      lo = lo.min(b);
      hi = hi.max(b);
    }
    float scale;
    if (hi.compareTo(lo) == 0) {
      scale = 1f;
    } else {
      BigDecimal range = new BigDecimal(toF64(hi.subtract(lo))); // hi - lo in double
      float s32 = toF32(doubleQuotient(range, new BigDecimal(qmax)));
      if (sp == ScalePrecision.F16) {
        BigDecimal r = roundBinary(new BigDecimal(s32), 11, -14, MAX_F16);
        assertTrue(r != null, "test data must not overflow F16");
        // A range below half the smallest F16 step takes that step, 2^-24 (the fit's fallback).
        scale = r.signum() == 0 ? pow2(-24).floatValue() : r.floatValue();
      } else {
        scale = s32 == 0 ? Float.MIN_VALUE : s32;
      }
    }
    BigDecimal s = new BigDecimal(scale);
    int zero = (int) Math.max(0, Math.min(qmax, rintHalfEven(doubleQuotient(lo.negate(), s))));
    int[] codes = new int[unit.size()];
    float[] values = new float[unit.size()];
    for (int i = 0; i < codes.length; i++) {
      long q = rintHalfEven(doubleQuotient(new BigDecimal(unit.get(i)), s)) + zero;
      codes[i] = (int) Math.max(0, Math.min(qmax, q));
      values[i] = toF32(s.multiply(BigDecimal.valueOf(codes[i] - zero)));
    }
    return new Ref(scale, zero, codes, values);
  }

  private static float laplace(SplittableRandom random, double b) {
    double u = random.nextDouble();
    double mag = -b * Math.log(1 - u);
    return (float) (random.nextBoolean() ? mag : -mag);
  }

  /** The unit of (r, c) by its definition for each layout, without UnitLayout. */
  private static int referenceUnit(String kind, int r, int c, int cols, int blockSize) {
    return switch (kind) {
      case "whole" -> 0;
      case "rows" -> r;
      case "columns" -> c;
      default -> (r * cols + c) / blockSize;
    };
  }

  @Test
  void bitExactWithAnIndependentMinMaxRoundToNearest() {
    SplittableRandom random = new SplittableRandom(20240611);
    String[] kinds = {"whole", "rows", "columns", "blocks"};
    int cases = 0;
    for (int trial = 0; trial < 160; trial++) {
      String kind = kinds[trial % 4];
      int bits = 2 + random.nextInt(7);
      ScalePrecision sp = ScalePrecision.values()[(trial / 4) % 2];
      int rows = 1 + random.nextInt(12);
      int cols = 1 + random.nextInt(70);
      int numel = rows * cols;
      int blockSize = 8 * (1 + random.nextInt(6));
      if (kind.equals("blocks") && numel % blockSize == 0) {
        cols++; // keep a short last block in most cases
        numel = rows * cols;
      }
      UnitLayout layout =
          switch (kind) {
            case "whole" -> UnitLayout.whole(numel);
            case "rows" -> UnitLayout.channels(new long[] {rows, cols}, 0);
            case "columns" -> UnitLayout.channels(new long[] {rows, cols}, 1);
            default -> UnitLayout.blocks(numel, blockSize);
          };
      int numUnits =
          switch (kind) {
            case "whole" -> 1;
            case "rows" -> rows;
            case "columns" -> cols;
            default -> (numel + blockSize - 1) / blockSize;
          };
      assertEquals(numUnits, layout.numUnits(), kind);

      // Scales from 1e-5 (F16 subnormal scales) to 1; each unit all-positive, all-negative,
      // all-zero or mixed.
      double b = Math.pow(10, -5 + 5 * random.nextDouble());
      int[] unitMode = new int[numUnits];
      for (int u = 0; u < numUnits; u++) {
        int m = random.nextInt(10);
        unitMode[u] = m < 2 ? 1 : m < 4 ? -1 : m == 4 ? 0 : 2;
      }
      float[] w = new float[numel];
      for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) {
          int u = referenceUnit(kind, r, c, cols, blockSize);
          float x = laplace(random, b);
          w[r * cols + c] =
              switch (unitMode[u]) {
                case 1 -> Math.abs(x);
                case -1 -> -Math.abs(x);
                case 0 -> 0f;
                default -> x;
              };
        }
      }

      // Under test: min/max per unit through UnitLayout, fit, encode, value.
      float[] min = new float[numUnits];
      float[] max = new float[numUnits];
      Arrays.fill(min, Float.POSITIVE_INFINITY);
      Arrays.fill(max, Float.NEGATIVE_INFINITY);
      for (int e = 0; e < numel; e++) {
        int u = (int) layout.unitOf(e);
        min[u] = Math.min(min[u], w[e]);
        max[u] = Math.max(max[u], w[e]);
      }
      float[] scales = new float[numUnits];
      int[] zeros = new int[numUnits];
      for (int u = 0; u < numUnits; u++) {
        UniformCodec.Params p = UniformCodec.fit(min[u], max[u], bits, sp);
        scales[u] = p.scale();
        zeros[u] = p.zero();
      }
      UniformCodec codec = new UniformCodec(layout, bits, scales, zeros);

      // Reference: collect each unit's values by (row, col), in element order within the unit.
      List<List<Float>> units = new ArrayList<>();
      List<List<int[]>> where = new ArrayList<>();
      for (int u = 0; u < numUnits; u++) {
        units.add(new ArrayList<>());
        where.add(new ArrayList<>());
      }
      for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) {
          int u = referenceUnit(kind, r, c, cols, blockSize);
          units.get(u).add(w[r * cols + c]);
          where.get(u).add(new int[] {r, c});
        }
      }
      for (int u = 0; u < numUnits; u++) {
        Ref ref = reference(units.get(u), bits, sp);
        String at = kind + " bits=" + bits + " " + sp + " trial=" + trial + " unit=" + u;
        assertEquals(ref.scale(), codec.scale(u), at + " scale");
        assertEquals(ref.zero(), codec.zero(u), at + " zero");
        for (int i = 0; i < ref.codes().length; i++) {
          int[] rc = where.get(u).get(i);
          int e = rc[0] * cols + rc[1];
          int cu = (int) layout.unitOf(e);
          assertEquals(u, cu, at + " unitOf(" + e + ")");
          int code = codec.encode(cu, w[e]);
          assertEquals(ref.codes()[i], code, at + " code of " + w[e]);
          assertEquals(
              Float.floatToIntBits(ref.values()[i]),
              Float.floatToIntBits(codec.value(cu, code)),
              at + " value of code " + code);
          cases++;
        }
      }
    }
    assertTrue(cases > 10_000, "only " + cases + " weights checked");
  }

  /**
   * 8-bit per-channel min-max on BF16 Laplace rows: returns {SQNR, the SQNR that uniform rounding
   * noise (step^2 / 12 per weight, from the fitted scales) predicts}, both in dB.
   */
  private static double[] eightBitPerChannelSqnr(int rows, int cols, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    float[] w = new float[rows * cols];
    for (int i = 0; i < w.length; i++) {
      w[i] = ValueKind.BF16.roundTrip(laplace(random, 0.02));
    }
    UnitLayout layout = UnitLayout.channels(new long[] {rows, cols}, 0);
    float[] scales = new float[rows];
    int[] zeros = new int[rows];
    for (int r = 0; r < rows; r++) {
      float min = Float.POSITIVE_INFINITY;
      float max = Float.NEGATIVE_INFINITY;
      for (int c = 0; c < cols; c++) {
        min = Math.min(min, w[r * cols + c]);
        max = Math.max(max, w[r * cols + c]);
      }
      UniformCodec.Params p = UniformCodec.fit(min, max, 8, ScalePrecision.F16);
      scales[r] = p.scale();
      zeros[r] = p.zero();
    }
    UniformCodec codec = new UniformCodec(layout, 8, scales, zeros);
    float[] levels = new float[256];
    double signal = 0;
    double noise = 0;
    double predictedNoise = 0;
    for (int r = 0; r < rows; r++) {
      codec.levels(r, ValueKind.BF16, levels);
      predictedNoise += (double) scales[r] * scales[r] / 12 * cols;
      for (int c = 0; c < cols; c++) {
        float x = w[r * cols + c];
        float y = levels[codec.encode(r, x)];
        signal += (double) x * x;
        noise += ((double) x - y) * ((double) x - y);
      }
    }
    return new double[] {
      10 * Math.log10(signal / noise), 10 * Math.log10(signal / predictedNoise)
    };
  }

  @Test
  void eightBitsPerChannelSqnrOnBf16LaplaceWeights() {
    // Min-max 8-bit on Laplace rows gives about 40 dB at 512 weights a row and loses ~1 dB per
    // doubling (the range grows with ln n): 43.6 at 64, 41.1 at 256, 40.1 at 512, 37.5 at 4096
    // (float64 simulation). The 40 dB bar therefore holds for rows of up to 256; for every width
    // the codec must match the uniform-noise prediction step^2 / 12, which any wrong rounding
    // (floor, a scale off by one level, a lost zero point) breaks by decibels.
    double[] narrow = eightBitPerChannelSqnr(2752, 256, 99);
    double[] wide = eightBitPerChannelSqnr(1376, 512, 99);
    String got = String.format(
        "8-bit per-channel SQNR: rows of 256 %.2f dB (predicted %.2f), rows of 512 %.2f dB"
            + " (predicted %.2f)", narrow[0], narrow[1], wide[0], wide[1]);
    System.out.println("UniformCodecTest: " + got);
    assertTrue(narrow[0] >= 40, got);
    assertTrue(Math.abs(narrow[0] - narrow[1]) < 0.25, got);
    assertTrue(Math.abs(wide[0] - wide[1]) < 0.25, got);
  }
}
