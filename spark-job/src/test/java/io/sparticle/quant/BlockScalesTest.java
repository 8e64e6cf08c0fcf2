package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.quant.EncodingSpec.ScalePrecision;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class BlockScalesTest {
  private static final float[] BOOK = {-1f, -0.6f, -0.35f, -0.15f, 0f, 0.15f, 0.35f, 0.6f};

  /** The code the brute-force argmin gives, the lowest on ties. */
  private static int argmin(float[] c, float x) {
    int best = 0;
    for (int i = 1; i < c.length; i++) {
      if (Math.abs((double) x - c[i]) < Math.abs((double) x - c[best])) {
        best = i;
      }
    }
    return best;
  }

  @Test
  void nearestMatchesBruteForceOnEveryGrid() {
    SplittableRandom r = new SplittableRandom(7);
    for (int trial = 0; trial < 300; trial++) {
      int k = 1 + r.nextInt(trial < 100 ? 20 : 300);
      float[] c = new float[k];
      for (int i = 0; i < k; i++) {
        // Some duplicates and some clustered values, as fitted codebooks have.
        c[i] = i > 0 && r.nextInt(8) == 0 ? c[i - 1] : (float) (r.nextGaussian() * Math.pow(10, r.nextInt(5) - 3));
      }
      Codebook plain = Codebook.of(c);
      Codebook dense = plain.dense();
      float[] sorted = plain.centroids();
      for (int j = 0; j < 2000; j++) {
        float x;
        int pick = r.nextInt(10);
        if (pick == 0 && k > 1) {
          int i = r.nextInt(k - 1);
          x = (float) (((double) sorted[i] + sorted[i + 1]) / 2); // on (or next to) a midpoint
        } else if (pick == 1) {
          x = sorted[r.nextInt(k)];
        } else {
          x = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(6) - 3));
        }
        int want = argmin(sorted, x);
        assertEquals(want, plain.nearest(x), "k " + k + " x " + x);
        assertEquals(want, dense.nearest(x), "dense k " + k + " x " + x);
      }
      for (float x : new float[] {-1e6f, 1e6f}) {
        assertEquals(argmin(sorted, x), dense.nearest(x), "k " + k + " x " + x);
      }
      // Infinities map to the end codes (the lowest of equal centroids).
      assertEquals(0, dense.nearest(Float.NEGATIVE_INFINITY));
      assertEquals(argmin(sorted, sorted[k - 1]), dense.nearest(Float.POSITIVE_INFINITY));
      assertEquals(0, dense.nearest(Float.NaN));
    }
  }

  @Test
  void searchFindsTheBestCandidateAndFlipsSigns() {
    BlockScales s = new BlockScales(BOOK);
    // Every weight exactly a codebook entry times 0.02: scale 0.02, error zero.
    float[] x = new float[8];
    for (int i = 0; i < 8; i++) {
      x[i] = BOOK[i] * 0.02f;
    }
    float scale = s.search(x, 0, 8, null, ScalePrecision.F32);
    assertEquals(0.0, s.error(x, 0, 8, null, scale), 1e-12);
    // Mirrored, the block is reproduced by a negative scale: the codebook is longer below 0.
    float[] m = new float[8];
    for (int i = 0; i < 8; i++) {
      m[i] = -x[i];
    }
    float neg = s.search(m, 0, 8, null, ScalePrecision.F32);
    assertTrue(neg < 0, "scale " + neg);
    assertEquals(0.0, s.error(m, 0, 8, null, neg), 1e-12);
    // The chosen scale is at least as good as the plain absmax scale, for random blocks.
    SplittableRandom r = new SplittableRandom(3);
    float[] b = new float[32];
    for (int trial = 0; trial < 500; trial++) {
      for (int i = 0; i < b.length; i++) {
        b[i] = (float) (r.nextGaussian() * 0.01);
      }
      float best = s.search(b, 0, 32, null, ScalePrecision.F16);
      float absmax = 0;
      for (float v : b) {
        absmax = Math.max(absmax, Math.abs(v));
      }
      float plain = HalfFloats.f16ToFloat(HalfFloats.floatToF16(absmax));
      assertEquals(best, HalfFloats.f16ToFloat(HalfFloats.floatToF16(best)), "F16 scales are F16 values");
      assertTrue(s.error(b, 0, 32, null, best) <= s.error(b, 0, 32, null, plain) * 1.0000001,
          "trial " + trial);
    }
  }

  @Test
  void zerosOutliersAndOverflow() {
    BlockScales s = new BlockScales(BOOK);
    assertEquals(0f, s.search(new float[16], 0, 16, null, ScalePrecision.F16));
    float[] x = {0.01f, -0.02f, 5f, 0.005f};
    boolean[] skip = {false, false, true, false};
    float withSkip = s.search(x, 0, 4, skip, ScalePrecision.F32);
    assertTrue(Math.abs(withSkip) < 0.1, "an outlier does not set the scale: " + withSkip);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> s.search(new float[] {1e30f, 1f}, 0, 2, null, ScalePrecision.F16));
    assertTrue(e.getMessage().contains("beyond F16"), e.getMessage());
  }

  @Test
  void laddersCoverTheScalesAndCodeSignAndIndex() {
    SplittableRandom r = new SplittableRandom(11);
    float[] scales = new float[5000];
    double[] energy = new double[scales.length];
    for (int i = 0; i < scales.length; i++) {
      scales[i] = (float) (Math.exp(r.nextGaussian()) * (r.nextBoolean() ? 0.01 : -0.01));
      energy[i] = scales[i] * scales[i];
    }
    scales[17] = 0;
    float[] ladder = BlockScales.fitLadder(scales, energy, 64);
    assertEquals(64, ladder.length);
    assertEquals(0f, ladder[0], "a zero block reserves entry 0");
    for (int i = 1; i < ladder.length; i++) {
      assertTrue(ladder[i] >= ladder[i - 1] && ladder[i] > 0 && Float.isFinite(ladder[i]));
    }
    BlockScales s = new BlockScales(BOOK);
    float[] x = new float[32];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) (r.nextGaussian() * 0.01);
    }
    float best = s.search(x, 0, 32, null, ScalePrecision.F32);
    int code = s.ladderCode(x, 0, 32, null, best, ladder, 7);
    float back = BlockScales.ladderScale(code, ladder, 7);
    assertEquals(Math.signum(best), Math.signum(back));
    assertTrue(code >= 0 && code < 128);
    // The ladder scale is within the ladder's spacing of the best scale.
    assertTrue(Math.abs(Math.log(Math.abs(back) / Math.abs(best))) < 0.5, best + " vs " + back);
    assertEquals(-ladder[5], BlockScales.ladderScale(64 | 5, ladder, 7));
    assertEquals(ladder[5], BlockScales.ladderScale(5, ladder, 7));
  }

  @Test
  void ladderCodesHandBackWhatTheEncoderWouldCode() {
    SplittableRandom r = new SplittableRandom(13);
    for (float[] book : new float[][] {BOOK, {-0.8f, -0.3f, 0f, 0f, 0.2f, 0.45f, 0.7f, 1.1f}}) {
      BlockScales s = new BlockScales(book);
      int blocks = 400;
      float[] x = new float[blocks * 32];
      float[] best = new float[blocks];
      double[] energy = new double[blocks];
      for (int b = 0; b < blocks; b++) {
        double spread = Math.exp(r.nextGaussian()) * 0.01;
        for (int i = b * 32; i < b * 32 + 32; i++) {
          x[i] = b % 50 == 7 ? 0f : (float) (r.nextGaussian() * spread);
          energy[b] += (double) x[i] * x[i];
        }
        best[b] = s.search(x, b * 32, 32, null, ScalePrecision.F32);
      }
      float[] ladder = BlockScales.fitLadder(best, energy, 16);
      int[] codes = new int[32];
      for (int b = 0; b < blocks; b++) {
        boolean[] skip = b % 3 == 0 ? null : new boolean[x.length];
        if (skip != null) {
          skip[b * 32 + r.nextInt(32)] = true;
        }
        int code = s.ladderCode(x, b * 32, 32, skip, best[b], ladder, 5, codes);
        assertEquals(s.ladderCode(x, b * 32, 32, skip, best[b], ladder, 5), code);
        float scale = BlockScales.ladderScale(code, ladder, 5);
        for (int i = 0; i < 32; i++) {
          assertEquals(s.encode(x[b * 32 + i], scale), codes[i], "block " + b + " weight " + i);
        }
      }
    }
  }

  @Test
  void blockCodecReconstructsAsTheSearchScoredIt() {
    float[] scales = {0.5f, -0.25f, 0f};
    KMeansCodec c = KMeansCodec.blocks(UnitLayout.blocks(20, 8), BOOK, scales);
    assertEquals(BOOK[3] * -0.25f, c.value(1, 3));
    assertEquals(0f, c.value(2, 7));
    assertEquals(new BlockScales(BOOK).encode(0.1f, -0.25f), c.encode(1, 0.1f));
    assertEquals(new BlockScales(BOOK).encode(0.3f, 0f), c.encode(2, 0.3f));
  }
}
