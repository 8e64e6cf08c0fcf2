package io.sparticle.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparticle.format.DType;
import io.sparticle.format.Manifest;
import io.sparticle.format.SafetensorsHeader;
import io.sparticle.format.SafetensorsReader;
import io.sparticle.format.TensorInfo;
import io.sparticle.io.LocalInputFile;
import io.sparticle.plan.JobConfig;
import io.sparticle.quant.EncodingSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every method and scope end to end on a generated sharded checkpoint: compress, decompress,
 * verify against the input. The report's per-tensor error must be exactly the error of what
 * decompress writes (one reconstruction function), and bits/weight must count every stored byte.
 */
class MethodsRoundTripTest {
  @TempDir Path tmp;

  static Stream<Arguments> methods() {
    return Stream.of(
        Arguments.of("kmeans-channel", DType.BF16, Map.of("scope", "channel", "codebook-precision", "F16"), 14.0),
        Arguments.of("kmeans-channel-step", DType.F32, Map.of("scope", "channel", "codebook-precision", "step:0.0005", "bits", "3"), 9.0),
        Arguments.of("kmeans-group-step", DType.F16, Map.of("grouping", "tensor", "codebook-precision", "step:0.001"), 13.0),
        Arguments.of("kmeans-block-q7", DType.BF16, Map.of("scope", "block"), 17.0),
        Arguments.of("kmeans-block-f16-outliers", DType.F32, Map.of("scope", "block", "scale-precision", "F16", "block-size", "16", "bits", "3", "outliers", "0.01"), 12.0),
        Arguments.of("kmeans-group-outliers", DType.BF16, Map.of("outliers", "0.005"), 15.0),
        Arguments.of("kmeans-channel-outliers", DType.F16, Map.of("scope", "channel", "outliers", "0.02"), 14.0),
        Arguments.of("uniform-block-outliers", DType.F32, Map.of("method", "uniform", "outliers", "0.003"), 14.0),
        Arguments.of("kmeans-block-q4-tensor", DType.F16, Map.of("scope", "block", "scale-precision", "Q4", "block-size", "24", "grouping", "tensor"), 15.0),
        Arguments.of("uniform-channel-8", DType.BF16, Map.of("method", "uniform", "scope", "channel", "bits", "8"), 36.0),
        Arguments.of("uniform-block-4", DType.F16, Map.of("method", "uniform", "block-size", "64"), 14.0),
        Arguments.of("uniform-tensor-4-f32scale", DType.F32, Map.of("method", "uniform", "scope", "tensor", "scale-precision", "F32"), 2.0));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("methods")
  void compressDecompressVerify(String name, DType dtype, Map<String, String> options,
      double minSqnr) throws Exception {
    Path model = Checkpoints.generate(tmp.resolve("model"), dtype);
    Path packed = tmp.resolve("packed");
    Path restored = tmp.resolve("restored");
    // Small parts and chunks: rows and blocks cross chunk boundaries.
    JobConfig config = JobConfig.fromYaml("output-shard-bytes: 300KiB\nchunk-bytes: 48KiB\n", options);
    CompressReport report = Sparticle.compress(SharedSpark.get()).input(model.toString())
        .output(packed.toString()).config(config).execute();
    assertTrue(report.total().sqnrDb() > minSqnr, name + ": SQNR " + report.total().sqnrDb());

    Manifest m = Manifest.parse("m", Files.readAllBytes(packed.resolve("manifest.json")));
    assertEquals(2, m.formatVersion());
    EncodingSpec spec = m.groups().get(0).spec();
    assertEquals(config.encoding().method(), spec.method(), name);

    Sparticle.decompress(SharedSpark.get()).input(packed.toString()).output(restored.toString())
        .execute();
    Map<String, Checkpoints.Tensor> original = Checkpoints.readAll(model);
    Map<String, Checkpoints.Tensor> back = Checkpoints.readAll(restored);
    assertEquals(original.keySet(), back.keySet());

    // The report's error is the error of the decompressed weights, tensor by tensor, exactly.
    JsonNode json = new ObjectMapper().readTree(Files.readAllBytes(packed.resolve("report.json")));
    Map<String, JsonNode> rows = new HashMap<>();
    json.get("tensors").forEach(r -> rows.put(r.get("name").asText(), r));
    for (Manifest.TensorEntry t : m.tensors()) {
      Checkpoints.Tensor o = original.get(t.name());
      Checkpoints.Tensor r = back.get(t.name());
      assertEquals(o.info().dtype(), r.info().dtype());
      assertArrayEquals(o.info().shape(), r.info().shape());
      if (t.dense()) {
        assertArrayEquals(o.bytes(), r.bytes(), t.name());
        continue;
      }
      float[] a = o.floats();
      float[] b = r.floats();
      if (spec.outliers() > 0) {
        // The largest-magnitude weights come back exactly, as many as the fraction allows.
        Manifest.Outliers out = t.outliers();
        long max = (long) Math.floor(spec.outliers() * a.length);
        assertTrue(out.count() <= max && out.count() >= max / 2, t.name() + ": " + out.count()
            + " outliers for at most " + max);
        long above = 0;
        for (int i = 0; i < a.length; i++) {
          if (Math.abs(a[i]) > out.threshold()) {
            above++;
            assertEquals(Float.floatToIntBits(a[i]), Float.floatToIntBits(b[i]), t.name() + " weight " + i);
          }
        }
        assertEquals(out.count(), above, t.name());
      }
      double se = 0;
      for (int i = 0; i < a.length; i++) {
        double d = (double) a[i] - b[i];
        se += d * d;
      }
      assertEquals(rows.get(t.name()).get("mse").asDouble(), se / a.length,
          1e-12 * Math.max(1e-30, se / a.length), name + " " + t.name() + ": report mse");
    }

    // bits/weight counts codes (with padding) and every parameter tensor stored for them.
    long stored = 0;
    long params = 0;
    try (Stream<Path> parts = Files.list(packed)) {
      for (Path p : parts.filter(f -> f.getFileName().toString().startsWith("part-")).toList()) {
        SafetensorsHeader h = SafetensorsReader.readHeader(new LocalInputFile(p));
        for (TensorInfo ti : h.tensors()) {
          String base = ti.name().contains("::") ? ti.name().substring(0, ti.name().indexOf("::")) : ti.name();
          Manifest.TensorEntry e = m.tensors().stream().filter(x -> x.name().equals(base)).findFirst().orElseThrow();
          if (!e.dense()) {
            stored += ti.byteLength();
            params += ti.name().equals(base) ? e.numel() : 0;
          }
        }
      }
    }
    SafetensorsHeader books = SafetensorsReader.readHeader(new LocalInputFile(packed.resolve("codebooks.safetensors")));
    for (TensorInfo ti : books.tensors()) {
      stored += ti.byteLength();
    }
    assertEquals(params, report.compressedParams());
    assertEquals(8.0 * stored / params, json.get("totals").get("bits_per_weight").asDouble(), 1e-9, name);
    assertTrue(report.bitsPerWeight() >= spec.bits(), name + " " + report.bitsPerWeight());

    // The checkpoint is exactly what compressing the input gives, parameters included.
    VerifyJob.Result v = VerifyJob.verify(SharedSpark.get(), packed.toString(), model.toString());
    assertEquals(m.tensors().size(), v.tensors());
    List<String> groupMethods = m.groups().stream().map(g -> g.spec().describe()).distinct().toList();
    assertTrue(groupMethods.size() >= 1, groupMethods.toString());
  }
}
