package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class BlockKernelTest {
  @Test
  void theVectorKernelRunsWhereTheModuleIs() {
    // Surefire runs with spark.jvm.flags, which add jdk.incubator.vector: the vector kernel is
    // the one under test below, not the scalar one twice.
    assertTrue(BlockKernel.VectorSupport.AVAILABLE, "run with --add-modules=jdk.incubator.vector");
    Codebook small = Codebook.of(new float[] {-1f, 0f, 0.5f});
    assertTrue(BlockKernel.of(small) instanceof VectorBlockKernel);
    float[] big = new float[VectorBlockKernel.MAX_CODES + 1];
    for (int i = 0; i < big.length; i++) {
      big[i] = i;
    }
    assertTrue(BlockKernel.of(Codebook.of(big)) instanceof BlockKernel.Scalar);
  }

  /** A midpoint's floor, or the float just above or below it. */
  private static float near(float floor, SplittableRandom r) {
    int pick = r.nextInt(3);
    return pick == 0 ? floor : pick == 1 ? Math.nextUp(floor) : Math.nextDown(floor);
  }

  @Test
  void vectorAndScalarKernelsAgreeBitForBit() {
    SplittableRandom r = new SplittableRandom(5);
    for (int trial = 0; trial < 400; trial++) {
      int k = 1 + r.nextInt(VectorBlockKernel.MAX_CODES);
      float[] c = new float[k];
      for (int i = 0; i < k; i++) {
        // Duplicates, signed zeros and clustered values, as fitted codebooks have.
        int pick = r.nextInt(10);
        c[i] = i > 0 && pick == 0 ? c[i - 1] : pick == 1 ? (r.nextBoolean() ? 0f : -0f)
            : (float) r.nextGaussian();
      }
      Codebook book = Codebook.of(c).dense();
      float[] sorted = book.centroids();
      float[] floors = book.midpointFloors();
      BlockKernel scalar = new BlockKernel.Scalar(book);
      BlockKernel vector = new VectorBlockKernel(book);
      int n = 1 + r.nextInt(trial % 2 == 0 ? 33 : 90);
      int off = r.nextInt(5);
      float[] x = new float[off + n];
      double spread = Math.pow(10, r.nextInt(7) - 4);
      for (int i = 0; i < x.length; i++) {
        int pick = r.nextInt(12);
        x[i] = pick == 0 ? 0f : pick == 1 ? -0f
            : pick == 2 ? sorted[r.nextInt(k)] * (float) spread // on a centroid
            : pick == 3 && k > 1 ? near(floors[r.nextInt(k - 1)], r) // on a midpoint at scale 1
            : (float) (r.nextGaussian() * spread);
      }
      boolean[] skip = null;
      if (r.nextInt(3) == 0) {
        skip = new boolean[x.length];
        for (int i = 0; i < skip.length; i++) {
          skip[i] = r.nextInt(6) == 0;
        }
      }
      int count = 1 + r.nextInt(6);
      float[] s = new float[count];
      for (int j = 0; j < count; j++) {
        s[j] = (float) (spread * Math.exp(r.nextGaussian()) * (r.nextBoolean() ? 1 : -1));
      }
      s[0] = trial % 3 == 0 ? 1f : s[0];
      double[] want = new double[3 * count];
      double[] got = new double[3 * count];
      scalar.score(x, off, n, skip, s, count, want);
      vector.score(x, off, n, skip, s, count, got);
      assertArrayEquals(want, got, 0.0, "trial " + trial);
      for (float scale : new float[] {s[0], -s[0], 1f, -1f, 0f, -0f, Float.MIN_VALUE}) {
        int[] wantCodes = new int[n];
        int[] gotCodes = new int[n];
        double we = scalar.codes(x, off, n, skip, scale, wantCodes);
        double ge = vector.codes(x, off, n, skip, scale, gotCodes);
        assertEquals(Double.doubleToRawLongBits(we), Double.doubleToRawLongBits(ge),
            "trial " + trial + " scale " + scale);
        assertArrayEquals(wantCodes, gotCodes, "trial " + trial + " scale " + scale);
        BlockScales bs = new BlockScales(c);
        for (int i = 0; i < n; i++) {
          assertEquals(bs.encode(x[off + i], scale), gotCodes[i], "the encoder's code");
        }
      }
    }
  }
}
