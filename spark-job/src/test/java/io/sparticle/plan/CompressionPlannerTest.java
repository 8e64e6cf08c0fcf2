package io.sparticle.plan;

import io.sparticle.quant.CodebookPrecision;
import io.sparticle.quant.EncodingSpec;

import static org.junit.jupiter.api.Assertions.*;

import io.sparticle.format.CheckpointFormatException;
import io.sparticle.format.DType;
import io.sparticle.format.SafetensorsHeader;
import io.sparticle.format.SafetensorsLayout;
import io.sparticle.format.SafetensorsReader;
import io.sparticle.plan.CompressionPlan.Group;
import io.sparticle.plan.CompressionPlan.OutputPart;
import io.sparticle.plan.CompressionPlan.ReadSplit;
import io.sparticle.plan.CompressionPlan.Tensor;
import io.sparticle.plan.CompressionPlan.TensorSlice;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class CompressionPlannerTest {
  private static final String DIR = "hdfs:///ckpt";

  private static SafetensorsHeader header(String name, SafetensorsLayout layout)
      throws CheckpointFormatException {
    byte[] bytes = layout.headerBytes();
    return SafetensorsReader.parse(name, layout.fileLength(), layout.headerLength(),
        Arrays.copyOfRange(bytes, 8, bytes.length));
  }

  /** Alternating file names and layouts. */
  private static SourceCheckpoint source(Object... nameAndLayout) throws CheckpointFormatException {
    List<SourceCheckpoint.SourceFile> files = new ArrayList<>();
    for (int i = 0; i < nameAndLayout.length; i += 2) {
      String name = (String) nameAndLayout[i];
      files.add(new SourceCheckpoint.SourceFile(name,
          header(name, (SafetensorsLayout) nameAndLayout[i + 1])));
    }
    return new SourceCheckpoint(DIR, files, null);
  }

  private static long[] shape(long... dims) {
    return dims;
  }

  private static Tensor tensor(CompressionPlan plan, String name) {
    for (Tensor t : plan.tensors()) {
      if (t.name().equals(name)) {
        return t;
      }
    }
    throw new AssertionError("no tensor " + name);
  }

  private static SafetensorsLayout defaultsLayout() {
    return SafetensorsLayout.builder()
        .metadata("format", "pt")
        .add("embed.weight", DType.F16, shape(64, 64))          // 4096 elements, rank 2
        .add("layers.0.norm.weight", DType.F32, shape(4096))    // rank 1
        .add("small.weight", DType.BF16, shape(63, 65))         // 4095 elements
        .add("pos_ids", DType.I64, shape(64, 64))
        .add("mask", DType.U8, shape(64, 64))
        .add("bf.weight", DType.BF16, shape(2, 2048))
        .add("f32.weight", DType.F32, shape(4, 4, 256))         // rank 3
        .add("f64.weight", DType.F64, shape(64, 64))
        .build();
  }

  @Test
  void moduleGroupingSharesOneScaledCodebookAcrossLayers() throws Exception {
    SafetensorsLayout layout = SafetensorsLayout.builder()
        .add("model.layers.0.mlp.up_proj.weight", DType.BF16, shape(64, 64))
        .add("model.layers.0.mlp.down_proj.weight", DType.BF16, shape(64, 64))
        .add("model.layers.1.mlp.up_proj.weight", DType.BF16, shape(64, 64))
        .add("model.layers.12.mlp.up_proj.weight", DType.BF16, shape(64, 64))
        .add("lm_head.weight", DType.BF16, shape(64, 64))
        .build();
    CompressionPlan plan = CompressionPlanner.plan(source("model.safetensors", layout), JobConfig.defaults());
    assertEquals(JobConfig.Grouping.MODULE, JobConfig.defaults().grouping());
    assertEquals(List.of("model.layers.*.mlp.up_proj.weight", "model.layers.*.mlp.down_proj.weight",
        "lm_head.weight"), plan.groups().stream().map(CompressionPlan.Group::name).toList());
    assertArrayEquals(new int[] {0, 2, 3}, plan.groups().get(0).tensors());
    assertTrue(plan.groups().get(0).perTensorScale());
    assertEquals("a.*.b.*", CompressionPlanner.moduleKey("a.3.b.17"));
    assertEquals("*.x", CompressionPlanner.moduleKey("0.x"));
    assertEquals("h10x.w", CompressionPlanner.moduleKey("h10x.w"));
  }

  @Test
  void tensorsForcedDenseLeaveTheirGroupAndAreReported() throws Exception {
    SafetensorsLayout layout = SafetensorsLayout.builder()
        .add("model.layers.0.mlp.up_proj.weight", DType.BF16, shape(64, 64))
        .add("model.layers.1.mlp.up_proj.weight", DType.BF16, shape(64, 64))
        .add("lm_head.weight", DType.BF16, shape(64, 64))
        .build();
    CompressionPlan plan = CompressionPlanner.plan(source("model.safetensors", layout),
        JobConfig.defaults(), java.util.Map.of("model.layers.0.mlp.up_proj.weight", "2 NaN",
            "lm_head.weight", "1 Inf"));
    assertEquals(List.of("model.layers.*.mlp.up_proj.weight"),
        plan.groups().stream().map(CompressionPlan.Group::name).toList());
    assertArrayEquals(new int[] {1}, plan.groups().get(0).tensors());
    assertFalse(plan.tensors().get(0).compressed());
    assertFalse(plan.tensors().get(2).compressed());
    assertEquals(List.of("Tensor 'model.layers.0.mlp.up_proj.weight' kept dense: 2 NaN",
        "Tensor 'lm_head.weight' kept dense: 1 Inf"), plan.warnings());
    assertEquals(java.util.Map.of("model.layers.0.mlp.up_proj.weight", "2 NaN",
        "lm_head.weight", "1 Inf"), plan.keptDense());
  }

  @Test
  void defaultRules() throws Exception {
    SafetensorsLayout layout = defaultsLayout();
    CompressionPlan plan = CompressionPlanner.plan(source("model.safetensors", layout),
        JobConfig.defaults().withGrouping(JobConfig.Grouping.TENSOR));

    assertEquals(DIR, plan.sourceDirectory());
    assertEquals(List.of("model.safetensors"), plan.sourceFiles());
    assertEquals(List.of(), plan.warnings());
    assertEquals(
        List.of("embed.weight", "layers.0.norm.weight", "small.weight", "pos_ids", "mask",
            "bf.weight", "f32.weight", "f64.weight"),
        plan.tensors().stream().map(Tensor::name).toList());

    assertEquals(List.of(
            new Group(0, "embed.weight", EncodingSpec.kmeansGroup(4, CodebookPrecision.F32, false), new int[] {0}),
            new Group(1, "bf.weight", EncodingSpec.kmeansGroup(4, CodebookPrecision.F32, false), new int[] {5}),
            new Group(2, "f32.weight", EncodingSpec.kmeansGroup(4, CodebookPrecision.F32, false), new int[] {6})),
        plan.groups());
    int[] expectedGroup = {0, -1, -1, -1, -1, 1, 2, -1};
    for (int i = 0; i < expectedGroup.length; i++) {
      Tensor t = plan.tensors().get(i);
      assertEquals(i, t.index());
      assertEquals(0, t.file());
      assertEquals(expectedGroup[i], t.group(), t.name());
      assertEquals(expectedGroup[i] >= 0 ? 4 : 0, t.bits(), t.name());
      assertEquals(expectedGroup[i] >= 0, t.compressed(), t.name());
      assertEquals(layout.dataStart() + layout.tensors().get(i).begin(), t.offset(), t.name());
      assertEquals(layout.tensors().get(i).byteLength(), t.byteLength(), t.name());
      assertArrayEquals(layout.tensors().get(i).shape(), t.shape(), t.name());
      assertEquals(layout.tensors().get(i).dtype(), t.dtype(), t.name());
    }
    assertEquals(8, tensor(plan, "embed.weight").offset() - layout.headerLength());
    assertEquals(4096 + 4096 + 4096, plan.compressedParams());
    assertEquals(4096 * 6 + 4095 + 4096, plan.totalParams());
    assertEquals(2048, tensor(plan, "embed.weight").outputBytes());
    assertEquals(4096 * 8, tensor(plan, "f64.weight").outputBytes());
  }

  @Test
  void minRankAndMinElementsAreConfigurable() throws Exception {
    CompressionPlan plan = CompressionPlanner.plan(source("model.safetensors", defaultsLayout()),
        JobConfig.fromYaml("grouping: tensor\nmin-rank: 1\nmin-elements: 4095\nbits: 2"));
    assertEquals(List.of("embed.weight", "layers.0.norm.weight", "small.weight", "bf.weight",
            "f32.weight"),
        plan.groups().stream().map(Group::name).toList());
    assertTrue(plan.groups().stream().allMatch(g -> g.bits() == 2 && g.k() == 4));
  }

  @Test
  void rulesInOrder() throws Exception {
    SafetensorsLayout f1 = SafetensorsLayout.builder()
        .add("layers.0.mlp.up.weight", DType.BF16, shape(16, 8))
        .add("layers.0.mlp.norm.weight", DType.F32, shape(8))
        .add("layers.0.mlp.down.weight", DType.BF16, shape(8, 16))
        .add("layers.0.attn.q.weight", DType.F16, shape(8, 8))
        .add("pos_ids", DType.I64, shape(16))
        .add("tiny", DType.F32, shape(3))
        .add("big.weight", DType.F32, shape(64, 64))
        .build();
    SafetensorsLayout f2 = SafetensorsLayout.builder()
        .add("layers.1.mlp.up.weight", DType.BF16, shape(16, 8))
        .add("layers.1.attn.q.weight", DType.F16, shape(8, 8))
        .add("empty", DType.F32, shape(0, 4))
        .build();
    JobConfig config = JobConfig.fromYaml("""
        bits: 5
        rules:
          - match: '.*norm.*'
            keep-dense: true
          - match: 'layers\\.(\\d+)\\.mlp\\..*'
            group: 'layers.$1.mlp'
            bits: 3
          - match: 'layers\\.\\d+\\.attn\\..*'
            group: 'attn'
            per-tensor-scale: true
          - match: 'pos_ids'
          - match: 'tiny|empty'
          - match: '.*'
            keep-dense: true
        """);
    CompressionPlan plan = CompressionPlanner.plan(
        source("model-00001-of-00002.safetensors", f1, "model-00002-of-00002.safetensors", f2),
        config);

    assertEquals(List.of(
            new Group(0, "layers.0.mlp", EncodingSpec.kmeansGroup(3, CodebookPrecision.F32, false), new int[] {0, 2}),
            new Group(1, "attn", EncodingSpec.kmeansGroup(5, CodebookPrecision.F32, true), new int[] {3, 8}),
            new Group(2, "tiny", EncodingSpec.kmeansGroup(5, CodebookPrecision.F32, false), new int[] {5}),
            new Group(3, "layers.1.mlp", EncodingSpec.kmeansGroup(3, CodebookPrecision.F32, false), new int[] {7})),
        plan.groups());
    assertEquals(List.of("Tensor 'pos_ids' matches rule 'pos_ids' but is I64: only F32, F16 and "
        + "BF16 are compressed; kept dense"), plan.warnings());
    // The catch-all keep-dense rule beats the default rule for a big F32 matrix.
    assertFalse(tensor(plan, "big.weight").compressed());
    // keep-dense for norm wins over the mlp rule that also matches.
    assertFalse(tensor(plan, "layers.0.mlp.norm.weight").compressed());
    assertFalse(tensor(plan, "empty").compressed());
    assertEquals(1, tensor(plan, "empty").file());
    assertEquals(3, tensor(plan, "layers.0.mlp.up.weight").bits());
    assertEquals(5, tensor(plan, "layers.1.attn.q.weight").bits());
    assertEquals(1, tensor(plan, "layers.1.attn.q.weight").group());
    assertEquals(List.of("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"),
        plan.sourceFiles());
  }

  @Test
  void ruleWithoutGroupGivesOneGroupPerTensor() throws Exception {
    SafetensorsLayout layout = SafetensorsLayout.builder()
        .add("a.weight", DType.F32, shape(4))
        .add("b.weight", DType.F32, shape(4))
        .build();
    CompressionPlan plan = CompressionPlanner.plan(source("m.safetensors", layout),
        JobConfig.fromYaml("rules:\n  - match: '.*\\.weight'\n    bits: 1\n"));
    assertEquals(List.of(new Group(0, "a.weight", EncodingSpec.kmeansGroup(1, CodebookPrecision.F32, false), new int[] {0}),
        new Group(1, "b.weight", EncodingSpec.kmeansGroup(1, CodebookPrecision.F32, false), new int[] {1})), plan.groups());
  }

  @Test
  void conflictingBitsForOneGroup() throws Exception {
    SafetensorsLayout layout = SafetensorsLayout.builder()
        .add("a.x", DType.F32, shape(4))
        .add("b.x", DType.F32, shape(4))
        .build();
    JobConfig config = JobConfig.fromYaml("""
        rules:
          - match: 'a\\..*'
            group: g
            bits: 3
          - match: 'b\\..*'
            group: g
        """);
    SourceCheckpoint src = source("m.safetensors", layout);
    assertEquals("Group 'g' gets tensor 'b.x' as kmeans/group 4b F32, but its earlier "
            + "tensors are kmeans/group 3b F32: rules that share a group must agree",
        assertThrows(IllegalArgumentException.class, () -> CompressionPlanner.plan(src, config))
            .getMessage());
  }

  @Test
  void conflictingPerTensorScaleForOneGroup() throws Exception {
    SafetensorsLayout layout = SafetensorsLayout.builder()
        .add("a.x", DType.F32, shape(4))
        .add("b.x", DType.F32, shape(4))
        .build();
    JobConfig config = JobConfig.fromYaml("""
        rules:
          - match: 'a\\..*'
            group: g
            per-tensor-scale: true
          - match: 'b\\..*'
            group: g
        """);
    SourceCheckpoint src = source("m.safetensors", layout);
    assertEquals("Group 'g' gets tensor 'b.x' as kmeans/group 4b F32, but its earlier "
            + "tensors are kmeans/group 4b F32 scaled: rules that share a group must agree",
        assertThrows(IllegalArgumentException.class, () -> CompressionPlanner.plan(src, config))
            .getMessage());
  }

  @Test
  void handMadeSplits() throws Exception {
    SafetensorsLayout f1 = SafetensorsLayout.builder()
        .add("a", DType.F32, shape(3, 100))   // 300 elements: 256 + 44 at chunk 1024
        .add("d", DType.I32, shape(10))       // dense: not in any split
        .add("b", DType.F16, shape(2, 100))   // 400 bytes: fits after a's 176
        .add("c", DType.BF16, shape(2, 300))  // 600 elements: 512 + 88
        .build();
    SafetensorsLayout f2 = SafetensorsLayout.builder()
        .add("e", DType.F32, shape(2, 4))     // a new file starts a new split
        .build();
    CompressionPlan plan = CompressionPlanner.plan(source("x.safetensors", f1, "y.safetensors", f2),
        JobConfig.fromYaml("min-elements: 1\nchunk-bytes: 1024"));
    assertEquals(List.of(
            new ReadSplit(0, List.of(new TensorSlice(0, 0, 256))),
            new ReadSplit(0, List.of(new TensorSlice(0, 256, 44), new TensorSlice(2, 0, 200))),
            new ReadSplit(0, List.of(new TensorSlice(3, 0, 512))),
            new ReadSplit(0, List.of(new TensorSlice(3, 512, 88))),
            new ReadSplit(1, List.of(new TensorSlice(4, 0, 8)))),
        plan.histogramSplits());
  }

  @Test
  void randomizedSplitInvariants() throws Exception {
    Random random = new Random(7);
    DType[] dtypes = {DType.F32, DType.F16, DType.BF16, DType.I64, DType.U8};
    for (int round = 0; round < 30; round++) {
      List<Object> files = new ArrayList<>();
      int numFiles = 1 + random.nextInt(3);
      for (int f = 0; f < numFiles; f++) {
        SafetensorsLayout.Builder b = SafetensorsLayout.builder();
        int numTensors = random.nextInt(6);
        for (int t = 0; t < numTensors; t++) {
          b.add("f" + f + ".t" + t, dtypes[random.nextInt(dtypes.length)],
              random.nextInt(4) == 0 ? shape(random.nextInt(3000))
                  : shape(1 + random.nextInt(40), 1 + random.nextInt(200)));
        }
        files.add("s" + f + ".safetensors");
        files.add(b.build());
      }
      long chunkBytes = 1024 + random.nextInt(8000);
      JobConfig config = JobConfig.fromYaml("min-elements: 1\nmin-rank: 1\nchunk-bytes: " + chunkBytes);
      CompressionPlan plan = CompressionPlanner.plan(source(files.toArray()), config);

      long[] covered = new long[plan.tensors().size()];
      for (ReadSplit split : plan.histogramSplits()) {
        long bytes = 0;
        assertFalse(split.slices().isEmpty());
        for (TensorSlice s : split.slices()) {
          Tensor t = plan.tensors().get(s.tensor());
          assertTrue(t.compressed(), t.name());
          assertEquals(split.file(), t.file(), t.name());
          // Slices of a tensor come in order, with no gap and no overlap.
          assertEquals(covered[s.tensor()], s.firstElement(), t.name());
          assertTrue(s.numElements() > 0, t.name());
          if (s.firstElement() + s.numElements() != t.numel()) {
            assertEquals(0, s.numElements() % 8, t.name() + " " + s);
          }
          covered[s.tensor()] += s.numElements();
          bytes += s.numElements() * t.dtype().byteSize();
        }
        assertTrue(bytes <= chunkBytes, bytes + " > " + chunkBytes);
      }
      for (Tensor t : plan.tensors()) {
        boolean compressible = t.dtype().isCompressibleFloat() && t.numel() > 0;
        assertEquals(compressible, t.compressed(), t.name());
        assertEquals(t.compressed() ? t.numel() : 0, covered[t.index()], t.name());
      }
    }
  }

  @Test
  void outputParts() throws Exception {
    SafetensorsLayout f1 = SafetensorsLayout.builder()
        .add("t0", DType.F32, shape(100))   // 400 bytes
        .add("t1", DType.F16, shape(200))   // 400
        .add("t2", DType.U8, shape(300))    // 300
        .build();
    SafetensorsLayout f2 = SafetensorsLayout.builder()
        .add("t3", DType.F32, shape(250))   // 1000: larger than a shard, alone in its part
        .add("t4", DType.U8, shape(10))     // 10
        .add("t5", DType.U8, shape(0))      // 0
        .build();
    CompressionPlan plan = CompressionPlanner.plan(source("a.safetensors", f1, "b.safetensors", f2),
        JobConfig.defaults().withOutputShardBytes(800));
    assertEquals(List.of(
            new OutputPart(0, "part-00001-of-00004.safetensors", new int[] {0, 1}),
            new OutputPart(1, "part-00002-of-00004.safetensors", new int[] {2}),
            new OutputPart(2, "part-00003-of-00004.safetensors", new int[] {3}),
            new OutputPart(3, "part-00004-of-00004.safetensors", new int[] {4, 5})),
        plan.parts());

    CompressionPlan one = CompressionPlanner.plan(source("a.safetensors", f1, "b.safetensors", f2),
        JobConfig.defaults());
    assertEquals(List.of(new OutputPart(0, "part-00001-of-00001.safetensors",
        new int[] {0, 1, 2, 3, 4, 5})), one.parts());
  }

  @Test
  void emptyCheckpointHasOneEmptyPart() throws Exception {
    CompressionPlan plan = CompressionPlanner.plan(
        source("m.safetensors", SafetensorsLayout.builder().build()), JobConfig.defaults());
    assertEquals(List.of(new OutputPart(0, "part-00001-of-00001.safetensors", new int[0])),
        plan.parts());
    assertEquals(List.of(), plan.histogramSplits());
    assertEquals(List.of(), plan.groups());
  }

  @Test
  void randomizedPartInvariants() throws Exception {
    Random random = new Random(11);
    for (int round = 0; round < 30; round++) {
      SafetensorsLayout.Builder b = SafetensorsLayout.builder();
      int n = 1 + random.nextInt(20);
      for (int t = 0; t < n; t++) {
        b.add("t" + t, DType.F16, shape(random.nextInt(500)));
      }
      long shard = 1 + random.nextInt(1500);
      CompressionPlan plan = CompressionPlanner.plan(source("m.safetensors", b.build()),
          JobConfig.defaults().withOutputShardBytes(shard));
      int next = 0;
      for (OutputPart p : plan.parts()) {
        assertEquals(CompressionPlanner.partFileName(p.index(), plan.parts().size()), p.fileName());
        long bytes = 0;
        for (int t : p.tensors()) {
          assertEquals(next++, t);  // every tensor once, in source order
          bytes += plan.tensors().get(t).byteLength();
        }
        assertTrue(p.tensors().length > 0);
        // Over the limit only when a single tensor is itself too big.
        assertTrue(bytes <= shard || p.tensors().length == 1, bytes + " > " + shard);
        // A new part starts only when adding its first tensor would exceed the limit.
        if (p.index() > 0) {
          OutputPart prev = plan.parts().get(p.index() - 1);
          long prevBytes = 0;
          for (int t : prev.tensors()) {
            prevBytes += plan.tensors().get(t).byteLength();
          }
          assertTrue(prevBytes + plan.tensors().get(p.tensors()[0]).byteLength() > shard);
        }
      }
      assertEquals(n, next);
    }
  }

  @Test
  void partFileNames() {
    assertEquals("part-00001-of-00003.safetensors", CompressionPlanner.partFileName(0, 3));
    assertEquals("part-00012-of-00123.safetensors", CompressionPlanner.partFileName(11, 123));
  }

  @Test
  void layoutOfPart() throws Exception {
    SafetensorsLayout layout = SafetensorsLayout.builder()
        .add("w1", DType.BF16, shape(3, 5))     // 15 elements at 3 bits: 45 bits -> 6 bytes
        .add("n", DType.F32, shape(7))          // dense
        .add("w2", DType.F32, shape(4, 4))      // 16 at 3 bits -> 6 bytes
        .add("ids", DType.I64, shape(2, 2))     // dense
        .build();
    JobConfig config = JobConfig.fromYaml("""
        bits: 3
        rules:
          - match: 'w.*'
        """);
    CompressionPlan plan = CompressionPlanner.plan(source("m.safetensors", layout), config);
    assertEquals(1, plan.parts().size());
    SafetensorsLayout expected = SafetensorsLayout.builder()
        .add("w1", DType.U8, shape(6))
        .add("n", DType.F32, shape(7))
        .add("w2", DType.U8, shape(6))
        .add("ids", DType.I64, shape(2, 2))
        .build();
    SafetensorsLayout actual = plan.layout(plan.parts().get(0));
    assertArrayEquals(expected.headerBytes(), actual.headerBytes());
    assertEquals(expected.fileLength(), actual.fileLength());
    assertEquals(6 + 28 + 6 + 32, actual.tensors().get(3).end());

    CompressionPlan split = CompressionPlanner.plan(source("m.safetensors", layout),
        config.withOutputShardBytes(100));
    assertEquals(2, split.parts().size());
    assertArrayEquals(SafetensorsLayout.builder()
            .add("w2", DType.U8, shape(6))
            .add("ids", DType.I64, shape(2, 2))
            .build().headerBytes(),
        split.layout(split.parts().get(1)).headerBytes());
  }

  @Test
  void deterministic() throws Exception {
    JobConfig config = JobConfig.fromYaml("""
        min-elements: 1
        chunk-bytes: 2048
        output-shard-bytes: 5000
        rules:
          - match: 'layers\\.(\\d+)\\..*'
            group: 'L$1'
            bits: 2
        """);
    CompressionPlan a = CompressionPlanner.plan(
        source("a.safetensors", defaultsLayout(), "b.safetensors", SafetensorsLayout.builder()
            .add("layers.0.x", DType.F16, shape(33, 17)).build()), config);
    CompressionPlan b = CompressionPlanner.plan(
        source("a.safetensors", defaultsLayout(), "b.safetensors", SafetensorsLayout.builder()
            .add("layers.0.x", DType.F16, shape(33, 17)).build()), config);
    assertEquals(a, b);
    assertEquals(a.tensors(), b.tensors());
    assertEquals(a.histogramSplits(), b.histogramSplits());
    assertEquals(a.parts(), b.parts());
    assertEquals(a.groups(), b.groups());
    assertTrue(a.parts().size() > 1);
    assertTrue(a.histogramSplits().size() > 1);
  }

  @Test
  void planListsAreImmutable() throws Exception {
    CompressionPlan plan = CompressionPlanner.plan(source("m.safetensors", defaultsLayout()),
        JobConfig.defaults());
    assertThrows(UnsupportedOperationException.class, () -> plan.tensors().clear());
    assertThrows(UnsupportedOperationException.class, () -> plan.groups().clear());
    assertThrows(UnsupportedOperationException.class, () -> plan.histogramSplits().clear());
    assertThrows(UnsupportedOperationException.class, () -> plan.parts().clear());
  }
}
