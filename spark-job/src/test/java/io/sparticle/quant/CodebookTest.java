package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class CodebookTest {

  // ---- hand-made examples ----

  @Test
  void nearestOnHandMadeCodebook() {
    Codebook book = Codebook.of(new float[] {2f, -1f, 0f});
    assertArrayEquals(new float[] {-1f, 0f, 2f}, book.centroids());
    assertEquals(3, book.size());
    assertEquals(2f, book.centroid(2));

    // Midpoints are -0.5 and 1: exactly on one goes to the lower code.
    assertEquals(0, book.nearest(-0.5f));
    assertEquals(1, book.nearest(Math.nextUp(-0.5f)));
    assertEquals(1, book.nearest(1f));
    assertEquals(2, book.nearest(Math.nextUp(1f)));
    assertEquals(0, book.nearest(-1e30f));
    assertEquals(0, book.nearest(Float.NEGATIVE_INFINITY));
    assertEquals(2, book.nearest(Float.POSITIVE_INFINITY));
    assertEquals(1, book.nearest(-0f));
    assertEquals(0, book.nearest(Float.NaN));
  }

  @Test
  void singleCentroidAndDuplicates() {
    Codebook one = Codebook.of(new float[] {0.25f});
    assertEquals(0, one.nearest(-100f));
    assertEquals(0, one.nearest(100f));

    // Equal centroids tie for every x: the lowest index wins, on both sides of the run.
    Codebook dup = Codebook.of(new float[] {1f, 1f, 3f, 5f, 5f, 5f});
    assertEquals(0, dup.nearest(0f));
    assertEquals(0, dup.nearest(1f));
    assertEquals(0, dup.nearest(2f));
    assertEquals(2, dup.nearest(Math.nextUp(2f)));
    assertEquals(2, dup.nearest(4f));
    assertEquals(3, dup.nearest(Math.nextUp(4f)));
    assertEquals(3, dup.nearest(5f));
    assertEquals(3, dup.nearest(Float.POSITIVE_INFINITY));
    Codebook zeros = Codebook.of(new float[] {0f, -0f});
    assertEquals(0, zeros.nearest(1f));
    assertEquals(0, zeros.nearest(-1f));
  }

  @Test
  void ofCopiesItsInputAndCentroidsReturnsACopy() {
    float[] input = {3f, 1f};
    Codebook book = Codebook.of(input);
    input[0] = 100f;
    assertEquals(3f, book.centroid(1));
    book.centroids()[0] = 100f;
    assertEquals(1f, book.centroid(0));
  }

  @Test
  void roundTo() {
    Codebook book = Codebook.of(new float[] {0.1f, -1f / 3});
    assertSame(book, book.roundTo(CodebookPrecision.F32));
    assertArrayEquals(
        new float[] {HalfFloats.f16ToFloat((short) 0xB555), HalfFloats.f16ToFloat((short) 0x2E66)},
        book.roundTo(CodebookPrecision.F16).centroids());
    assertArrayEquals(
        new float[] {
          HalfFloats.bf16ToFloat((short) 0xBEAB), HalfFloats.bf16ToFloat((short) 0x3DCD)
        },
        book.roundTo(CodebookPrecision.BF16).centroids());

    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Codebook.of(new float[] {1f, 70000f}).roundTo(CodebookPrecision.F16));
    assertEquals("Cannot round centroid 70000.0 to F16: out of range", e.getMessage());
  }

  @Test
  void serializesAndRevalidates() throws Exception {
    Codebook book = Codebook.of(new float[] {0.5f, -0.25f, 4f});
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(book);
    }
    Codebook back;
    try (ObjectInputStream in =
        new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
      back = (Codebook) in.readObject();
    }
    assertNotSame(book, back);
    assertEquals(book, back);
    assertEquals(2, back.nearest(3f)); // midpoints were rebuilt
  }

  // ---- error rules ----

  @Test
  void rejectsBadCentroids() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Codebook.of(new float[0]));
    assertEquals(
        "Cannot build a codebook of 0 centroids: must be between 1 and 65536", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> Codebook.of(new float[65537]));
    assertEquals(
        "Cannot build a codebook of 65537 centroids: must be between 1 and 65536", e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class, () -> Codebook.of(new float[] {0f, Float.NaN}));
    assertEquals(
        "Cannot build a codebook with centroid NaN at index 1: centroids must be finite",
        e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Codebook.of(new float[] {Float.NEGATIVE_INFINITY}));
    assertEquals(
        "Cannot build a codebook with centroid -Infinity at index 0: centroids must be finite",
        e.getMessage());
    assertEquals(65536, Codebook.of(new float[65536]).size());
  }

  @Test
  void rejectsBadLookupTableArguments() {
    Codebook book = Codebook.of(new float[] {0f, 1f});
    for (float scale : new float[] {0f, -1f, Float.NaN, Float.POSITIVE_INFINITY}) {
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class, () -> book.lookupTable(Float16Kind.F16, scale));
      assertEquals(
          "Cannot build a lookup table with scale " + scale + ": must be finite and positive",
          e.getMessage());
    }
    IllegalStateException e =
        assertThrows(
            IllegalStateException.class,
            () -> Codebook.of(new float[257]).lookupTable(Float16Kind.BF16, 1f));
    assertEquals(
        "Cannot build a byte lookup table for 257 centroids: at most 256 codes fit in a byte",
        e.getMessage());
  }

  // ---- randomized ----

  /** Argmin of |x - c| in double, lowest index on ties. Exact for the magnitudes used here. */
  private static int bruteForceNearest(float[] sorted, float x) {
    int best = 0;
    double bestDistance = Math.abs((double) x - sorted[0]);
    for (int i = 1; i < sorted.length; i++) {
      double d = Math.abs((double) x - sorted[i]);
      if (d < bestDistance) {
        best = i;
        bestDistance = d;
      }
    }
    return best;
  }

  @Test
  void nearestMatchesBruteForce() {
    SplittableRandom random = new SplittableRandom(11);
    for (int trial = 0; trial < 300; trial++) {
      int size = 1 + random.nextInt(trial < 200 ? 20 : 300);
      float[] raw = new float[size];
      for (int i = 0; i < size; i++) {
        // Coarse grid values make duplicates and exact midpoints common.
        raw[i] =
            random.nextBoolean()
                ? random.nextInt(-16, 17) / 8f
                : (float) (random.nextGaussian() * 0.05);
      }
      Codebook book = Codebook.of(raw);
      float[] sorted = book.centroids();
      for (int q = 0; q < 2000; q++) {
        float x;
        switch (q % 4) {
          case 0:
            x = random.nextInt(-40, 41) / 16f;
            break;
          case 1:
            int i = random.nextInt(sorted.length);
            int j = random.nextInt(sorted.length);
            x = (float) (((double) sorted[i] + sorted[j]) / 2); // often an exact midpoint
            break;
          case 2:
            x = sorted[random.nextInt(sorted.length)];
            break;
          default:
            x = (float) (random.nextGaussian() * 0.1);
        }
        final float query = x;
        assertEquals(bruteForceNearest(sorted, x), book.nearest(x), () -> "x=" + query);
      }
    }
  }

  @Test
  void lookupTableMatchesNearestForEveryPattern() {
    SplittableRandom random = new SplittableRandom(13);
    float[] raw = new float[16];
    for (int i = 0; i < raw.length; i++) {
      raw[i] = (float) (random.nextGaussian() * 0.5);
    }
    Codebook book = Codebook.of(raw);
    Codebook big = Codebook.of(new float[] {-1f, 1f, 3f});
    for (Float16Kind kind : Float16Kind.values()) {
      for (float scale : new float[] {1f, 0.37f, 1e-3f, 3e4f}) {
        for (Codebook b : new Codebook[] {book, big}) {
          byte[] table = b.lookupTable(kind, scale);
          assertEquals(1 << 16, table.length);
          for (int i = 0; i < 1 << 16; i++) {
            final int p = i;
            float v = kind.toFloat((short) p);
            int expected = Float.isFinite(v) ? b.nearest(v / scale) : 0;
            assertEquals(
                expected, table[p] & 0xFF, () -> kind + " pattern " + p + " scale " + scale);
          }
        }
      }
    }
    // 256 codes still fit, read back unsigned.
    float[] many = new float[256];
    for (int i = 0; i < many.length; i++) {
      many[i] = i;
    }
    byte[] table = Codebook.of(many).lookupTable(Float16Kind.BF16, 1f);
    assertEquals(255, table[Float16Kind.BF16.fromFloat(255f) & 0xFFFF] & 0xFF);
  }
}
