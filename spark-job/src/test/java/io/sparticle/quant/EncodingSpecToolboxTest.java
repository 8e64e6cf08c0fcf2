package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.packing.EntropyCoder;
import io.sparticle.quant.EncodingSpec.Entropy;
import io.sparticle.quant.EncodingSpec.Method;
import io.sparticle.quant.EncodingSpec.ScalePrecision;
import io.sparticle.quant.EncodingSpec.Scope;
import org.junit.jupiter.api.Test;

/** The toolbox's specs: gmm, vq, pruning and entropy coding; every rule with its message. */
class EncodingSpecToolboxTest {

  private static EncodingSpec spec(Method m, int bits, Scope scope, int dim, double prune,
      Entropy entropy) {
    return new EncodingSpec(m, bits, scope, 32, CodebookPrecision.F32, ScalePrecision.F16, false,
        0, dim, prune, entropy);
  }

  private static EncodingSpec vq(int bits, int dim) {
    return spec(Method.VQ, bits, Scope.GROUP, dim, 0, Entropy.NONE);
  }

  private static EncodingSpec gmm(int bits) {
    return spec(Method.GMM, bits, Scope.GROUP, 1, 0, Entropy.NONE);
  }

  private static String message(Runnable r) {
    return assertThrows(IllegalArgumentException.class, r::run).getMessage();
  }

  // ---- hand-made examples ----

  @Test
  void describe() {
    assertEquals("vq/group 2b d4 k256 F32", vq(2, 4).describe());
    assertEquals("vq/group 8b d2 k65536 F32", vq(8, 2).describe());
    assertEquals("vq/group 1b d8 k256 F32 huffman",
        vq(1, 8).withEntropy(Entropy.HUFFMAN).describe());
    assertEquals("gmm/group 3b F32", gmm(3).describe());
    assertEquals("gmm/group 3b F32 prune 0.25 rans",
        gmm(3).withPrune(0.25).withEntropy(Entropy.RANS).describe());
    assertEquals("kmeans/group 4b F16 prune 0.5 rans",
        EncodingSpec.kmeansGroup(4, CodebookPrecision.F16, false).withPrune(0.5)
            .withEntropy(Entropy.RANS).describe());
    assertEquals("kmeans/channel 4b F32 prune 0.3",
        spec(Method.KMEANS, 4, Scope.CHANNEL, 1, 0.3, Entropy.NONE).describe());
    assertEquals("uniform/block64 4b scale F16 prune 0.5 huffman",
        new EncodingSpec(Method.UNIFORM, 4, Scope.BLOCK, 64, CodebookPrecision.F32,
            ScalePrecision.F16, false, 0, 1, 0.5, Entropy.HUFFMAN).describe());
    assertEquals("kmeans/block32 4b F32 scale Q7 rans",
        new EncodingSpec(Method.KMEANS, 4, Scope.BLOCK, 32, CodebookPrecision.F32,
            ScalePrecision.Q7, false, 0, 1, 0, Entropy.RANS).describe());
  }

  @Test
  void derivedValues() {
    EncodingSpec v = vq(2, 4);
    assertEquals(8, v.codeBits());
    assertEquals(256, v.k());
    assertTrue(v.vector() && v.sharedCodebook());
    assertFalse(v.blockScaled() || v.perChannelCodebooks());
    EncodingSpec wide = vq(4, 4);
    assertEquals(16, wide.codeBits());
    assertEquals(65536, wide.k());
    // Segments: 2^20 codes, or 64 per symbol for wide codes; the coder's own rule.
    assertEquals(1 << 20, v.segmentCodes());
    assertEquals(64 << 16, wide.segmentCodes());
    for (int bits = 1; bits <= 16; bits++) {
      int b = bits;
      int dim = b <= 8 ? 1 : 2;
      if (b > 8 && b % 2 != 0) {
        continue;
      }
      EncodingSpec s = dim == 1 ? EncodingSpec.kmeansGroup(b, CodebookPrecision.F32, false)
          : vq(b / 2, 2);
      assertEquals(EntropyCoder.segmentCodes(s.codeBits()), s.segmentCodes(), s.describe());
    }
    EncodingSpec g = gmm(3);
    assertEquals(3, g.codeBits());
    assertEquals(8, g.k());
    assertTrue(g.sharedCodebook() && !g.vector());
    // Scalar specs keep dim 1; the scalar constructor gives no pruning and no entropy coding.
    EncodingSpec k = EncodingSpec.kmeansGroup(4, CodebookPrecision.F32, false);
    assertEquals(1, k.dim());
    assertEquals(0, k.prune());
    assertEquals(Entropy.NONE, k.entropy());
    assertEquals(EncodingSpec.DEFAULT_VQ_DIM, 4);
  }

