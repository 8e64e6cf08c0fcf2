package io.sparticle.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The evaluator on a real model: all-MiniLM-L6-v2 (ONNX export and tokenizer.json), from the
 * langchain4j Maven artifact on the test classpath.
 */
class EmbeddingEvaluatorTest {
  static final String MODEL_RESOURCE = "/all-minilm-l6-v2.onnx";
  static final String TOKENIZER_RESOURCE = "/all-minilm-l6-v2-tokenizer.json";
  /** Damage: each weight of the largest initializer times (1 + NOISE * N(0, 1)). */
  static final double NOISE = 0.5;

  @TempDir static Path dir;
  static Path model;
  static Path tokenizer;
  static List<String> sentences;
  static EmbeddingEvaluator evaluator;

  @BeforeAll
  static void extractModel() throws IOException {
    model = extract(MODEL_RESOURCE, "model.onnx");
    tokenizer = extract(TOKENIZER_RESOURCE, "tokenizer.json");
    sentences = Sentences.load(null);
    evaluator = EmbeddingEvaluator.builder().tokenizer(tokenizer).build();
  }

  @AfterAll
  static void closeEvaluator() {
    if (evaluator != null) {
      evaluator.close();
    }
  }

  private static Path extract(String resource, String name) throws IOException {
    Path out = dir.resolve(name);
    try (InputStream in = EmbeddingEvaluatorTest.class.getResourceAsStream(resource)) {
      assertNotNull(in, resource + " not on the test classpath");
      Files.copy(in, out);
    }
    return out;
  }

  private static EvaluationResult timed(String label, EmbeddingEvaluator ev, Path original,
      Path compressed) throws IOException {
    long start = System.nanoTime();
    EvaluationResult r = ev.evaluate(original, compressed, sentences);
    double ms = (System.nanoTime() - start) / 1e6;
    System.out.printf(Locale.ROOT,
        "%s: %s%n  %.0f ms for 2 models x %d sentences, model loads included: %.2f ms per sentence per model%n",
        label, r.toJson(), ms, sentences.size(), ms / (2.0 * sentences.size()));
    return r;
  }

  @Test
  void modelAgainstItselfAgreesPerfectly() throws IOException {
    EvaluationResult r = timed("self, mean pooling", evaluator, model, model);
    assertEquals(1.0, r.meanCosine(), 1e-6);
    assertEquals(1.0, r.minCosine(), 1e-6);
    assertEquals(1.0, r.pairwiseSpearman(), 1e-12);
    assertEquals(1.0, r.top1Agreement(), 0);
    assertEquals(120, r.sentences());
    assertEquals(Pooling.MEAN, r.pooling());

    try (EmbeddingEvaluator cls = EmbeddingEvaluator.builder().tokenizer(tokenizer)
        .pooling(Pooling.CLS).batchSize(50).build()) {
      EvaluationResult c = timed("self, cls pooling", cls, model, model);
      assertEquals(1.0, c.meanCosine(), 1e-6);
      assertEquals(1.0, c.pairwiseSpearman(), 1e-12);
      assertEquals(1.0, c.top1Agreement(), 0);
      assertEquals(Pooling.CLS, c.pooling());
    }
  }

  @Test
  void embeddingsFindParaphrasesAndDoNotDependOnPadding() throws IOException {
    double[][] batched = evaluator.embed(model, sentences);
    // The first 78 default sentences are 39 paraphrase pairs (2k, 2k+1).
    int[] nearest = EmbeddingMetrics.nearestNeighbours(batched);
    int found = 0;
    for (int i = 0; i < 78; i++) {
      if (nearest[i] == (i ^ 1)) {
        found++;
      }
    }
    System.out.printf(Locale.ROOT, "paraphrase partner is the nearest neighbour for %d of 78%n",
        found);
    assertTrue(found >= 70, found + " of 78 paraphrases found");

    // One sentence per batch: no padding at all. Padded batches must give the same embeddings.
    try (EmbeddingEvaluator single =
        EmbeddingEvaluator.builder().tokenizer(tokenizer).batchSize(1).build()) {
      double[] cos = EmbeddingMetrics.rowCosines(batched, single.embed(model, sentences));
      double min = 1;
      for (double c : cos) {
        min = Math.min(min, c);
      }
      System.out.printf(Locale.ROOT, "padded vs unpadded: min cosine %.9f%n", min);
      assertEquals(1.0, min, 1e-5);
    }
  }

  @Test
  void damagedModelIsWorseButRelated() throws IOException {
    byte[] bytes = Files.readAllBytes(model);
    OnnxInitializers.Initializer largest = OnnxInitializers.list(bytes).stream()
        .max(Comparator.comparingInt(OnnxInitializers.Initializer::rawLength))
        .orElseThrow();
    System.out.printf(Locale.ROOT, "damaging %s: %d floats at offset %d, noise %.2f%n",
        largest.name(), largest.rawLength() / 4, largest.rawOffset(), NOISE);
    assertEquals(OnnxInitializers.FLOAT, largest.dataType());
    assertEquals(0, largest.rawLength() % 4);
    assertTrue(largest.rawLength() > 1 << 20, "largest initializer has " + largest.rawLength());

    FloatBuffer raw = ByteBuffer.wrap(bytes, largest.rawOffset(), largest.rawLength())
        .slice().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    Random random = new Random(42);
    for (int i = 0; i < raw.limit(); i++) {
      raw.put(i, (float) (raw.get(i) * (1 + NOISE * random.nextGaussian())));
    }
    Path damaged = dir.resolve("damaged.onnx");
    Files.write(damaged, bytes);

    EvaluationResult r = timed("original vs damaged", evaluator, model, damaged);
    assertTrue(r.meanCosine() < 0.999, "mean cosine " + r.meanCosine());
    assertTrue(r.meanCosine() > 0, "mean cosine " + r.meanCosine());
    assertTrue(r.minCosine() <= r.meanCosine());
    assertTrue(r.pairwiseSpearman() < 1, "spearman " + r.pairwiseSpearman());
  }

  @Test
  void missingFilesAreIOExceptions() throws IOException {
    Path missing = dir.resolve("missing.onnx");
    var e = assertThrows(IOException.class, () -> evaluator.evaluate(model, missing, sentences));
    assertEquals("Model file " + missing + " does not exist", e.getMessage());
    e = assertThrows(IOException.class,
        () -> EmbeddingEvaluator.builder().tokenizer(dir.resolve("nope.json")).build());
    assertEquals("Tokenizer file " + dir.resolve("nope.json") + " does not exist",
        e.getMessage());
    // Not an ONNX model: ONNX Runtime's parse error, wrapped.
    Path garbage = dir.resolve("garbage.onnx");
    Files.writeString(garbage, "not a model");
    e = assertThrows(IOException.class, () -> evaluator.evaluate(model, garbage, sentences));
    assertTrue(e.getMessage().startsWith("Cannot run model " + garbage + ": "), e.getMessage());
    var iae = assertThrows(IllegalArgumentException.class,
        () -> EmbeddingEvaluator.builder().batchSize(0));
    assertEquals("Cannot set batch size to 0: must be between 1 and 4096", iae.getMessage());
  }
}
