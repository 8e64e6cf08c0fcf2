package io.sparticle.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparticle.format.DType;
import io.sparticle.format.Manifest;
import io.sparticle.format.ShardIndex;
import io.sparticle.plan.JobConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** compress -> decompress on generated sharded checkpoints of every compressible dtype. */
class CompressRoundTripTest {
  @TempDir Path tmp;

  @ParameterizedTest
  @EnumSource(value = DType.class, names = {"BF16", "F16", "F32"})
  void roundTripRestoresShapesDenseBytesAndMeasuredError(DType dtype) throws Exception {
    Path model = Checkpoints.generate(tmp.resolve("model"), dtype);
    Path packed = tmp.resolve("packed");
    Path restored = tmp.resolve("restored");
    // Small output parts and chunks so the test crosses part and chunk boundaries.
    JobConfig config = JobConfig.defaults().withBits(4).withOutputShardBytes(300 << 10)
        .withChunkBytes(64 << 10);

    CompressReport report = Sparticle.compress(SharedSpark.get()).input(model.toString())
        .output(packed.toString()).config(config).execute();

    Map<String, Checkpoints.Tensor> original = Checkpoints.readAll(model);
    assertTrue(Files.exists(packed.resolve("_SUCCESS")));
    assertFalse(Files.exists(packed.resolve("_temporary")), "temp files are cleaned");
    Manifest manifest = Manifest.parse("manifest.json", Files.readAllBytes(packed.resolve("manifest.json")));
    assertEquals(original.size(), manifest.tensors().size());
    assertTrue(manifest.files().size() > 2, "several output parts: " + manifest.files());

    // 4 bits against 16-bit input: ~4x, less the dense norms and codebooks.
    double expectedRatio = dtype == DType.F32 ? 7.5 : 3.8;
    assertTrue(report.ratio() > expectedRatio, "ratio " + report.ratio());
    // The generated weights (Laplace with 8x outlier channels) reach ~15 dB at 4 bits with
    // scikit-learn's KMeans (CodebookQualityTest compares tensor by tensor).
    assertTrue(report.total().sqnrDb() > 14.5 && report.total().sqnrDb() < 20,
        "4-bit SQNR " + report.total().sqnrDb());

    DecompressJob.Result r = Sparticle.decompress(SharedSpark.get()).input(packed.toString())
        .output(restored.toString()).execute();
    assertEquals(report.params(), r.params());
    assertTrue(Files.exists(restored.resolve("_SUCCESS")));
    assertTrue(Files.exists(restored.resolve(ShardIndex.FILE_NAME)));
    ShardIndex index = ShardIndex.parse("index", Files.readAllBytes(restored.resolve(ShardIndex.FILE_NAME)));
    ShardIndex srcIndex = ShardIndex.parse("index", Files.readAllBytes(model.resolve(ShardIndex.FILE_NAME)));
    assertEquals(srcIndex.weightMap(), index.weightMap());

    Map<String, Checkpoints.Tensor> back = Checkpoints.readAll(restored);
    assertEquals(original.keySet(), back.keySet());
    Map<String, JsonNode> rows = reportRows(packed);
    for (Checkpoints.Tensor o : original.values()) {
      Checkpoints.Tensor b = back.get(o.info().name());
      String name = o.info().name();
      assertEquals(o.file(), b.file(), name + " stays in its shard");
      assertEquals(o.info().dtype(), b.info().dtype(), name);
      assertArrayEquals(o.info().shape(), b.info().shape(), name);
      Manifest.TensorEntry entry = manifest.tensors().stream().filter(t -> t.name().equals(name)).findFirst().orElseThrow();
      if (entry.encoding().equals(Manifest.ENCODING_DENSE)) {
        assertArrayEquals(o.bytes(), b.bytes(), name + " dense bytes are identical");
      } else {
        float[] x = o.floats();
        float[] y = b.floats();
        Set<Float> distinct = new HashSet<>();
        for (float v : y) {
          distinct.add(v);
        }
        assertTrue(distinct.size() <= 16, name + " has " + distinct.size() + " distinct values");
        // The error the encode pass measured is the error of what decompress writes.
        double measured = rows.get(name).get("sqnr_db").asDouble();
        assertEquals(Checkpoints.sqnrDb(x, y), measured, 1e-6, name);
      }
    }
  }

