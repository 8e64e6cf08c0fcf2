package io.sparticle.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparticle.format.Manifest;
import io.sparticle.format.onnx.OnnxInitializer;
import io.sparticle.format.onnx.OnnxModel;
import io.sparticle.format.onnx.OnnxModelReader;
import io.sparticle.plan.JobConfig;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * all-MiniLM-L6-v2 (ONNX) compressed with {@code grouping: module}: its weight matrices, named
 * {@code onnx::MatMul_NNN} by the exporter, are grouped by the nodes that use them, one codebook
 * per module type across the 6 layers; the checkpoint keeps the initializers' names and
 * rebuilds the model.
 */
class OnnxNodeGroupingTest {
  @TempDir static Path tmp;
  static Path model;
  static OnnxModel original;

  private static final List<String> MODULES = List.of("attention/self/query", "attention/self/key",
      "attention/self/value", "attention/output/dense", "intermediate/dense", "output/dense");

  @BeforeAll
  static void extract() throws Exception {
    Files.createDirectories(tmp.resolve("model"));
    model = tmp.resolve("model/all-minilm-l6-v2.onnx");
    try (InputStream in = OnnxNodeGroupingTest.class.getResourceAsStream("/all-minilm-l6-v2.onnx")) {
      Files.copy(in, model);
    }
    original = OnnxModelReader.read(model);
  }

  @Test
  void moduleGroupingSharesCodebooksAcrossLayersAndKeepsTheNames() throws Exception {
    Path packed = tmp.resolve("module");
    CompressReport module = Sparticle.compress(SharedSpark.get()).input(model.toString())
        .output(packed.toString()).config(JobConfig.defaults()).execute();
    CompressReport tensor = Sparticle.compress(SharedSpark.get()).input(model.toString())
        .output(tmp.resolve("tensor").toString())
        .config(JobConfig.defaults().withGrouping(JobConfig.Grouping.TENSOR)).execute();
    System.out.printf(Locale.ROOT, "all-MiniLM-L6-v2 at 4 bits: module %d groups %.2f dB %.1f s,"
            + " tensor %d groups %.2f dB %.1f s%n", module.groups().size(), module.total().sqnrDb(),
        module.seconds(), tensor.groups().size(), tensor.total().sqnrDb(), tensor.seconds());

    // 38 matrices: 36 MatMul weights and 2 embedding tables (the third, 2 x 384, stays dense).
    assertEquals(38, tensor.groups().size());
    Map<String, Integer> sizes = new LinkedHashMap<>();
    module.groups().forEach(g -> sizes.put(g.name(), g.tensors().size()));
    Map<String, Integer> expected = new LinkedHashMap<>();
    expected.put("/embeddings/word_embeddings/Gather", 1);
    expected.put("/embeddings/position_embeddings/Gather", 1);
    MODULES.forEach(m -> expected.put("/encoder/layer.*/" + m + "/MatMul", 6));
    assertEquals(expected, sizes);
    assertEquals(module.compressedParams(), tensor.compressedParams());
    // Sharing a scaled codebook across layers costs little on this model.
    assertTrue(module.total().sqnrDb() > tensor.total().sqnrDb() - 1.0,
        module.total().sqnrDb() + " dB against " + tensor.total().sqnrDb());

    // The manifest keeps the initializers' names; only its group names come from the nodes.
    Manifest m = Manifest.parse("m", Files.readAllBytes(packed.resolve("manifest.json")));
    List<String> names = new ArrayList<>();
    m.tensors().forEach(t -> names.add(t.name()));
    List<String> compressible = new ArrayList<>();
    original.compressible().forEach(i -> compressible.add(i.name()));
    assertEquals(compressible.size(), names.size());
    assertEquals(new java.util.HashSet<>(compressible), new java.util.HashSet<>(names));
    assertEquals(List.copyOf(expected.keySet()), m.groups().stream().map(Manifest.GroupEntry::name).toList());

    // report.json: the node next to the name, in tensors, groups and sensitivity.
    JsonNode report = new ObjectMapper().readTree(packed.resolve("report.json").toFile());
    JsonNode row = null;
    for (JsonNode t : report.get("tensors")) {
      assertTrue(t.has("node"), t.toString());
      if (t.get("name").asText().equals("onnx::MatMul_787")) {
        row = t;
      }
    }
    assertEquals("/encoder/layer.0/attention/self/query/MatMul", row.get("node").asText());
    assertEquals("/encoder/layer.*/attention/self/query/MatMul", row.get("group").asText());
    JsonNode query = report.get("groups").get(2);
    assertEquals("/encoder/layer.*/attention/self/query/MatMul", query.get("name").asText());
    assertEquals(6, query.get("tensors").size());
    for (int i = 0; i < 6; i++) {
      assertEquals(original.nodeNames().get(query.get("tensors").get(i).asText()),
          query.get("nodes").get(i).asText());
      assertEquals("/encoder/layer." + i + "/attention/self/query/MatMul", query.get("nodes").get(i).asText());
    }
    assertTrue(report.get("sensitivity").get(0).has("node"));
    // The summary names the worst tensor by both names: "worst   onnx::MatMul_799 (/encoder/...)".
    assertTrue(module.summary().matches("(?s).*\n  worst   \\S+ \\(/[^)]+\\)  .*"), module.summary());

    // The checkpoint is what compressing this model gives, and rebuilds the model: every byte
    // outside the compressed payloads is the original's, graph and node names included.
    assertEquals(model.toString(), VerifyJob.verify(SharedSpark.get(), packed.toString(),
        model.toString()).against());
    Path rebuilt = tmp.resolve("rebuilt");
    Sparticle.decompress(SharedSpark.get()).input(packed.toString()).output(rebuilt.toString()).execute();
    byte[] before = Files.readAllBytes(model);
    byte[] after = Files.readAllBytes(rebuilt.resolve("all-minilm-l6-v2.onnx"));
    assertEquals(before.length, after.length);
    long pos = 0;
    for (Manifest.Hole h : m.source().onnx().holes()) {
      assertArrayEquals(Arrays.copyOfRange(before, (int) pos, (int) h.offset()),
          Arrays.copyOfRange(after, (int) pos, (int) h.offset()), "before " + h.name());
      pos = h.offset() + h.length();
    }
    assertArrayEquals(Arrays.copyOfRange(before, (int) pos, before.length),
        Arrays.copyOfRange(after, (int) pos, after.length));
    OnnxModel back = OnnxModelReader.read(rebuilt.resolve("all-minilm-l6-v2.onnx"));
    assertEquals(original.initializers().stream().map(OnnxInitializer::name).toList(),
        back.initializers().stream().map(OnnxInitializer::name).toList());
    assertEquals(original.nodeNames(), back.nodeNames());
  }

  /** inspect plans the same groups and shows each tensor's node. */
  @Test
  void inspectShowsTheNodes() {
    PrintStream old = System.out;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int code;
    try {
      System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
      code = io.sparticle.cli.SparticleCli.run("inspect", "--input", model.toString());
    } finally {
      System.setOut(old);
    }
    String text = out.toString(StandardCharsets.UTF_8);
    assertEquals(0, code, text);
    assertTrue(text.contains("group /encoder/layer.*/intermediate/dense/MatMul"), text);
    assertTrue(text.contains("[/encoder/layer.4/intermediate/dense/MatMul]"), text);
    assertTrue(text.contains("in 8 groups"), text);
  }
}