  @Test
  void withersKeepTheOtherFields() {
    EncodingSpec s = vq(2, 4).withEntropy(Entropy.RANS);
    assertEquals(vq(3, 4).withEntropy(Entropy.RANS), s.withBits(3));
    assertEquals(4, s.withBits(3).dim());
    assertEquals(Entropy.RANS, s.withBits(3).entropy());
    EncodingSpec p = EncodingSpec.kmeansGroup(4, CodebookPrecision.F16, true).withPrune(0.5);
    assertEquals(0.5, p.withBits(3).prune());
    assertEquals(0.5, p.withEntropy(Entropy.HUFFMAN).prune());
    assertEquals(0.5, p.withOutliers(0.01).prune());
    assertEquals(Entropy.HUFFMAN, p.withEntropy(Entropy.HUFFMAN).withOutliers(0.01).entropy());
    assertTrue(p.withBits(3).perTensorScale());
  }

  @Test
  void parseEntropy() {
    assertEquals(Entropy.NONE, Entropy.parse("none"));
    assertEquals(Entropy.HUFFMAN, Entropy.parse(" Huffman "));
    assertEquals(Entropy.RANS, Entropy.parse("RANS"));
    assertEquals("lsb", Entropy.NONE.packing());
    assertEquals("huffman", Entropy.HUFFMAN.packing());
    assertEquals("rans", Entropy.RANS.packing());
    assertEquals("rans", Entropy.RANS.key());
    assertEquals(Method.GMM, Method.parse("GMM"));
    assertEquals(Method.VQ, Method.parse(" vq"));
  }

  // ---- error rules ----

  @Test
  void entropyParseError() {
    assertEquals("Cannot set entropy to zstd: must be one of none, huffman, rans",
        message(() -> Entropy.parse("zstd")));
    assertThrows(NullPointerException.class, () -> spec(Method.KMEANS, 4, Scope.GROUP, 1, 0, null));
  }

  @Test
  void vqDim() {
    for (int dim : new int[] {0, 1, 3, 5, 16, -4}) {
      assertEquals("Cannot set vq-dim to " + dim + ": must be 2, 4 or 8",
          message(() -> vq(2, dim)));
    }
    for (Method m : new Method[] {Method.KMEANS, Method.UNIFORM, Method.GMM}) {
      for (int dim : new int[] {0, 2, 4}) {
        assertEquals("vq-dim applies to method vq only",
            message(() -> spec(m, 4, m == Method.UNIFORM ? Scope.TENSOR : Scope.GROUP, dim, 0,
                Entropy.NONE)));
      }
    }
  }

  @Test
  void vqBitsTimesDimIsAtMostSixteen() {
    int[][] limits = {{2, 8}, {4, 4}, {8, 2}};
    for (int[] l : limits) {
      int dim = l[0];
      int max = l[1];
      assertEquals(max * dim, vq(max, dim).codeBits());
      for (int bits : new int[] {0, max + 1, -1}) {
        assertEquals("Cannot set bits to " + bits + " with vq-dim " + dim + ": vq takes 1 to " + max
            + " bits per weight, so that a code of bits x vq-dim is at most 16 bits (65,536 "
            + "codewords)", message(() -> vq(bits, dim)));
      }
    }
    assertEquals("Cannot set bits to 5 with vq-dim 4: vq takes 1 to 4 bits per weight, so that a "
        + "code of bits x vq-dim is at most 16 bits (65,536 codewords)",
        message(() -> vq(4, 4).withBits(5)));
  }

