package io.sparticle.quant;

import java.io.Serializable;

/**
 * A vector-quantization codebook: {@code k} codewords of dimension {@code d} ({@code d} in 2, 4,
 * 8; {@code k} a power of two from 2 to 65,536), and the search that codes a sub-vector of
 * {@code d} weights as the index of its nearest codeword.
 *
 * <h2>Nearest codeword, exactly</h2>
 *
 * The code of a sub-vector {@code x} is part of our format's spec, re-derived by the verifier on
 * other machines, so it is defined in float32 arithmetic down to the last bit:
 *
 * <ul>
 *   <li>The distance to codeword {@code c} is computed in float (IEEE 754 binary32, round to
 *       nearest even, every operation rounded, no fused multiply-add), coordinates left to right:
 *       {@code e_t = x_t - c_t}, {@code s_t = e_t * e_t}, {@code dist = (((s_0 + s_1) + s_2) + s_3)
 *       ...} up to {@code s_(d-1)}; for {@code d = 2} just {@code s_0 + s_1}.
 *   <li>The code is the lowest index among the codewords of least distance: scanning the
 *       codewords in index order, {@code best = dist(0)}, and codeword {@code i} replaces the
 *       best only if {@code dist(i) < best} (strict).
 * </ul>
 *
 * <p>Codewords are finite, so a distance is NaN only if {@code x} holds a NaN, and then every
 * distance is NaN and the code is 0. An overflowing distance is {@code +Infinity}; if every
 * distance is infinite (an infinite weight, say) the code is 0 too.
 *
 * <h2>Kernels</h2>
 *
 * Two implementations compute the same codes, bit for bit, because both perform exactly the float
 * operations above in the same order: a scalar one, and {@link VectorVqKernel} on the
 * {@code jdk.incubator.vector} API, which {@link #of} picks when the JVM resolved that module
 * ({@code --add-modules=jdk.incubator.vector}, in this project's {@code spark.jvm.flags}) unless
 * the system property {@value #SCALAR_PROPERTY} is {@code true}. The vector kernel puts one
 * sub-vector in each lane (8 on AVX2) and scans the codebook once per group of lanes, so it is the
 * {@link #encode} and {@link #encodeStrided} of many sub-vectors that it speeds up; a single
 * {@link #nearest} is always scalar. A codebook holds no scratch state: one instance may serve
 * many threads.
 *
 * <pre>{@code
 * float[] words = {0f, 0f,   1f, 0f,   0f, 1f,   1f, 1f};   // k = 4 codewords, d = 2
 * VqCodebook book = VqCodebook.of(words, 2);
 * int code = book.nearest(new float[] {0.9f, 0.2f}, 0);     // 1
 * int[] codes = new int[weights.length / 2];
 * book.encode(weights, 0, codes.length, codes, 0);
 * }</pre>
 */
