package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.quant.EncodingSpec.Method;
import io.sparticle.quant.EncodingSpec.ScalePrecision;
import io.sparticle.quant.EncodingSpec.Scope;
import org.junit.jupiter.api.Test;

class EncodingSpecTest {

  private static EncodingSpec kmeans(int bits, Scope scope, boolean perTensorScale) {
    return new EncodingSpec(Method.KMEANS, bits, scope, 64, CodebookPrecision.F16,
        ScalePrecision.F16, perTensorScale);
  }

  private static EncodingSpec uniform(int bits, Scope scope, int blockSize) {
    return new EncodingSpec(Method.UNIFORM, bits, scope, blockSize, CodebookPrecision.F32,
        ScalePrecision.F16, false);
  }

  private static String message(Runnable r) {
    return assertThrows(IllegalArgumentException.class, r::run).getMessage();
  }

  // ---- hand-made examples ----

  @Test
  void describe() {
    assertEquals("kmeans/group 4b F32",
        EncodingSpec.kmeansGroup(4, CodebookPrecision.F32, false).describe());
    assertEquals("kmeans/group 2b BF16 scaled",
        EncodingSpec.kmeansGroup(2, CodebookPrecision.BF16, true).describe());
    assertEquals("kmeans/channel 4b F16", kmeans(4, Scope.CHANNEL, false).describe());
    assertEquals("kmeans/channel 3b step:0.01",
        new EncodingSpec(Method.KMEANS, 3, Scope.CHANNEL, 0, CodebookPrecision.parse("step:0.01"),
            ScalePrecision.F16, false).describe());
    assertEquals("uniform/block64 8b scale F16", uniform(8, Scope.BLOCK, 64).describe());
    assertEquals("uniform/tensor 4b scale F32",
        new EncodingSpec(Method.UNIFORM, 4, Scope.TENSOR, 0, CodebookPrecision.F32,
            ScalePrecision.F32, false).describe());
    assertEquals("uniform/channel 2b scale F16", uniform(2, Scope.CHANNEL, 7).describe());
  }

  @Test
  void derivedValues() {
    EncodingSpec g = EncodingSpec.kmeansGroup(4, CodebookPrecision.F16, true);
    assertEquals(16, g.k());
    assertTrue(g.sharedCodebook());
    assertEquals(Scope.GROUP, g.scope());
    assertEquals(0, g.blockSize());
    assertFalse(kmeans(4, Scope.CHANNEL, false).sharedCodebook());
    assertFalse(uniform(8, Scope.BLOCK, 64).sharedCodebook());
    assertEquals(256, uniform(8, Scope.BLOCK, 64).k());
    // blockSize is kept for blocks only.
    assertEquals(64, uniform(8, Scope.BLOCK, 64).blockSize());
    assertEquals(0, uniform(8, Scope.CHANNEL, 64).blockSize());
    assertEquals(0, kmeans(8, Scope.CHANNEL, false).blockSize());
    assertEquals(64, EncodingSpec.DEFAULT_BLOCK_SIZE);
  }

  @Test
  void parseMethodScopeAndScalePrecision() {
    assertEquals(Method.KMEANS, Method.parse("kmeans"));
    assertEquals(Method.UNIFORM, Method.parse(" Uniform "));
    assertEquals("kmeans", Method.KMEANS.key());
    for (Scope s : Scope.values()) {
      assertEquals(s, Scope.parse(s.key()));
      assertEquals(s, Scope.parse(s.name()));
    }
    assertEquals(Scope.BLOCK, Scope.parse(" block"));
    assertEquals(ScalePrecision.F16, ScalePrecision.parse("f16"));
    assertEquals(ScalePrecision.F32, ScalePrecision.parse(" F32 "));
    assertEquals(2, ScalePrecision.F16.byteSize());
    assertEquals(4, ScalePrecision.F32.byteSize());
    assertEquals(0.1f, ScalePrecision.F32.round(0.1f));
    assertEquals(HalfFloats.f16ToFloat((short) 0x2E66), ScalePrecision.F16.round(0.1f));
    assertEquals(Float.POSITIVE_INFINITY, ScalePrecision.F16.round(65520f));
  }

  // ---- error rules ----

  @Test
  void parseErrors() {
    assertEquals("Cannot set method to gptq: must be one of kmeans, uniform, gmm, vq",
        message(() -> Method.parse("gptq")));
    assertEquals("Cannot set scope to row: must be one of group, tensor, channel, block",
        message(() -> Scope.parse("row")));
    assertEquals("Cannot set scale-precision to BF16: must be one of F16, F32, Q3 to Q8",
        message(() -> ScalePrecision.parse("BF16")));
  }

