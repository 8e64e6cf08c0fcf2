package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class KMeansCodecTest {

  // ---- hand-made examples ----

  @Test
  void sharedCodebookWithScale() {
    float[] book = {-1f, 0f, 0.5f, 2f};
    KMeansCodec codec = KMeansCodec.shared(book, 0.1f, 10);
    assertEquals(2, codec.bits());
    assertEquals(4, codec.numCodes());
    assertEquals(UnitLayout.whole(10), codec.layout());
    assertEquals(0.1f, codec.scale());
    // value = centroid * scale, one float32 multiply.
    assertEquals(-1f * 0.1f, codec.value(0, 0));
    assertEquals(0.5f * 0.1f, codec.value(0, 2));
    assertEquals(2f * 0.1f, codec.value(0, 3));
    // encode = nearest(x / scale): 0.03 / 0.1 = 0.3 -> 0.5 (code 2); 0.02 / 0.1 = 0.2 -> 0.
    assertEquals(2, codec.encode(0, 0.03f));
    assertEquals(1, codec.encode(0, 0.02f));
    assertEquals(0, codec.encode(0, -5f));
    assertEquals(3, codec.encode(0, 5f));
    // 0.025 / 0.1 in float is 0.25, the midpoint of 0 and 0.5: the lower code.
    assertEquals(0.25f, 0.025f / 0.1f);
    assertEquals(1, codec.encode(0, 0.025f));
    float[] levels = new float[4];
    codec.levels(0, ValueKind.BF16, levels);
    assertEquals(ValueKind.BF16.roundTrip(0.05f), levels[2]);
  }

  @Test
  void sharedMatchesNearestOfTheQuotientOnRandomWeights() {
    SplittableRandom random = new SplittableRandom(8);
    float[] book = new float[16];
    for (int i = 0; i < 16; i++) {
      book[i] = (float) (i - 7.5) / 4;
    }
    float scale = 0.037f;
    KMeansCodec codec = KMeansCodec.shared(book, scale, 1000);
    Codebook cb = Codebook.of(book);
    for (int i = 0; i < 100_000; i++) {
      float x = (float) (random.nextGaussian() * 0.1);
      int code = codec.encode(0, x);
      assertEquals(cb.nearest(x / scale), code);
      assertEquals(Float.floatToIntBits(book[code] * scale),
          Float.floatToIntBits(codec.value(0, code)));
    }
  }

  @Test
  void perUnitRows() {
    UnitLayout rows = UnitLayout.channels(new long[] {2, 3}, 0);
    float[][] books = {{0f, 1f}, {-10f, 10f}};
    KMeansCodec codec = KMeansCodec.perUnit(rows, books, 1);
    assertEquals(1f, codec.scale());
    assertEquals(0, codec.encode(0, 0.4f));
    assertEquals(1, codec.encode(0, 0.6f));
    assertEquals(1, codec.encode(1, 0.6f));
    assertEquals(0, codec.encode(1, -0.6f));
    assertEquals(10f, codec.value(1, 1));
    assertEquals(1f, codec.value(0, 1));
    assertEquals(books[1], codec.centroids(1));
    assertEquals(Codebook.of(books[1]), codec.codebook(1));
  }

  @Test
  void perUnitColumns() {
    UnitLayout cols = UnitLayout.channels(new long[] {2, 3}, 1);
    float[][] books = {{0f, 1f, 2f, 3f}, {0f, 10f, 20f, 30f}, {-3f, -2f, -1f, 0f}};
    KMeansCodec codec = KMeansCodec.perUnit(cols, books, 2);
    float[] w = {2.2f, 19f, -0.4f, 0.4f, 26f, -2.6f};
    int[] expected = {2, 2, 3, 0, 3, 0};
    for (int e = 0; e < w.length; e++) {
      int unit = (int) cols.unitOf(e);
      assertEquals(expected[e], codec.encode(unit, w[e]), "element " + e);
    }
    assertEquals(20f, codec.value(1, 2));
    assertEquals(-3f, codec.value(2, 0));
  }

  @Test
  void valueUsesTheCentroidsInStoredOrder() {
    // A decoder indexes the stored array as it is: value() must not sort.
    float[] stored = {2f, -1f, 0.5f, 0f};
    KMeansCodec shared = KMeansCodec.shared(stored, 2f, 4);
    assertEquals(4f, shared.value(0, 0));
    assertEquals(-2f, shared.value(0, 1));
    assertEquals(1f, shared.value(0, 2));
    assertEquals(0f, shared.value(0, 3));
    KMeansCodec perUnit = KMeansCodec.perUnit(UnitLayout.whole(4), new float[][] {stored}, 2);
    assertEquals(2f, perUnit.value(0, 0));
    assertEquals(-1f, perUnit.value(0, 1));
  }

  // ---- error rules ----

  @Test
  void rejectsAWrongNumberOfCodebooks() {
    UnitLayout rows = UnitLayout.channels(new long[] {3, 4}, 0);
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> KMeansCodec.perUnit(rows, new float[2][4], 2));
    assertEquals("2 codebooks for 3 units", e.getMessage());
  }

  @Test
  void rejectsCodebooksOfTheWrongSize() {
    UnitLayout rows = UnitLayout.channels(new long[] {2, 4}, 0);
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> KMeansCodec.perUnit(rows, new float[][] {new float[4], new float[3]}, 2));
    assertEquals("A codebook of 3 centroids for 2 bits", e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> KMeansCodec.shared(new float[12], 1f, 10));
    assertEquals("A codebook of 12 centroids is not 2^bits", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> KMeansCodec.shared(new float[0], 1f, 10));
    assertEquals("A codebook of 0 centroids is not 2^bits", e.getMessage());
  }

  @Test
  void rejectsBadScales() {
    for (float scale : new float[] {0f, -1f, Float.NaN, Float.POSITIVE_INFINITY}) {
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class, () -> KMeansCodec.shared(new float[4], scale, 10));
      assertEquals("Cannot use scale " + scale + ": must be finite and positive", e.getMessage());
    }
  }
}