public final class VqCodebook implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Set to {@code true} to use the scalar kernel even where the vector API is present. */
  public static final String SCALAR_PROPERTY = "sparticle.vq.scalar";

  /** Most codewords: codes of up to 16 bits. */
  public static final int MAX_SIZE = 1 << 16;

  // Read once: the kernel is a property of the JVM, not of a call (and the codes do not depend on
  // it anyway).
  private static final boolean FORCE_SCALAR = Boolean.getBoolean(SCALAR_PROPERTY);

  private final int d;
  private final float[] codewords;
  // Rebuilt (and the codewords re-validated) on deserialization by readResolve.
  private final transient Kernel kernel;
  private final transient boolean vector;

  private VqCodebook(float[] codewords, int d, boolean vector) {
    this.d = d;
    this.codewords = codewords;
    this.vector = vector;
    this.kernel = vector ? new VectorVqKernel(codewords, d) : new ScalarKernel(codewords, d);
  }

  /**
   * A codebook of a copy of {@code codewords}: codeword {@code c} is {@code codewords[c * d, c * d
   * + d)}.
   *
   * @throws IllegalArgumentException unless {@code d} is 2, 4 or 8, the length is a multiple of
   *     {@code d}, the count {@code k = length / d} is a power of two from 2 to 65,536, and every
   *     coordinate is finite
   */
  public static VqCodebook of(float[] codewords, int d) {
    return new VqCodebook(validate(codewords, d), d, !FORCE_SCALAR && vectorAvailable());
  }

  /** {@link #of}, always on the scalar kernel: for tests, and a reference. */
  static VqCodebook scalar(float[] codewords, int d) {
    return new VqCodebook(validate(codewords, d), d, false);
  }

  /** {@link #of}, always on the vector kernel (the module must be present). */
  static VqCodebook vector(float[] codewords, int d) {
    if (!vectorAvailable()) {
      throw new IllegalStateException("Cannot build a vector VQ kernel: the JVM lacks "
          + "jdk.incubator.vector (start it with --add-modules=jdk.incubator.vector)");
    }
    return new VqCodebook(validate(codewords, d), d, true);
  }

  /** Whether the JVM resolved {@code jdk.incubator.vector}; read without loading its classes. */
  static boolean vectorAvailable() {
    return BlockKernel.VectorSupport.AVAILABLE;
  }

  private static float[] validate(float[] codewords, int d) {
    if (codewords == null) {
      throw new IllegalArgumentException("Cannot build a VQ codebook: codewords are null");
    }
    if (d != 2 && d != 4 && d != 8) {
      throw new IllegalArgumentException(
          "Cannot build a VQ codebook of dimension " + d + ": must be 2, 4 or 8");
    }
    if (codewords.length % d != 0) {
      throw new IllegalArgumentException("Cannot build a VQ codebook of " + codewords.length
          + " floats at dimension " + d + ": the length must be a multiple of " + d);
    }
    int k = codewords.length / d;
    if (k < 2 || k > MAX_SIZE || Integer.bitCount(k) != 1) {
      throw new IllegalArgumentException("Cannot build a VQ codebook of " + k
          + " codewords: the count must be a power of two from 2 to " + MAX_SIZE);
    }
    float[] copy = codewords.clone();
    for (int i = 0; i < copy.length; i++) {
      if (!Float.isFinite(copy[i])) {
        throw new IllegalArgumentException("Cannot build a VQ codebook with " + copy[i]
            + " at codeword " + i / d + ", coordinate " + i % d + ": coordinates must be finite");
      }
    }
    return copy;
  }

  /** The dimension {@code d} of a codeword. */
  public int dim() {
    return d;
  }

  /** The number {@code k} of codewords. */
  public int size() {
    return codewords.length / d;
  }

  /** A copy of the codewords, {@code k * d} floats, codeword {@code c} at {@code [c d, c d + d)}. */
  public float[] codewords() {
    return codewords.clone();
  }

  /** Whether this codebook encodes on the vector kernel. */
  boolean isVector() {
    // Not instanceof: that would load VectorVqKernel on JVMs without the module.
    return vector;
  }

  /**
   * The index of the codeword nearest to {@code x[off, off + d)}, as the class comment defines
   * it (ties: the lowest index).
   *
   * @throws IllegalArgumentException if {@code x[off, off + d)} is out of bounds
   */
  public int nearest(float[] x, int off) {
    checkRange("x", x == null ? -1 : x.length, off, d);
    return nearestScalar(codewords, d, x, off, 1);
  }

  /**
   * Codes {@code n} consecutive sub-vectors: {@code codes[codesOff + i] = nearest(x, off + i *
   * d)} for {@code i < n}. The fast path.
   *
   * @throws IllegalArgumentException if {@code n < 0} or a range is out of bounds
   */
  public void encode(float[] x, int off, int n, int[] codes, int codesOff) {
    if (n < 0) {
      throw new IllegalArgumentException("Cannot encode " + n + " sub-vectors: n must be >= 0");
    }
    checkRange("x", x == null ? -1 : x.length, off, Math.multiplyExact((long) n, d));
    checkRange("codes", codes == null ? -1 : codes.length, codesOff, n);
    kernel.encode(x, off, 1, d, n, codes, codesOff);
  }

  /**
   * Codes {@code n} strided sub-vectors: element {@code t} of sub-vector {@code i} is {@code
   * x[off + t * stride + i]}, its code goes to {@code codes[codesOff + i]}. For a row-major
   * {@code [rows, cols]} matrix (an ONNX {@code [in, out]} weight), {@code d} consecutive rows
   * from row {@code r} make {@code cols} sub-vectors, one per column: {@code off = r * cols},
   * {@code stride = cols}, {@code n = cols}.
   *
   * @throws IllegalArgumentException if {@code n < 0}, {@code stride < 1}, or a range is out of
   *     bounds
   */
  public void encodeStrided(float[] x, int off, int stride, int n, int[] codes, int codesOff) {
    if (n < 0) {
      throw new IllegalArgumentException("Cannot encode " + n + " sub-vectors: n must be >= 0");
    }
    if (stride < 1) {
      throw new IllegalArgumentException(
          "Cannot encode strided sub-vectors with stride " + stride + ": must be >= 1");
    }
    if (n > 0) {
      // The last element read is x[off + (d - 1) stride + n - 1].
      long span = Math.addExact(Math.multiplyExact((long) d - 1, stride), n);
      checkRange("x", x == null ? -1 : x.length, off, span);
    }
    checkRange("codes", codes == null ? -1 : codes.length, codesOff, n);
    kernel.encode(x, off, stride, 1, n, codes, codesOff);
  }

  /**
   * The sum over {@code n} consecutive sub-vectors of the squared error to the codewords of
   * {@code codes}, in double (each coordinate's difference taken in float, as in the distance).
   *
   * @throws IllegalArgumentException if a range is out of bounds or a code is not below {@code k}
   */
  public double squaredError(float[] x, int off, int n, int[] codes, int codesOff) {
    if (n < 0) {
      throw new IllegalArgumentException("Cannot sum " + n + " sub-vectors: n must be >= 0");
    }
    checkRange("x", x == null ? -1 : x.length, off, Math.multiplyExact((long) n, d));
    checkRange("codes", codes == null ? -1 : codes.length, codesOff, n);
    int k = size();
    double sum = 0;
    for (int i = 0; i < n; i++) {
      int c = codes[codesOff + i];
      if (c < 0 || c >= k) {
        throw new IllegalArgumentException("Cannot sum the error of code " + c + " at index "
            + (codesOff + i) + ": must be in [0, " + k + ")");
      }
      int xo = off + i * d;
      int co = c * d;
      for (int t = 0; t < d; t++) {
        double e = x[xo + t] - codewords[co + t];
        sum += e * e;
      }
    }
    return sum;
  }

  private static void checkRange(String name, int length, long off, long count) {
    if (length < 0) {
      throw new IllegalArgumentException("Cannot encode: " + name + " is null");
    }
    if (off < 0 || count < 0 || off + count > length) {
      throw new IllegalArgumentException("Cannot encode: " + name + "[" + off + ", " + off
          + " + " + count + ") is out of bounds for length " + length);
    }
  }

  /**
   * The nearest codeword, scanning in index order with strict {@code <}: the reference both
   * kernels follow. Element {@code t} of the sub-vector is {@code x[off + t * step]}.
   */
  static int nearestScalar(float[] c, int d, float[] x, int off, int step) {
    int k = c.length / d;
    int best = 0;
    // +Infinity first, then strict <: the same code as best = dist(0), since a NaN distance
    // makes every distance NaN (codewords are finite) and then neither form ever replaces 0.
    float bestDist = Float.POSITIVE_INFINITY;
    switch (d) {
      case 2: {
        float x0 = x[off];
        float x1 = x[off + step];
        for (int i = 0, o = 0; i < k; i++, o += 2) {
          float e0 = x0 - c[o];
          float e1 = x1 - c[o + 1];
          float dist = e0 * e0 + e1 * e1;
          if (dist < bestDist) {
            bestDist = dist;
            best = i;
          }
        }
        return best;
      }
      case 4: {
        float x0 = x[off];
        float x1 = x[off + step];
        float x2 = x[off + 2 * step];
        float x3 = x[off + 3 * step];
        for (int i = 0, o = 0; i < k; i++, o += 4) {
          float e0 = x0 - c[o];
          float e1 = x1 - c[o + 1];
          float e2 = x2 - c[o + 2];
          float e3 = x3 - c[o + 3];
          float dist = ((e0 * e0 + e1 * e1) + e2 * e2) + e3 * e3;
          if (dist < bestDist) {
            bestDist = dist;
            best = i;
          }
        }
        return best;
      }
      default: {
        float x0 = x[off];
        float x1 = x[off + step];
        float x2 = x[off + 2 * step];
        float x3 = x[off + 3 * step];
        float x4 = x[off + 4 * step];
        float x5 = x[off + 5 * step];
        float x6 = x[off + 6 * step];
        float x7 = x[off + 7 * step];
        for (int i = 0, o = 0; i < k; i++, o += 8) {
          float e0 = x0 - c[o];
          float e1 = x1 - c[o + 1];
          float e2 = x2 - c[o + 2];
          float e3 = x3 - c[o + 3];
          float e4 = x4 - c[o + 4];
          float e5 = x5 - c[o + 5];
          float e6 = x6 - c[o + 6];
          float e7 = x7 - c[o + 7];
          float dist = ((((((e0 * e0 + e1 * e1) + e2 * e2) + e3 * e3) + e4 * e4) + e5 * e5)
              + e6 * e6) + e7 * e7;
          if (dist < bestDist) {
            bestDist = dist;
            best = i;
          }
        }
        return best;
      }
    }
  }

  private Object readResolve() {
    // Never trust a stream: validate, and pick this JVM's kernel.
    return of(codewords, d);
  }

  /**
   * Codes {@code n} sub-vectors; element {@code t} of sub-vector {@code i} is {@code x[off + t *
   * elemStep + i * vecStep]}, its code goes to {@code codes[codesOff + i]}. Ranges are checked by
   * the caller. Implementations keep no state between calls.
   */
  interface Kernel {
    void encode(float[] x, int off, int elemStep, int vecStep, int n, int[] codes, int codesOff);
  }

  /** {@link #nearestScalar} per sub-vector. */
  static final class ScalarKernel implements Kernel {
    private final float[] c;
    private final int d;

    ScalarKernel(float[] c, int d) {
      this.c = c;
      this.d = d;
    }

    @Override
    public void encode(float[] x, int off, int elemStep, int vecStep, int n, int[] codes,
        int codesOff) {
      for (int i = 0; i < n; i++) {
        codes[codesOff + i] = nearestScalar(c, d, x, off + i * vecStep, elemStep);
      }
    }
  }
}
