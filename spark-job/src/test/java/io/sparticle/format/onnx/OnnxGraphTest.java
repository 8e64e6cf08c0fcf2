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
