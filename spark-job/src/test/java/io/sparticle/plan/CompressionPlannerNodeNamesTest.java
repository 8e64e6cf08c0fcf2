package io.sparticle.plan;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.format.DType;
import io.sparticle.format.onnx.OnnxModel;
import io.sparticle.format.onnx.OnnxModelReader;
import io.sparticle.plan.CompressionPlan.Group;
import io.sparticle.plan.CompressionPlan.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ONNX tensors planned under the names of their nodes: {@code module} grouping across layers,
 * rules matching either name, and safetensors names left as they were.
 */
class CompressionPlannerNodeNamesTest {
  @TempDir Path dir;

  /** One file of F32 tensors (name, node or null, shape, ...); ONNX when {@code onnx}. */
  private static SourceCheckpoint source(boolean onnx, Object... nameNodeShape) {
    List<SourceCheckpoint.SourceTensor> ts = new ArrayList<>();
    long offset = 8;
    for (int i = 0; i < nameNodeShape.length; i += 3) {
      long[] shape = (long[]) nameNodeShape[i + 2];
      long bytes = 4;
      for (long d : shape) {
        bytes *= d;
      }
      ts.add(new SourceCheckpoint.SourceTensor((String) nameNodeShape[i], DType.F32, shape, offset,
          bytes, (String) nameNodeShape[i + 1]));
      offset += bytes;
    }
    List<SourceCheckpoint.SourceFile> files = List.of(new SourceCheckpoint.SourceFile(
        onnx ? "model.onnx" : "model.safetensors", offset, Map.of(), ts));
    OnnxModel model = onnx ? new OnnxModel("/m/model.onnx", "model.onnx", 8, Map.of(), List.of(),
        Map.of("model.onnx", offset)) : null;
    return new SourceCheckpoint("/m", files, null, model);
  }

  private static final long[] MATRIX = {64, 64};

  /** Two layers of a BERT export, a word embedding, and a matrix whose node has no name. */
  private static SourceCheckpoint bert() {
    return source(true,
        "embeddings.word_embeddings.weight", "/embeddings/word_embeddings/Gather", MATRIX,
        "onnx::MatMul_1", "/encoder/layer.0/attention/self/query/MatMul", MATRIX,
        "onnx::MatMul_2", "/encoder/layer.0/attention/self/key/MatMul", MATRIX,
        "onnx::MatMul_3", "/encoder/layer.0/output/dense/MatMul", MATRIX,
        "onnx::MatMul_4", "/encoder/layer.1/attention/self/query/MatMul", MATRIX,
        "onnx::MatMul_5", "/encoder/layer.1/attention/self/key/MatMul", MATRIX,
        "onnx::MatMul_6", "/encoder/layer.1/output/dense/MatMul", MATRIX,
        "onnx::MatMul_7", null, MATRIX);
  }

  private static List<String> groupNames(CompressionPlan p) {
    return p.groups().stream().map(Group::name).toList();
  }

  private static JobConfig config(String yaml) {
    return JobConfig.fromYaml(yaml, Map.of());
  }

  @Test
  void moduleGroupingSharesCodebooksAcrossTheLayersOfAnOnnxExport() {
    CompressionPlan p = CompressionPlanner.plan(bert(), JobConfig.defaults());
    assertEquals(List.of("/embeddings/word_embeddings/Gather",
        "/encoder/layer.*/attention/self/query/MatMul", "/encoder/layer.*/attention/self/key/MatMul",
        "/encoder/layer.*/output/dense/MatMul", "onnx::MatMul_7"), groupNames(p));
    assertArrayEquals(new int[] {1, 4}, p.groups().get(1).tensors());
    assertArrayEquals(new int[] {2, 5}, p.groups().get(2).tensors());
    assertArrayEquals(new int[] {3, 6}, p.groups().get(3).tensors());
    assertTrue(p.groups().get(1).perTensorScale());
    // The plan's tensors, and so the manifest, keep the initializers' names.
    assertEquals(List.of("embeddings.word_embeddings.weight", "onnx::MatMul_1", "onnx::MatMul_2",
        "onnx::MatMul_3", "onnx::MatMul_4", "onnx::MatMul_5", "onnx::MatMul_6", "onnx::MatMul_7"),
        p.tensors().stream().map(Tensor::name).toList());
  }

  @Test
  void tensorGroupingNamesEachGroupAfterItsNode() {
    CompressionPlan p = CompressionPlanner.plan(bert(),
        JobConfig.defaults().withGrouping(JobConfig.Grouping.TENSOR));
    assertEquals(8, p.groups().size());
    assertEquals("/encoder/layer.1/output/dense/MatMul", p.groups().get(6).name());
    assertEquals("onnx::MatMul_7", p.groups().get(7).name());
    assertFalse(p.groups().get(1).perTensorScale());
  }

