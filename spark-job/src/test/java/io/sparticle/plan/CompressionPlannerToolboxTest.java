package io.sparticle.plan;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.sparticle.format.CheckpointWriter;
import io.sparticle.format.DType;
import io.sparticle.format.onnx.OnnxModel;
import io.sparticle.plan.CompressionPlan.Tensor;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.ValueHistogram;
import io.sparticle.quant.ValueKind;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Planning the toolbox: vq's input dimension, segment indexes, pruned counts, shared groups. */
class CompressionPlannerToolboxTest {

  /** One file of F32 tensors (name, shape, name, shape, ...); ONNX when {@code onnx}. */
  private static SourceCheckpoint source(boolean onnx, Object... nameAndShape) {
    List<SourceCheckpoint.SourceTensor> ts = new ArrayList<>();
    long offset = 8;
    for (int i = 0; i < nameAndShape.length; i += 2) {
      long[] shape = (long[]) nameAndShape[i + 1];
      long bytes = 4;
      for (long d : shape) {
        bytes *= d;
      }
      ts.add(new SourceCheckpoint.SourceTensor((String) nameAndShape[i], DType.F32, shape, offset, bytes));
      offset += bytes;
    }
    List<SourceCheckpoint.SourceFile> files = List.of(
        new SourceCheckpoint.SourceFile(onnx ? "model.onnx" : "model.safetensors", offset, Map.of(), ts));
    OnnxModel model = onnx ? new OnnxModel("/m/model.onnx", "model.onnx", 8, Map.of(), List.of(),
        Map.of("model.onnx", offset)) : null;
    return new SourceCheckpoint("/m", files, null, model);
  }

  private static JobConfig config(String yaml, Map<String, String> options) {
    return JobConfig.fromYaml("min-elements: 1\nmin-rank: 1\n" + yaml, options);
  }

  private static final Map<String, String> VQ4 = Map.of("method", "vq", "bits", "2", "vq-dim", "4");

  private static String refusal(SourceCheckpoint s, JobConfig c) {
    return assertThrows(IllegalArgumentException.class, () -> CompressionPlanner.plan(s, c)).getMessage();
  }

  // ---- hand-made examples ----

  @Test
  void vqRunsAlongTheInputDimension() {
    CompressionPlan p = CompressionPlanner.plan(
        source(false, "w", new long[] {3, 8}, "b", new long[] {16}), config("", VQ4));
    Tensor w = p.tensors().get(0);
    assertEquals(4, w.dim());
    assertEquals(0, w.axis(), "output channels: rows of a safetensors [out, in]");
    assertEquals(1, w.vqAxis(), "sub-vectors: along a row");
    assertEquals(6, w.numCodes());
    assertEquals(6, w.outputBytes(), "6 codes of 8 bits");
    Tensor b = p.tensors().get(1);
    assertEquals(0, b.vqAxis());
    assertEquals(4, b.numCodes());
    // Module grouping: one codebook per module type, each tensor with its own scale.
    assertEquals("vq/group 2b d4 k256 F32 scaled", p.spec(w).describe());

    // ONNX [in, out]: output channels are columns, sub-vectors run down them (axis 0).
    CompressionPlan o = CompressionPlanner.plan(source(true, "w", new long[] {12, 10}), config("", VQ4));
    Tensor ow = o.tensors().get(0);
    assertEquals(1, ow.axis());
    assertEquals(0, ow.vqAxis());
    assertEquals(30, ow.numCodes());
  }

  @Test
  void entropyCodedTensorsGetASegmentIndexEntry() {
    CompressionPlan p = CompressionPlanner.plan(source(false, "w", new long[] {300, 4000}),
        config("", Map.of("bits", "4", "entropy", "rans", "prune", "0.5", "scope", "channel")));
    List<CheckpointWriter.Entry> e = p.entries(p.parts().get(0));
    assertEquals(List.of("w", "w::segments", "w::codebook"), e.stream().map(CheckpointWriter.Entry::name).toList());
    assertEquals(DType.U8, e.get(0).dtype());
    assertArrayEquals(new long[] {600_000}, e.get(0).shape(), "the planned (bit-packed) length");
    assertEquals(DType.U64, e.get(1).dtype());
    // 1,200,000 codes in segments of 2^20: two.
    assertArrayEquals(new long[] {2}, e.get(1).shape());
    assertArrayEquals(new long[] {300, 16}, e.get(2).shape());
    // vq: one code per sub-vector of 4, 16-bit codes, segments of 64 x 65,536.
    CompressionPlan v = CompressionPlanner.plan(source(false, "w", new long[] {300, 4000}),
        config("", Map.of("method", "vq", "bits", "4", "vq-dim", "4", "entropy", "huffman")));
    List<CheckpointWriter.Entry> ve = v.entries(v.parts().get(0));
    assertEquals(List.of("w", "w::segments"), ve.stream().map(CheckpointWriter.Entry::name).toList());
    assertArrayEquals(new long[] {600_000}, ve.get(0).shape());
    assertArrayEquals(new long[] {1}, ve.get(1).shape());
    // Without entropy coding, no index.
    CompressionPlan plain = CompressionPlanner.plan(source(false, "w", new long[] {300, 4000}), config("", VQ4));
    assertEquals(List.of("w"), plain.entries(plain.parts().get(0)).stream()
        .map(CheckpointWriter.Entry::name).toList());
  }