  @org.junit.jupiter.api.Test
  void sharedGroupsWithPerTensorScalesRoundTrip() throws Exception {
    Path model = Checkpoints.generate(tmp.resolve("model"), DType.BF16);
    Path packed = tmp.resolve("packed");
    Path restored = tmp.resolve("restored");
    JobConfig config = JobConfig.fromYaml(String.join("\n",
        "bits: 3",
        "codebook-precision: BF16",
        "rules:",
        "  - match: '.*norm\\.weight'",
        "    keep-dense: true",
        "  - match: 'model\\.layers\\.(\\d+)\\.mlp\\..*'",
        "    group: 'layers.$1.mlp'",
        "    per-tensor-scale: true",
        "  - match: 'lm_head\\.weight'",
        "    bits: 5",
        ""));
    CompressReport report = Sparticle.compress(SharedSpark.get()).input(model.toString())
        .output(packed.toString()).config(config).execute();
    Manifest manifest = Manifest.parse("manifest.json", Files.readAllBytes(packed.resolve("manifest.json")));
    Manifest.GroupEntry mlp0 = manifest.groups().stream().filter(g -> g.name().equals("layers.0.mlp"))
        .findFirst().orElseThrow();
    assertEquals(8, mlp0.k());
    assertTrue(mlp0.perTensorScale());
    assertEquals("BF16", mlp0.codebookPrecision().name());
    Manifest.TensorEntry up = manifest.tensors().stream()
        .filter(t -> t.name().equals("model.layers.0.mlp.up_proj.weight")).findFirst().orElseThrow();
    Manifest.TensorEntry down = manifest.tensors().stream()
        .filter(t -> t.name().equals("model.layers.0.mlp.down_proj.weight")).findFirst().orElseThrow();
    assertEquals(up.group(), down.group());
    assertTrue(up.scale() != 1f && up.scale() != down.scale(), up.scale() + " " + down.scale());
    assertEquals(5, manifest.tensors().stream().filter(t -> t.name().equals("lm_head.weight"))
        .findFirst().orElseThrow().bits());
    // lm_head, embed, one MLP group per layer (the rule), and the attention tensors by the default
    // module grouping: one group per projection across the 2 layers.
    assertEquals(2 + 2 + 4, manifest.groups().size());
    assertTrue(manifest.groups().stream().anyMatch(g -> g.name().equals("model.layers.*.self_attn.q_proj.weight")));

    Sparticle.decompress(SharedSpark.get()).input(packed.toString()).output(restored.toString()).execute();
    Map<String, Checkpoints.Tensor> original = Checkpoints.readAll(model);
    Map<String, Checkpoints.Tensor> back = Checkpoints.readAll(restored);
    Map<String, JsonNode> rows = reportRows(packed);
    for (Map.Entry<String, JsonNode> e : rows.entrySet()) {
      float[] x = original.get(e.getKey()).floats();
      float[] y = back.get(e.getKey()).floats();
      assertEquals(Checkpoints.sqnrDb(x, y), e.getValue().get("sqnr_db").asDouble(), 1e-6, e.getKey());
    }
    assertTrue(report.total().sqnrDb() > 8, "3-bit shared-codebook SQNR " + report.total().sqnrDb());
  }

  static Map<String, JsonNode> reportRows(Path packed) throws Exception {
    JsonNode report = new ObjectMapper().readTree(packed.resolve("report.json").toFile());
    Map<String, JsonNode> rows = new java.util.HashMap<>();
    for (JsonNode t : report.get("tensors")) {
      rows.put(t.get("name").asText(), t);
    }
    for (String key : new String[] {"params", "compressed_params", "input_bytes", "output_bytes",
        "ratio", "bits_per_weight", "sqnr_db", "seconds"}) {
      assertTrue(report.get("totals").has(key), "report totals has " + key);
    }
    for (String phase : new String[] {"plan", "histogram", "particleization", "encode", "commit"}) {
      assertTrue(report.get("totals").get("phase_seconds").has(phase), phase);
    }
    return rows;
  }
}