  @Test
  void gmmAndVqTakeScopeGroupOnly() {
    for (int bits : new int[] {0, 9}) {
      assertEquals("Cannot set bits to " + bits + ": gmm takes 1 to 8", message(() -> gmm(bits)));
    }
    assertEquals(2, gmm(1).k());
    assertEquals(256, gmm(8).k());
    for (Scope s : new Scope[] {Scope.TENSOR, Scope.CHANNEL, Scope.BLOCK}) {
      assertEquals("Cannot use scope " + s.key() + " with method gmm: it takes group only",
          message(() -> spec(Method.GMM, 3, s, 1, 0, Entropy.NONE)));
      assertEquals("Cannot use scope " + s.key() + " with method vq: it takes group only",
          message(() -> spec(Method.VQ, 2, s, 4, 0, Entropy.NONE)));
    }
    assertEquals("scale-precision Q5 (a ladder of block scales) applies to kmeans with scope "
        + "block only", message(() -> new EncodingSpec(Method.GMM, 3, Scope.GROUP, 0,
            CodebookPrecision.F32, ScalePrecision.Q5, false, 0, 1, 0, Entropy.NONE)));
    assertEquals("scale-precision Q3 (a ladder of block scales) applies to kmeans with scope "
        + "block only", message(() -> new EncodingSpec(Method.VQ, 2, Scope.GROUP, 0,
            CodebookPrecision.F32, ScalePrecision.Q3, false, 0, 4, 0, Entropy.NONE)));
  }

  @Test
  void pruneFraction() {
    assertEquals(0.99, spec(Method.KMEANS, 4, Scope.GROUP, 1, 0.99, Entropy.NONE).prune());
    assertEquals(0.0, spec(Method.KMEANS, 4, Scope.GROUP, 1, 0, Entropy.NONE).prune());
    for (double bad : new double[] {-0.1, 0.995, 1.0, Double.NaN, Double.POSITIVE_INFINITY}) {
      assertEquals("Cannot set prune to " + bad + ": must be a fraction between 0 and 0.99",
          message(() -> spec(Method.KMEANS, 4, Scope.GROUP, 1, bad, Entropy.NONE)));
    }
  }

  @Test
  void pruneNeedsAReservedCode() {
    assertEquals("Cannot prune with method vq: a pruned weight has no reserved code inside a "
        + "sub-vector's code; prune applies to kmeans, gmm and uniform",
        message(() -> vq(2, 4).withPrune(0.5)));
    assertEquals("Cannot prune with kmeans scope block: block scales are searched over every "
        + "weight of a block; prune applies to kmeans scope group or channel, gmm and uniform",
        message(() -> new EncodingSpec(Method.KMEANS, 4, Scope.BLOCK, 32, CodebookPrecision.F32,
            ScalePrecision.Q7, false, 0, 1, 0.5, Entropy.NONE)));
    String oneBit = "Cannot prune at 1 bit: the reserved zero code would leave no code for the "
        + "surviving weights";
    assertEquals(oneBit, message(() -> EncodingSpec.kmeansGroup(1, CodebookPrecision.F32, false)
        .withPrune(0.1)));
    assertEquals(oneBit, message(() -> spec(Method.KMEANS, 1, Scope.CHANNEL, 1, 0.1, Entropy.NONE)));
    assertEquals(oneBit, message(() -> gmm(1).withPrune(0.1)));
    // Allowed: 2 bits and up for kmeans group and channel, gmm, uniform at any of its widths and
    // scopes; and uniform block, whose zero point is the reserved code.
    assertEquals(0.1, EncodingSpec.kmeansGroup(2, CodebookPrecision.F32, false).withPrune(0.1).prune());
    assertEquals(0.1, gmm(2).withPrune(0.1).prune());
    for (Scope s : new Scope[] {Scope.TENSOR, Scope.CHANNEL, Scope.BLOCK}) {
      assertEquals(0.1, spec(Method.UNIFORM, 2, s, 1, 0.1, Entropy.NONE).prune());
    }
    // A spec that was valid may not be pruned into an invalid one: the wither checks it too.
    assertEquals(oneBit, message(() -> EncodingSpec.kmeansGroup(2, CodebookPrecision.F32, false)
        .withPrune(0.1).withBits(1)));
  }

  @Test
  void entropyAppliesToEveryMethod() {
    for (Entropy e : new Entropy[] {Entropy.HUFFMAN, Entropy.RANS}) {
      assertEquals(e, vq(4, 4).withEntropy(e).entropy());
      assertEquals(e, gmm(8).withEntropy(e).entropy());
      assertEquals(e, spec(Method.UNIFORM, 8, Scope.CHANNEL, 1, 0, e).entropy());
      assertEquals(e, new EncodingSpec(Method.KMEANS, 3, Scope.BLOCK, 16, CodebookPrecision.F16,
          ScalePrecision.Q4, false, 0, 1, 0, e).entropy());
    }
  }
}