  @Test
  void prunedCountsFromTheHistogramAtMostTheFraction() {
    CompressionPlan p = CompressionPlanner.plan(
        source(false, "w", new long[] {2, 5}, "v", new long[] {2, 5}),
        config("rules:\n  - match: v\n    prune: 0\n", Map.of("prune", "0.5")));
    assertEquals(0.5, p.spec(p.tensors().get(0)).prune());
    assertEquals(0.0, p.spec(p.tensors().get(1)).prune());
    float[] x = {0f, -0.01f, 0.01f, 0.02f, 0.03f, -0.03f, 0.5f, 0.6f, -0.7f, 1f};
    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(40).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    for (float v : x) {
      b.putFloat(v);
    }
    ValueHistogram.Accumulator acc = ValueHistogram.accumulator(ValueKind.F32);
    acc.addLittleEndian(b.array(), 0, 10);
    ValueHistogram h = acc.finish(0);
    ValueHistogram.Accumulator acc1 = ValueHistogram.accumulator(ValueKind.F32);
    acc1.addLittleEndian(b.array(), 0, 10);
    CompressionPlan pruned = p.withHistograms(Map.of(0, h, 1, acc1.finish(1)));
    // floor(0.5 x 10) = 5: the zero, the two 0.01s, the 0.02; the two 0.03s would make 6.
    assertEquals(4, pruned.tensors().get(0).pruned().count());
    assertEquals(ValueHistogram.Pruned.NONE, pruned.tensors().get(1).pruned(), "prune 0: none");
    assertEquals(ValueHistogram.Pruned.NONE, p.tensors().get(0).pruned(), "before the histograms");
  }

  // ---- error rules ----

  @Test
  void vqDimMustDivideTheInputDimension() {
    assertEquals("Tensor 'w' F32[3, 10]: vq-dim 4 does not divide its input dimension (axis 1, "
        + "10 weights); use a vq-dim that divides it, or a rule giving this tensor another method "
        + "or keep-dense", refusal(source(false, "w", new long[] {3, 10}), config("", VQ4)));
    // d = 2 divides 10.
    assertEquals(15, CompressionPlanner.plan(source(false, "w", new long[] {3, 10}),
        config("", Map.of("method", "vq", "bits", "2", "vq-dim", "2"))).tensors().get(0).numCodes());
    // ONNX [in, out]: the first dimension, or the last when only it is a multiple of d (a
    // Gather'd [vocab, hidden] table); neither is refused naming axis 0.
    assertEquals("Tensor 'w' F32[10, 14]: vq-dim 4 does not divide its input dimension (axis 0, "
        + "10 weights); use a vq-dim that divides it, or a rule giving this tensor another method "
        + "or keep-dense", refusal(source(true, "w", new long[] {10, 14}), config("", VQ4)));
    Tensor table = CompressionPlanner.plan(source(true, "w", new long[] {10, 12}), config("", VQ4))
        .tensors().get(0);
    assertEquals(1, table.vqAxis());
    assertEquals(30, table.numCodes());
    assertEquals("Tensor 'b' F32[10]: vq-dim 8 does not divide its input dimension (axis 0, "
        + "10 weights); use a vq-dim that divides it, or a rule giving this tensor another method "
        + "or keep-dense", refusal(source(false, "b", new long[] {10}),
            config("", Map.of("method", "vq", "bits", "1", "vq-dim", "8"))));
    // The way past it the message names: a rule giving the tensor another method, or dense.
    SourceCheckpoint s = source(false, "w", new long[] {3, 10}, "ok", new long[] {3, 8});
    CompressionPlan other = CompressionPlanner.plan(s,
        config("rules:\n  - match: w\n    method: kmeans\n", VQ4));
    assertEquals(EncodingSpec.Method.KMEANS, other.spec(other.tensors().get(0)).method());
    assertEquals(1, other.tensors().get(0).dim());
    assertEquals(EncodingSpec.Method.VQ, other.spec(other.tensors().get(1)).method());
    CompressionPlan dense = CompressionPlanner.plan(s,
        config("rules:\n  - match: w\n    keep-dense: true\n", VQ4));
    assertEquals(-1, dense.tensors().get(0).group());
  }

  @Test
  void rulesThatShareAGroupMustAgreeOnTheNewKeys() {
    SourceCheckpoint s = source(false, "a", new long[] {4, 8}, "b", new long[] {4, 8});
    assertEquals("Group 'g' gets tensor 'b' as kmeans/group 4b F32 rans, but its earlier tensors "
        + "are kmeans/group 4b F32: rules that share a group must agree", refusal(s, config("""
            rules:
              - match: a
                group: g
              - match: b
                group: g
                entropy: rans
            """, Map.of())));
    assertEquals("Group 'g' gets tensor 'b' as kmeans/group 4b F32 prune 0.1, but its earlier "
        + "tensors are kmeans/group 4b F32: rules that share a group must agree", refusal(s, config("""
            rules:
              - match: a
                group: g
              - match: b
                group: g
                prune: 0.1
            """, Map.of())));
    assertEquals("Rule 'a': vq-dim applies to method vq only",
        refusal(s, config("rules:\n  - match: a\n    vq-dim: 2\n", Map.of())));
    assertEquals("Rule 'a': Cannot prune with method vq: a pruned weight has no reserved code "
        + "inside a sub-vector's code; prune applies to kmeans, gmm and uniform",
        refusal(s, config("rules:\n  - match: a\n    method: vq\n    bits: 2\n", Map.of("prune", "0.2"))));
    // A rule naming vq without vq-dim takes vq's default, 4, whatever the job's method.
    CompressionPlan p = CompressionPlanner.plan(s,
        config("rules:\n  - match: a\n    method: vq\n    bits: 2\n", Map.of()));
    assertEquals(4, p.tensors().get(0).dim());
    assertEquals(1, p.tensors().get(1).dim());
  }
}