  @Test
  void kmeansBits() {
    for (int bits : new int[] {0, 9, -1}) {
      assertEquals("Cannot set bits to " + bits + ": kmeans takes 1 to 8",
          message(() -> kmeans(bits, Scope.CHANNEL, false)));
    }
    assertEquals(2, kmeans(1, Scope.CHANNEL, false).k());
    assertEquals(256, kmeans(8, Scope.GROUP, false).k());
  }

  @Test
  void kmeansScopes() {
    assertEquals("Cannot use scope tensor with method kmeans: it takes group, channel or block",
        message(() -> kmeans(4, Scope.TENSOR, false)));
    EncodingSpec blocks = kmeans(4, Scope.BLOCK, false);
    assertTrue(blocks.blockScaled() && blocks.sharedCodebook() && !blocks.perChannelCodebooks());
    assertEquals(64, blocks.blockSize());
    EncodingSpec ladder = new EncodingSpec(Method.KMEANS, 4, Scope.BLOCK, 32, CodebookPrecision.F32,
        ScalePrecision.Q7, false);
    assertEquals("kmeans/block32 4b F32 scale Q7", ladder.describe());
    assertEquals(64, ScalePrecision.Q7.ladderSize());
    assertEquals("scale-precision Q7 (a ladder of block scales) applies to scope block only",
        message(() -> new EncodingSpec(Method.KMEANS, 4, Scope.GROUP, 0, CodebookPrecision.F32,
            ScalePrecision.Q7, false)));
    assertEquals("scale-precision Q5 applies to kmeans with scope block; uniform takes F16 or F32",
        message(() -> new EncodingSpec(Method.UNIFORM, 4, Scope.BLOCK, 32, CodebookPrecision.F32,
            ScalePrecision.Q5, false)));
  }

  @Test
  void outliers() {
    EncodingSpec s = kmeans(4, Scope.GROUP, false).withOutliers(0.005);
    assertEquals(0.005, s.outliers());
    assertEquals("kmeans/group 4b F16 outliers 0.005", s.describe());
    for (double bad : new double[] {-0.1, 0.2, Double.NaN}) {
      assertEquals("Cannot set outliers to " + bad + ": must be a fraction between 0 and 0.1",
          message(() -> kmeans(4, Scope.GROUP, false).withOutliers(bad)));
    }
  }

  @Test
  void uniformBits() {
    for (int bits : new int[] {1, 9, 0}) {
      assertEquals("Cannot set bits to " + bits + ": uniform takes 2 to 8",
          message(() -> uniform(bits, Scope.CHANNEL, 0)));
    }
    assertEquals(4, uniform(2, Scope.TENSOR, 0).k());
    assertEquals(256, uniform(8, Scope.TENSOR, 0).k());
  }

  @Test
  void uniformScopes() {
    assertEquals("Cannot use scope group with method uniform: it takes tensor, channel or block",
        message(() -> uniform(4, Scope.GROUP, 0)));
  }

  @Test
  void blockSize() {
    for (int size : new int[] {0, 4, 12, 1 << 21, 1048584, -8}) {
      assertEquals(
          "Cannot set block-size to " + size + ": must be a multiple of 8 between 8 and 1048576",
          message(() -> uniform(4, Scope.BLOCK, size)));
    }
    assertEquals(8, uniform(4, Scope.BLOCK, 8).blockSize());
    assertEquals(1048576, uniform(4, Scope.BLOCK, 1048576).blockSize());
  }

  @Test
  void perTensorScaleOnlyWithKmeansGroup() {
    String expected = "per-tensor-scale applies to kmeans with scope group only";
    assertEquals(expected, message(() -> kmeans(4, Scope.CHANNEL, true)));
    assertEquals(expected, message(() -> new EncodingSpec(Method.UNIFORM, 4, Scope.CHANNEL, 0,
        CodebookPrecision.F32, ScalePrecision.F16, true)));
    assertTrue(kmeans(4, Scope.GROUP, true).perTensorScale());
  }

  @Test
  void rejectsNulls() {
    assertThrows(NullPointerException.class, () -> new EncodingSpec(null, 4, Scope.GROUP, 0,
        CodebookPrecision.F32, ScalePrecision.F16, false));
    assertThrows(NullPointerException.class, () -> new EncodingSpec(Method.KMEANS, 4, null, 0,
        CodebookPrecision.F32, ScalePrecision.F16, false));
    assertThrows(NullPointerException.class, () -> new EncodingSpec(Method.KMEANS, 4,
        Scope.GROUP, 0, null, ScalePrecision.F16, false));
    assertThrows(NullPointerException.class, () -> new EncodingSpec(Method.KMEANS, 4,
        Scope.GROUP, 0, CodebookPrecision.F32, null, false));
  }
}