  @Test
  void onnxModuleKeysSplitOnSlashesAndDots() {
    assertEquals("/encoder/layer.*/attention/self/query/MatMul",
        CompressionPlanner.onnxModuleKey("/encoder/layer.3/attention/self/query/MatMul"));
    assertEquals("/model/layers.*/mlp/up_proj/MatMul",
        CompressionPlanner.onnxModuleKey("/model/layers.11/mlp/up_proj/MatMul"));
    assertEquals("/h/*/attn/Gemm:1", CompressionPlanner.onnxModuleKey("/h/0/attn/Gemm:1"));
    assertEquals("encoder.layer.*.attention.self.query.bias",
        CompressionPlanner.onnxModuleKey("encoder.layer.2.attention.self.query.bias"));
    // No numeric segment: MatMul_12 and onnx::MatMul_787 stay as they are.
    assertEquals("/block/MatMul_12", CompressionPlanner.onnxModuleKey("/block/MatMul_12"));
    assertEquals("onnx::MatMul_787", CompressionPlanner.onnxModuleKey("onnx::MatMul_787"));
  }

  /** Safetensors names are grouped as before: '/' is not a separator there. */
  @Test
  void safetensorsNamesWithSlashesAreGroupedAsBefore() {
    CompressionPlan p = CompressionPlanner.plan(source(false,
        "layers/0/w", null, MATRIX, "layers/1/w", null, MATRIX,
        "layers.0.w", null, MATRIX, "layers.1.w", null, MATRIX), JobConfig.defaults());
    assertEquals(List.of("layers/0/w", "layers/1/w", "layers.*.w"), groupNames(p));
  }

  @Test
  void aRuleMatchesTheNameOrTheNodeName() {
    JobConfig c = config("""
        rules:
          - match: 'onnx::MatMul_7'
            keep-dense: true
          - match: '/encoder/layer\\.(\\d+)/attention/.*'
            group: 'attention-$1'
            bits: 3
          - match: '/encoder/layer\\.\\d+/output/dense/MatMul'
            bits: 5
          - match: 'onnx::MatMul_\\d+|embeddings\\.(.*)\\.weight'
            group: 'rest$1'
            bits: 6
        """);
    CompressionPlan p = CompressionPlanner.plan(bert(), c);
    // The last rule matches the embedding by its name: $1 is from that name. A rule without a
    // group names the group after the node.
    assertEquals(List.of("restword_embeddings", "attention-0",
        "/encoder/layer.0/output/dense/MatMul", "attention-1",
        "/encoder/layer.1/output/dense/MatMul"), groupNames(p));
    assertEquals(List.of(6, 3, 3, 5, 3, 3, 5, 0),
        p.tensors().stream().map(Tensor::bits).toList());
    assertFalse(p.tensors().get(7).compressed(), "kept dense by its name");
  }

  @Test
  void theNameIsTriedFirst() {
    // Both names match: the capture groups come from the initializer's name.
    JobConfig c = config("""
        rules:
          - match: '(onnx::MatMul)_\\d+|/encoder/(layer)\\.\\d+/.*'
            group: 'g-$1$2'
        """);
    CompressionPlan p = CompressionPlanner.plan(bert(), c);
    assertEquals(List.of("/embeddings/word_embeddings/Gather", "g-onnx::MatMul"), groupNames(p));
  }

  /** all-MiniLM-L6-v2: six groups for the six MatMuls of a layer, two for the embeddings. */
  @Test
  void realModelGroupsPerModuleType() throws IOException {
    Path file = dir.resolve("all-minilm-l6-v2.onnx");
    try (InputStream in = getClass().getClassLoader().getResourceAsStream("all-minilm-l6-v2.onnx")) {
      assertNotNull(in);
      Files.copy(in, file);
    }
    SourceCheckpoint src = SourceCheckpoint.ofOnnx(dir.toString(), OnnxModelReader.read(file));
    assertEquals(101, src.nodeNames().size());
    CompressionPlan module = CompressionPlanner.plan(src, JobConfig.defaults());
    CompressionPlan tensor = CompressionPlanner.plan(src,
        JobConfig.defaults().withGrouping(JobConfig.Grouping.TENSOR));
    Map<String, Integer> sizes = new LinkedHashMap<>();
    for (Group g : module.groups()) {
      sizes.put(g.name(), g.tensors().length);
    }
    assertEquals(Map.of(
        "/embeddings/word_embeddings/Gather", 1,
        "/embeddings/position_embeddings/Gather", 1,
        "/encoder/layer.*/attention/self/query/MatMul", 6,
        "/encoder/layer.*/attention/self/key/MatMul", 6,
        "/encoder/layer.*/attention/self/value/MatMul", 6,
        "/encoder/layer.*/attention/output/dense/MatMul", 6,
        "/encoder/layer.*/intermediate/dense/MatMul", 6,
        "/encoder/layer.*/output/dense/MatMul", 6), sizes);
    assertEquals(38, tensor.groups().size());
    assertEquals(module.compressedParams(), tensor.compressedParams());
    for (Tensor t : module.tensors()) {
      if (t.compressed() && t.name().startsWith("onnx::MatMul_")) {
        String node = src.nodeNames().get(t.name());
        assertEquals(CompressionPlanner.onnxModuleKey(node), module.groups().get(t.group()).name());
      }
    }
  }
}
