package io.sparticle.format.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OnnxGraphTest {
  @TempDir Path dir;

  /** all-MiniLM-L6-v2: 6 layers of Q, K, V, attention output, FFN up and down MatMuls. */
  @Test
  void findsEveryWeightMatrixOfARealModelAndItsActivation() throws IOException {
    byte[] bytes;
    try (InputStream in = getClass().getClassLoader().getResourceAsStream("all-minilm-l6-v2.onnx")) {
      assertNotNull(in);
      bytes = in.readAllBytes();
    }
    Path file = dir.resolve("m.onnx");
    Files.write(file, bytes);
    OnnxModel model = OnnxModelReader.read(file);
    Map<String, Integer> ranks = new HashMap<>();
    for (OnnxInitializer i : model.compressible()) {
      ranks.put(i.name(), i.rank());
    }
    OnnxGraph g = OnnxGraph.read(bytes, "m.onnx");
    Map<String, List<OnnxGraph.WeightInput>> w = g.weightInputs(ranks);
    assertEquals(36, w.size(), w.keySet().toString());
    Set<String> activations = new HashSet<>();
    for (Map.Entry<String, List<OnnxGraph.WeightInput>> e : w.entrySet()) {
      assertEquals(1, e.getValue().size(), e.getKey());
      assertEquals(0, e.getValue().get(0).axis(), e.getKey());
      activations.add(e.getValue().get(0).activation());
    }
    // Q, K and V of a layer multiply the same activation: 4 distinct inputs per layer.
    assertEquals(24, activations.size());
    // The embeddings are gathered, not multiplied.
    assertTrue(!w.containsKey("embeddings.word_embeddings.weight"));

    byte[] probe = OnnxGraph.withOutputs(bytes, "m.onnx", List.copyOf(activations));
    OnnxGraph p = OnnxGraph.read(probe, "probe.onnx");
    assertEquals(g.graphOutputs().size() + activations.size(), p.graphOutputs().size());
    assertEquals(g.graphOutputs(), p.graphOutputs().subList(0, g.graphOutputs().size()));
    assertEquals(activations, Set.copyOf(p.graphOutputs().subList(g.graphOutputs().size(),
        p.graphOutputs().size())));
    assertEquals(g.nodes(), p.nodes());
    // The initializers read the same from the copy (their payloads moved by the new lengths).
    Path probeFile = dir.resolve("probe.onnx");
    Files.write(probeFile, probe);
    OnnxModel copy = OnnxModelReader.read(probeFile);
    assertEquals(model.initializers().size(), copy.initializers().size());
    for (int i = 0; i < model.initializers().size(); i++) {
      OnnxInitializer a = model.initializers().get(i);
      OnnxInitializer b = copy.initializers().get(i);
      assertEquals(a.name(), b.name());
      assertArrayEquals(a.dims(), b.dims());
      assertArrayEquals(slice(bytes, a.payload()), slice(probe, b.payload()), a.name());
    }
  }

  private static byte[] slice(byte[] b, Payload p) {
    return java.util.Arrays.copyOfRange(b, (int) p.offset(), (int) p.end());
  }

  /** Gemm with transB reads its weight's input channels along axis 1; other uses are skipped. */
  @Test
  void gemmTransposedWeightsAndSkippedUses() throws IOException {
    ByteArrayOutputStream graph = new ByteArrayOutputStream();
    field(graph, 1, node("Gemm", List.of("x", "W1", "b"), List.of("h"), Map.of("transB", 1L)));
    field(graph, 1, node("Gemm", List.of("h", "W2"), List.of("y"), Map.of()));
    field(graph, 1, node("MatMul", List.of("input", "W3"), List.of("z"), Map.of()));
    field(graph, 1, node("Gemm", List.of("h", "W4"), List.of("u"), Map.of("transA", 1L)));
    field(graph, 1, node("Add", List.of("y", "W5"), List.of("v"), Map.of()));
    field(graph, 11, valueInfo("input"));
    field(graph, 12, valueInfo("y"));
    ByteArrayOutputStream model = new ByteArrayOutputStream();
    varintField(model, 1, 9);
    field(model, 7, graph.toByteArray());
    Map<String, Integer> ranks = Map.of("W1", 2, "W2", 2, "W3", 2, "W4", 2, "W5", 2, "b", 1);
    Map<String, List<OnnxGraph.WeightInput>> w =
        OnnxGraph.read(model.toByteArray(), "t.onnx").weightInputs(ranks);
    assertEquals(Map.of(
        "W1", List.of(new OnnxGraph.WeightInput("x", 1)),
        "W2", List.of(new OnnxGraph.WeightInput("h", 0))), w);
  }

  // ---- node names ----

  private static OnnxGraph.Node named(String name, String op, String... inputs) {
    return new OnnxGraph.Node(op, "", List.of(inputs), List.of(name + "_out"), Map.of(), name);
  }

  /** A BERT-like export: each weight is named after the first node that takes it. */
  @Test
  void weightsAreNamedAfterTheFirstNodeThatUsesThem() {
    List<OnnxGraph.Node> nodes = List.of(
        named("/embeddings/word_embeddings/Gather", "Gather", "embeddings.word_embeddings.weight", "ids"),
        named("/encoder/layer.0/attention/self/query/MatMul", "MatMul", "h0", "onnx::MatMul_787"),
        named("/encoder/layer.0/attention/self/query/Add", "Add", "encoder.layer.0.attention.self.query.bias", "q0"),
        named("/encoder/layer.1/attention/self/query/MatMul", "MatMul", "h1", "onnx::MatMul_800"),
        // A later use of a weight (tied, or a second reader) does not rename it.
        named("/lm_head/MatMul", "MatMul", "h2", "embeddings.word_embeddings.weight"));
    Map<String, String> names = OnnxGraph.nodeNames(nodes, List.of("onnx::MatMul_787",
        "onnx::MatMul_800", "embeddings.word_embeddings.weight",
        "encoder.layer.0.attention.self.query.bias"));
    assertEquals(List.of(
        Map.entry("onnx::MatMul_787", "/encoder/layer.0/attention/self/query/MatMul"),
        Map.entry("onnx::MatMul_800", "/encoder/layer.1/attention/self/query/MatMul"),
        Map.entry("embeddings.word_embeddings.weight", "/embeddings/word_embeddings/Gather"),
        Map.entry("encoder.layer.0.attention.self.query.bias", "/encoder/layer.0/attention/self/query/Add")),
        List.copyOf(names.entrySet()), "in the order of the weights given");
  }

  @Test
  void weightsWithoutANamedUserKeepTheirNames() {
    List<OnnxGraph.Node> nodes = List.of(
        named("", "MatMul", "x", "anonymous"),
        named("/late/MatMul", "MatMul", "y", "anonymous"),
        named("/other/MatMul", "MatMul", "x", "other"));
    // "anonymous": its first user has no name (a later named one does not count); "unused": no
    // node takes it; "other" is taken only by a node outside the weights asked about.
    assertEquals(Map.of(), OnnxGraph.nodeNames(nodes, List.of("anonymous", "unused")));
    assertEquals(Map.of("other", "/other/MatMul"), OnnxGraph.nodeNames(nodes, List.of("other")));
    assertEquals(Map.of(), OnnxGraph.nodeNames(List.of(), List.of("w")));
  }

  /** Names stay unique: a node taking two weights gives each its input index. */
  @Test
  void oneNodeTakingTwoWeightsNamesEachByItsInput() {
    List<OnnxGraph.Node> nodes = List.of(
        named("/fc/Gemm", "Gemm", "x", "fc.weight", "fc.bias"),
        named("/ln/LayerNormalization", "LayerNormalization", "y", "ln.weight", "ln.bias"),
        named("/proj/MatMul", "MatMul", "z", "proj"));
    assertEquals(Map.of(
        "fc.weight", "/fc/Gemm:1", "fc.bias", "/fc/Gemm:2",
        "ln.weight", "/ln/LayerNormalization:1", "ln.bias", "/ln/LayerNormalization:2",
        "proj", "/proj/MatMul"),
        OnnxGraph.nodeNames(nodes, List.of("fc.weight", "fc.bias", "ln.weight", "ln.bias", "proj")));
    // Only the weights asked about compete: the bias alone keeps the plain node name.
    assertEquals(Map.of("fc.bias", "/fc/Gemm"), OnnxGraph.nodeNames(nodes, List.of("fc.bias")));
  }

  /** A name that would still not be unique is not used: the weights keep their own names. */
  @Test
  void namesThatWouldCollideAreNotUsed() {
    List<OnnxGraph.Node> nodes = List.of(
        // Two nodes of one name, each taking a weight at input 1: "MatMul:1" twice.
        named("MatMul", "MatMul", "x", "a"),
        named("MatMul", "MatMul", "y", "b"),
        // Two nodes of one name, different inputs: made unique by the index.
        named("dup", "Add", "c", "x"),
        named("dup", "Add", "y", "d"),
        // A node named like another weight: "e" would be called "f".
        named("f", "Mul", "x", "e"),
        named("/g/Mul", "Mul", "x", "f"),
        // A node named like the weight itself changes nothing.
        named("h", "Mul", "x", "h"));
    assertEquals(Map.of("c", "dup:0", "d", "dup:1", "f", "/g/Mul"),
        OnnxGraph.nodeNames(nodes, List.of("a", "b", "c", "d", "e", "f", "h")));
  }

  /** The reader takes node names from NodeProto.name (field 3); absent means "". */
  @Test
  void readsNodeNames() throws IOException {
    ByteArrayOutputStream graph = new ByteArrayOutputStream();
    byte[] n = node("MatMul", List.of("x", "W"), List.of("y"), Map.of());
    ByteArrayOutputStream withName = new ByteArrayOutputStream();
    withName.writeBytes(n);
    field(withName, 3, "/fc/MatMul".getBytes(StandardCharsets.UTF_8));
    field(graph, 1, withName.toByteArray());
    field(graph, 1, node("Relu", List.of("y"), List.of("z"), Map.of()));
    ByteArrayOutputStream model = new ByteArrayOutputStream();
    field(model, 7, graph.toByteArray());
    OnnxGraph g = OnnxGraph.read(model.toByteArray(), "t.onnx");
    assertEquals(List.of("/fc/MatMul", ""), g.nodes().stream().map(OnnxGraph.Node::name).toList());
    assertEquals(Map.of("W", "/fc/MatMul"), g.nodeNames(List.of("W", "y")));
  }

  private static byte[] node(String op, List<String> in, List<String> out, Map<String, Long> ints) {
    ByteArrayOutputStream n = new ByteArrayOutputStream();
    in.forEach(s -> field(n, 1, s.getBytes(StandardCharsets.UTF_8)));
    out.forEach(s -> field(n, 2, s.getBytes(StandardCharsets.UTF_8)));
    field(n, 4, op.getBytes(StandardCharsets.UTF_8));
    ints.forEach((k, v) -> {
      ByteArrayOutputStream a = new ByteArrayOutputStream();
      field(a, 1, k.getBytes(StandardCharsets.UTF_8));
      varintField(a, 3, v);
      varintField(a, 20, 2);
      field(n, 5, a.toByteArray());
    });
    return n.toByteArray();
  }

  private static byte[] valueInfo(String name) {
    ByteArrayOutputStream v = new ByteArrayOutputStream();
    field(v, 1, name.getBytes(StandardCharsets.UTF_8));
    return v.toByteArray();
  }

  private static void field(ByteArrayOutputStream out, int number, byte[] value) {
    varint(out, (long) number << 3 | 2);
    varint(out, value.length);
    out.writeBytes(value);
  }

  private static void varintField(ByteArrayOutputStream out, int number, long value) {
    varint(out, (long) number << 3);
    varint(out, value);
  }

  private static void varint(ByteArrayOutputStream out, long v) {
    while ((v & ~0x7FL) != 0) {
      out.write((int) (v & 0x7F) | 0x80);
      v >>>= 7;
    }
    out.write((int) v);
  }
}
