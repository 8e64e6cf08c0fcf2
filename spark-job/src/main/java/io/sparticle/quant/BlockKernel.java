package io.sparticle.quant;

/**
 * The per-weight passes of {@link BlockScales} over one block: scoring candidate scales, and
 * coding a block at a scale. Two implementations give the same results bit for bit: {@link
 * Scalar}, plain Java, and {@link VectorBlockKernel}, on the {@code jdk.incubator.vector} API,
 * which {@link #of} picks when the JVM was started with that module
 * ({@code --add-modules=jdk.incubator.vector}, among Spark 4's launcher flags and this project's
 * {@code spark.jvm.flags}) and the codebook has at most {@value VectorBlockKernel#MAX_CODES}
 * codes.
 *
 * <p>Both keep the order of every sum (weights ascending, in double), so the scores, and hence the
 * scales chosen, do not depend on which runs. Implementations keep scratch arrays: one instance
 * per thread.
 */
interface BlockKernel {
  /**
   * Scores candidate scales {@code s[0, count)} on {@code x[off, off + n)}, weights with {@code
   * skip[off + i]} set left out ({@code skip} may be null). For candidate j, every weight takes
   * the centroid {@code q = c[nearest(x * (1f / s[j]))]}, and {@code sums[3j]}, {@code sums[3j +
   * 1]}, {@code sums[3j + 2]} are the sums of {@code (x - q s[j])^2} (the difference in float),
   * {@code x q} and {@code q q}.
   */
  void score(float[] x, int off, int n, boolean[] skip, float[] s, int count, double[] sums);

  /**
   * The code of every weight of {@code x[off, off + n)} (skipped ones too) at scale {@code s},
   * {@code nearest(x / s)} ({@code nearest(0)} for {@code s == 0}), into {@code out[0, n)}; returns
   * the squared error {@code (x - c[code] s)^2} of the weights not skipped.
   */
  double codes(float[] x, int off, int n, boolean[] skip, float s, int[] out);

  /** The fastest kernel this JVM offers for {@code book}. */
  static BlockKernel of(Codebook book) {
    if (book.size() <= VectorBlockKernel.MAX_CODES && VectorSupport.AVAILABLE) {
      return new VectorBlockKernel(book);
    }
    return new Scalar(book);
  }

  /** Whether the JVM resolved {@code jdk.incubator.vector}; read without loading its classes. */
  final class VectorSupport {
    static final boolean AVAILABLE =
        ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

    private VectorSupport() {}
  }

  /** A pass per candidate, a {@link Codebook#nearest} per weight. */
  final class Scalar implements BlockKernel {
    private final Codebook book;
    private final float[] c;

    Scalar(Codebook book) {
      this.book = book;
      this.c = book.centroids();
    }

    @Override
    public void score(float[] x, int off, int n, boolean[] skip, float[] s, int count,
        double[] sums) {
      for (int j = 0; j < count; j++) {
        float s0 = s[j];
        // A multiply by the reciprocal: the encoder codes the chosen scale exactly later.
        float inv = 1f / s0;
        double e0 = 0;
        double sxc = 0;
        double scc = 0;
        for (int i = off; i < off + n; i++) {
          if (skip == null || !skip[i]) {
            float q = c[book.nearest(x[i] * inv)];
            float d = x[i] - q * s0;
            e0 += (double) d * d;
            sxc += (double) x[i] * q;
            scc += (double) q * q;
          }
        }
        sums[3 * j] = e0;
        sums[3 * j + 1] = sxc;
        sums[3 * j + 2] = scc;
      }
    }

    @Override
    public double codes(float[] x, int off, int n, boolean[] skip, float s, int[] out) {
      double e = 0;
      for (int i = off; i < off + n; i++) {
        int q = book.nearest(s == 0 ? 0f : x[i] / s);
        out[i - off] = q;
        if (skip == null || !skip[i]) {
          float d = x[i] - c[q] * s;
          e += (double) d * d;
        }
      }
      return e;
    }
  }
}
