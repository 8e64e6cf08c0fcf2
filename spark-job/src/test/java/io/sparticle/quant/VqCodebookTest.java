package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class VqCodebookTest {
  /** The unit square's corners, k = 4, d = 2. */
  private static final float[] SQUARE = {0f, 0f, 1f, 0f, 0f, 1f, 1f, 1f};

  @Test
  void handMadeExample() {
    for (VqCodebook book : new VqCodebook[] {
        VqCodebook.of(SQUARE, 2), VqCodebook.scalar(SQUARE, 2), VqCodebook.vector(SQUARE, 2)}) {
      assertEquals(2, book.dim());
      assertEquals(4, book.size());
      assertArrayEquals(SQUARE, book.codewords());
      assertEquals(1, book.nearest(new float[] {0.9f, 0.2f}, 0));
      assertEquals(3, book.nearest(new float[] {2f, 2f}, 0));
      assertEquals(0, book.nearest(new float[] {-1f, 0.1f}, 0));
      // (0.5, 0.9) is as far from (0, 1) as from (1, 1), bit for bit: the lower index, 2.
      assertEquals(2, book.nearest(new float[] {0.5f, 0.9f}, 0));
      // The centre ties all four: 0.
      assertEquals(0, book.nearest(new float[] {0.5f, 0.5f}, 0));
      // On a codeword, at an offset.
      assertEquals(3, book.nearest(new float[] {7f, 1f, 1f}, 1));
      // A NaN makes every distance NaN, an infinity every distance infinite: both code to 0.
      assertEquals(0, book.nearest(new float[] {Float.NaN, 1f}, 0));
      assertEquals(0, book.nearest(new float[] {1f, Float.POSITIVE_INFINITY}, 0));

      // Twelve sub-vectors (more than a group of 8 lanes, with a scalar tail), coded at once.
      float[] x = {
        0.9f, 0.2f, 2f, 2f, -1f, 0.1f, 0.5f, 0.9f, 0.5f, 0.5f, 1f, 1f,
        0.1f, 0.6f, 0.6f, 0.1f, 1f, 0f, 0.4f, 0.6f, 0.6f, 0.6f, 0.5f, 0.4f};
      int[] codes = new int[13];
      book.encode(x, 0, 12, codes, 1);
      assertArrayEquals(new int[] {0, 1, 3, 0, 2, 0, 3, 2, 1, 1, 2, 3, 0}, codes);
    }
    // A duplicate codeword is never chosen over its first copy.
    float[] dup = {1f, 1f, 0f, 0f, 1f, 1f, 0f, 0f};
    assertEquals(1, VqCodebook.of(dup, 2).nearest(new float[] {0.1f, 0f}, 0));
    assertEquals(0, VqCodebook.of(dup, 2).nearest(new float[] {1f, 1f}, 0));
  }

  @Test
  void theVectorKernelRunsWhereTheModuleIs() {
    // Surefire runs with spark.jvm.flags, which add jdk.incubator.vector: the vector kernel is
    // the one under test below, not the scalar one twice.
    assertTrue(VqCodebook.vectorAvailable(), "run with --add-modules=jdk.incubator.vector");
    assertTrue(VqCodebook.of(SQUARE, 2).isVector());
    assertTrue(VqCodebook.vector(SQUARE, 2).isVector());
    assertTrue(!VqCodebook.scalar(SQUARE, 2).isVector());
  }

  /**
   * The spec's nearest codeword, written as plainly as possible: float distances summed left to
   * right, codewords in index order, strict {@code <} from {@code best = dist(0)}.
   */
  static int reference(float[] c, int d, float[] x, int off, int step) {
    int k = c.length / d;
    int best = 0;
    float bestDist = 0;
    for (int i = 0; i < k; i++) {
      float dist = 0;
      for (int t = 0; t < d; t++) {
        float e = x[off + t * step] - c[i * d + t];
        float s = e * e;
        dist = t == 0 ? s : dist + s;
      }
      if (i == 0 || dist < bestDist) {
        best = i;
        bestDist = dist;
      }
    }
    return best;
  }

  /** Exact (double) distance, to check the float search picks a truly nearest codeword. */
  private static double exactDist(float[] c, int d, int code, float[] x, int off) {
    double s = 0;
    for (int t = 0; t < d; t++) {
      double e = (double) x[off + t] - c[code * d + t];
      s += e * e;
    }
    return s;
  }

  private static float[] codewords(int k, int d, int kind, SplittableRandom r) {
    float[] c = new float[k * d];
    float[] heavy = kind == 1 ? StudentT.bf16Samples(c.length, 3, 0.02, r.nextLong()) : null;
    for (int i = 0; i < k; i++) {
      for (int t = 0; t < d; t++) {
        c[i * d + t] = switch (kind) {
          case 0 -> (float) r.nextGaussian();
          case 1 -> heavy[i * d + t];
          // Small integers: exact arithmetic, so exact ties everywhere.
          default -> r.nextInt(5) - 2;
        };
      }
      if (i > 0 && r.nextInt(4) == 0) {
        // Duplicates, as a k-means with empty clusters leaves them.
        int j = r.nextInt(i);
        System.arraycopy(c, j * d, c, i * d, d);
      }
    }
    return c;
  }

  private static float[] queries(float[] c, int k, int d, int n, int kind, SplittableRandom r) {
    float[] x = new float[n * d];
    for (int i = 0; i < n; i++) {
      int pick = r.nextInt(10);
      int j = r.nextInt(k);
      for (int t = 0; t < d; t++) {
        float ct = c[j * d + t];
        x[i * d + t] = switch (pick) {
          case 0 -> ct; // on a codeword
          case 1 -> r.nextBoolean() ? Math.nextUp(ct) : Math.nextDown(ct);
          // Halfway between two codewords (an exact tie when the arithmetic is exact).
          case 2 -> (ct + c[r.nextInt(k) * d + t]) * 0.5f;
          case 3 -> kind == 2 ? (r.nextInt(9) - 4) * 0.5f : (float) (r.nextGaussian() * 100);
          default -> kind == 1
              ? ct + (float) (r.nextGaussian() * 0.02)
              : kind == 2 ? (r.nextInt(9) - 4) * 0.5f : (float) r.nextGaussian();
        };
      }
    }
    return x;
  }

  /** Encode, strided encode and nearest agree with the reference on both kernels. */
  private static void checkAgreement(int d, int k, int n, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    for (int kind = 0; kind < 3; kind++) {
      float[] c = codewords(k, d, kind, r);
      VqCodebook scalar = VqCodebook.scalar(c, d);
      VqCodebook vector = VqCodebook.vector(c, d);
      float[] x = queries(c, k, d, n, kind, r);
      int[] want = new int[n];
      for (int i = 0; i < n; i++) {
        want[i] = reference(c, d, x, i * d, 1);
        String where = "d=" + d + " k=" + k + " kind=" + kind + " i=" + i;
        assertEquals(want[i], scalar.nearest(x, i * d), where);
        assertEquals(want[i], vector.nearest(x, i * d), where);
        // The float search lands on a nearest codeword up to float rounding.
        double got = exactDist(c, d, want[i], x, i * d);
        double min = Double.POSITIVE_INFINITY;
        for (int j = 0; j < k; j++) {
          min = Math.min(min, exactDist(c, d, j, x, i * d));
        }
        assertTrue(got <= min * (1 + 1e-5) + 1e-30, where + ": " + got + " > " + min);
      }
      int[] gotScalar = new int[n + 3];
      int[] gotVector = new int[n + 3];
      scalar.encode(x, 0, n, gotScalar, 3);
      vector.encode(x, 0, n, gotVector, 3);
      for (int i = 0; i < n; i++) {
        assertEquals(want[i], gotScalar[3 + i], "scalar encode d=" + d + " k=" + k + " i=" + i);
        assertEquals(want[i], gotVector[3 + i], "vector encode d=" + d + " k=" + k + " i=" + i);
      }
      // The same sub-vectors as the columns of a [d, n] matrix, at an offset inside a bigger one.
      int stride = n + 5;
      int off = 2;
      float[] m = new float[off + d * stride];
      for (int i = 0; i < n; i++) {
        for (int t = 0; t < d; t++) {
          m[off + t * stride + i] = x[i * d + t];
        }
      }
      int[] stridedScalar = new int[n];
      int[] stridedVector = new int[n];
      scalar.encodeStrided(m, off, stride, n, stridedScalar, 0);
      vector.encodeStrided(m, off, stride, n, stridedVector, 0);
      assertArrayEquals(want, stridedScalar, "scalar strided d=" + d + " k=" + k);
      assertArrayEquals(want, stridedVector, "vector strided d=" + d + " k=" + k);
    }
  }

  @Test
  void kernelsAgreeWithTheReferenceForEveryDimensionAndSize() {
    long seed = 1;
    for (int d : new int[] {2, 4, 8}) {
      for (int k : new int[] {2, 4, 8, 16, 32, 256, 4096}) {
        // n not a multiple of the lanes: the scalar tail runs too.
        int n = k >= 4096 ? 37 : 203;
        checkAgreement(d, k, n, seed++);
      }
    }
  }

  @Test
  void largestCodebooksAgreeOnAFewPoints() {
    checkAgreement(4, VqCodebook.MAX_SIZE, 17, 11);
    checkAgreement(8, VqCodebook.MAX_SIZE, 17, 12);
  }

  @Test
  void specialValuesAgree() {
    SplittableRandom r = new SplittableRandom(3);
    // A NaN of either sign: the vector kernel keeps a lane's best as int bits.
    float[] specials = {0f, -0f, Float.NaN, Float.intBitsToFloat(0xFFC00001),
        Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
        Float.MAX_VALUE, -Float.MAX_VALUE, 3e19f, -3e19f, Float.MIN_VALUE, 1e-20f};
    for (int d : new int[] {2, 4, 8}) {
      for (int k : new int[] {2, 16, 256}) {
        float[] c = codewords(k, d, 0, r);
        // Codewords large enough that some distances overflow to +Infinity and others do not.
        for (int i = 0; i < c.length; i += 7) {
          c[i] *= 1e19f;
        }
        c[d] = Float.MAX_VALUE;
        c[c.length - d] = -0f;
        int n = 64;
        float[] x = new float[n * d];
        for (int i = 0; i < x.length; i++) {
          x[i] = r.nextInt(3) == 0 ? specials[r.nextInt(specials.length)]
              : (float) r.nextGaussian();
        }
        int[] gotScalar = new int[n];
        int[] gotVector = new int[n];
        VqCodebook.scalar(c, d).encode(x, 0, n, gotScalar, 0);
        VqCodebook.vector(c, d).encode(x, 0, n, gotVector, 0);
        for (int i = 0; i < n; i++) {
          int want = reference(c, d, x, i * d, 1);
          assertEquals(want, gotScalar[i], "scalar d=" + d + " k=" + k + " i=" + i);
          assertEquals(want, gotVector[i], "vector d=" + d + " k=" + k + " i=" + i);
        }
      }
    }
  }

  @Test
  void stridedEqualsGatherThenEncode() {
    SplittableRandom r = new SplittableRandom(9);
    int rows = 16;
    int cols = 37;
    float[] w = new float[rows * cols];
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) r.nextGaussian();
    }
    for (int d : new int[] {2, 4, 8}) {
      VqCodebook book = VqCodebook.of(codewords(256, d, 0, r), d);
      for (int row = 0; row + d <= rows; row += d) {
        // Columns 3..3+n of rows [row, row + d): one sub-vector per column.
        int n = cols - 3;
        float[] gathered = new float[n * d];
        for (int i = 0; i < n; i++) {
          for (int t = 0; t < d; t++) {
            gathered[i * d + t] = w[(row + t) * cols + 3 + i];
          }
        }
        int[] want = new int[n];
        book.encode(gathered, 0, n, want, 0);
        int[] got = new int[n];
        book.encodeStrided(w, row * cols + 3, cols, n, got, 0);
        assertArrayEquals(want, got, "d=" + d + " row=" + row);
      }
    }
  }

  @Test
  void squaredErrorSumsTheChosenCodewords() {
    VqCodebook book = VqCodebook.of(SQUARE, 2);
    float[] x = {0.5f, 0.25f, 2f, 1f};
    int[] codes = new int[2];
    book.encode(x, 0, 2, codes, 0);
    assertArrayEquals(new int[] {0, 3}, codes);
    assertEquals(0.25 + 0.0625 + 1, book.squaredError(x, 0, 2, codes, 0), 0.0);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> book.squaredError(x, 0, 1, new int[] {4}, 0));
    assertEquals("Cannot sum the error of code 4 at index 0: must be in [0, 4)", e.getMessage());
  }

  @Test
  void serializationKeepsTheCodewords() throws Exception {
    VqCodebook book = VqCodebook.of(codewords(16, 4, 0, new SplittableRandom(4)), 4);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(book);
    }
    VqCodebook back;
    try (ObjectInputStream in =
        new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
      back = (VqCodebook) in.readObject();
    }
    assertArrayEquals(book.codewords(), back.codewords());
    assertEquals(4, back.dim());
    float[] x = {0.1f, -0.3f, 2f, 0f, 1f, 1f, 1f, 1f};
    int[] want = new int[2];
    int[] got = new int[2];
    book.encode(x, 0, 2, want, 0);
    back.encode(x, 0, 2, got, 0);
    assertArrayEquals(want, got);
  }

  private static void assertRejected(String message, Runnable call) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
    assertEquals(message, e.getMessage());
  }

  @Test
  void badCodebooksAreRejected() {
    assertRejected("Cannot build a VQ codebook of dimension 3: must be 2, 4 or 8",
        () -> VqCodebook.of(new float[12], 3));
    assertRejected("Cannot build a VQ codebook of dimension 0: must be 2, 4 or 8",
        () -> VqCodebook.of(new float[12], 0));
    assertRejected("Cannot build a VQ codebook of 10 floats at dimension 4: the length must be "
        + "a multiple of 4", () -> VqCodebook.of(new float[10], 4));
    assertRejected("Cannot build a VQ codebook of 3 codewords: the count must be a power of two "
        + "from 2 to 65536", () -> VqCodebook.of(new float[6], 2));
    assertRejected("Cannot build a VQ codebook of 1 codewords: the count must be a power of two "
        + "from 2 to 65536", () -> VqCodebook.of(new float[2], 2));
    assertRejected("Cannot build a VQ codebook of 0 codewords: the count must be a power of two "
        + "from 2 to 65536", () -> VqCodebook.of(new float[0], 2));
    assertRejected("Cannot build a VQ codebook of 131072 codewords: the count must be a power "
        + "of two from 2 to 65536", () -> VqCodebook.of(new float[2 << 17], 2));
    float[] nan = new float[16];
    nan[13] = Float.NaN;
    assertRejected("Cannot build a VQ codebook with NaN at codeword 3, coordinate 1: coordinates "
        + "must be finite", () -> VqCodebook.of(nan, 4));
    float[] inf = new float[16];
    inf[0] = Float.NEGATIVE_INFINITY;
    assertRejected("Cannot build a VQ codebook with -Infinity at codeword 0, coordinate 0: "
        + "coordinates must be finite", () -> VqCodebook.scalar(inf, 8));
    assertRejected("Cannot build a VQ codebook: codewords are null", () -> VqCodebook.of(null, 2));
  }

  @Test
  void badRangesAreRejected() {
    VqCodebook book = VqCodebook.of(SQUARE, 2);
    float[] x = new float[10];
    int[] codes = new int[5];
    assertRejected("Cannot encode: x[9, 9 + 2) is out of bounds for length 10",
        () -> book.nearest(x, 9));
    assertRejected("Cannot encode: x[-1, -1 + 2) is out of bounds for length 10",
        () -> book.nearest(x, -1));
    assertRejected("Cannot encode -1 sub-vectors: n must be >= 0",
        () -> book.encode(x, 0, -1, codes, 0));
    assertRejected("Cannot encode: x[2, 2 + 10) is out of bounds for length 10",
        () -> book.encode(x, 2, 5, codes, 0));
    assertRejected("Cannot encode: codes[1, 1 + 5) is out of bounds for length 5",
        () -> book.encode(x, 0, 5, codes, 1));
    assertRejected("Cannot encode: x is null", () -> book.encode(null, 0, 1, codes, 0));
    assertRejected("Cannot encode: codes is null", () -> book.encode(x, 0, 1, null, 0));
    // Strided, d = 2: the last element read is x[off + stride + n - 1].
    assertRejected("Cannot encode strided sub-vectors with stride 0: must be >= 1",
        () -> book.encodeStrided(x, 0, 0, 1, codes, 0));
    assertRejected("Cannot encode: x[1, 1 + 10) is out of bounds for length 10",
        () -> book.encodeStrided(x, 1, 5, 5, codes, 0));
    int[] ok = new int[5];
    book.encodeStrided(x, 0, 5, 5, ok, 0);
    book.encode(x, 10, 0, ok, 5);
  }
}
