package io.sparticle.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import io.sparticle.eval.EmbeddingEvaluator;
import io.sparticle.eval.RunnableTable;
import io.sparticle.eval.Sentences;
import io.sparticle.format.onnx.OnnxGraph;
import io.sparticle.format.onnx.OnnxInitializer;
import io.sparticle.format.onnx.OnnxModel;
import io.sparticle.format.onnx.OnnxModelReader;
import io.sparticle.format.onnx.WeightGraph;
import io.sparticle.plan.JobConfig;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code decompress --format onnx-compressed} on the real all-MiniLM-L6-v2 model and on small
 * hand-made models: ONNX Runtime loads the runnable model, the weights its graph computes are
 * bit for bit those the dense rebuild stores (read back as extra graph outputs), every other
 * initializer is the dense rebuild's, and the file is the size the checkpoint promises.
 */
class RunnableOnnxTest {
  @TempDir static Path tmp;
  static Path model;
  static Path tokenizer;

  @BeforeAll
  static void extract() throws Exception {
    io.sparticle.eval.Fidelity.RealModel m = io.sparticle.eval.Fidelity.RealModel.extract(tmp.resolve("model"));
    model = m.model();
    tokenizer = m.tokenizer();
  }

  /** Every method's graph, and the code widths' packings (1, 2, 4 sections; bytes; UINT16). */
  static Stream<Arguments> methods() {
    return Stream.of(
        Arguments.of("kmeans/group 4", Map.of("bits", "4"), true),
        Arguments.of("kmeans/group 3", Map.of("bits", "3"), false),
        Arguments.of("kmeans/group 2", Map.of("bits", "2"), false),
        Arguments.of("kmeans/group 1", Map.of("bits", "1"), false),
        Arguments.of("kmeans/channel F16 4", Map.of("bits", "4", "scope", "channel",
            "codebook-precision", "F16"), true),
        Arguments.of("kmeans/channel F32 4", Map.of("bits", "4", "scope", "channel",
            "codebook-precision", "F32"), false),
        Arguments.of("uniform/tensor 8", Map.of("bits", "8", "method", "uniform", "scope", "tensor"), false),
        Arguments.of("uniform/channel 4", Map.of("bits", "4", "method", "uniform", "scope", "channel"), true),
        Arguments.of("uniform/block64 4", Map.of("bits", "4", "method", "uniform", "scope", "block",
            "block-size", "64"), true),
        Arguments.of("uniform/block32 F32 6", Map.of("bits", "6", "method", "uniform", "scope", "block",
            "block-size", "32", "scale-precision", "F32"), false),
        Arguments.of("kmeans/block32 Q7 4", Map.of("bits", "4", "scope", "block"), false),
        Arguments.of("kmeans/block32 F16 4", Map.of("bits", "4", "scope", "block", "scale-precision", "F16"), false),
        Arguments.of("kmeans/group outliers 4", Map.of("bits", "4", "outliers", "0.005"), false),
        Arguments.of("kmeans prune rans 4", Map.of("bits", "4", "prune", "0.5", "entropy", "rans"), false),
        Arguments.of("gmm huffman 3", Map.of("bits", "3", "method", "gmm", "entropy", "huffman"), false),
        Arguments.of("vq d2 4", Map.of("bits", "4", "method", "vq", "vq-dim", "2"), false),
        Arguments.of("vq d4 3", Map.of("bits", "3", "method", "vq", "vq-dim", "4"), false));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("methods")
  void graphComputesTheDecodedWeights(String method, Map<String, String> options, boolean sizeBar)
      throws Exception {
    String name = method.replaceAll("[^a-z0-9]+", "-");
    Path packed = tmp.resolve("packed-" + name);
    CompressReport report = Sparticle.compress(SharedSpark.get()).input(model.toString())
        .output(packed.toString()).config(JobConfig.fromYaml(null, options)).execute();
    Built b = build(packed, name);
    assertEquals(Map.of(), b.result.keptDense(), "every tensor is computed in the graph");
    List<String> computed = computed(b);
    assertEquals(report.tensors().size(), computed.size(), "the encoded tensors are the computed ones");
    assertWeightsEqual(b, computed);
    if (sizeBar) {
      // What the size promises: within 10% of the checkpoint's bytes, under 0.3x the original.
      long bytes = Files.size(b.runnable);
      assertTrue(bytes <= 1.10 * report.outputBytes(), bytes + " bytes, checkpoint " + report.outputBytes());
      assertTrue(bytes <= 0.3 * Files.size(model), bytes + " bytes, original " + Files.size(model));
    }
  }

  @Test
  void embeddingsAreTheDenseRebuildsAndEvaluateTakesTheFile() throws Exception {
    Path packed = tmp.resolve("packed-embeddings");
    Sparticle.compress(SharedSpark.get()).input(model.toString()).output(packed.toString())
        .config(JobConfig.defaults().withBits(4)).execute();
    Built b = build(packed, "embeddings");
    List<String> sentences = Sentences.load(null);
    try (EmbeddingEvaluator eval = EmbeddingEvaluator.builder().tokenizer(tokenizer).build()) {
      double[][] dense = eval.embed(b.dense, sentences);
      double[][] runnable = eval.embed(b.runnable, sentences);
      assertTrue(RunnableTable.maxAbsDiff(dense, runnable) <= 1e-6);
      assertEquals(eval.evaluate(model, b.dense, sentences).meanCosine(),
          eval.evaluate(model, b.runnable, sentences).meanCosine(), 1e-9);
    }
  }

  @Test
  void tensorsTheGraphCannotComputeStayDenseAndAreNamed() throws Exception {
    // Blocks of 104 do not divide MiniLM's tensors: each is written dense, and says why.
    Path packed = tmp.resolve("packed-block104");
    CompressReport report = Sparticle.compress(SharedSpark.get()).input(model.toString())
        .output(packed.toString()).config(JobConfig.fromYaml(null, Map.of("bits", "4",
            "method", "uniform", "scope", "block", "block-size", "104"))).execute();
    Built b = build(packed, "block104");
    assertEquals(report.tensors().size(), b.result.keptDense().size());
    String why = b.result.keptDense().get("onnx::MatMul_864");
    assertTrue(why != null && why.contains("not whole blocks of 104"), String.valueOf(why));
    assertTrue(b.result.toJson().get("kept_dense").has("onnx::MatMul_864"));
    // No graph at all: the file is the dense rebuild, byte for byte.
    assertArrayEquals(Files.readAllBytes(b.dense), Files.readAllBytes(b.runnable));
  }

  @Test
  void aSmallModelAtOpset13RunsAndAtOpset9StaysDense() throws Exception {
    for (long opset : new long[] {13, 9}) {
      Path src = TinyOnnx.write(tmp.resolve("tiny-" + opset), "tiny.onnx", 256, opset, false);
      Path packed = tmp.resolve("packed-tiny-" + opset);
      Sparticle.compress(SharedSpark.get()).input(src.toString()).output(packed.toString())
          .config(JobConfig.defaults().withBits(4)).execute();
      Built b = build(packed, "tiny-" + opset);
      if (opset == 13) {
        assertEquals(Map.of(), b.result.keptDense());
        assertEquals(List.of("w1", "w2"), computed(b));
        assertWeightsEqual(b, List.of("w1", "w2"));
        // The model's own output: the same bits through both models.
        assertArrayEquals(run(b.dense, List.of("y")).get("y"), run(b.runnable, List.of("y")).get("y"));
      } else {
        assertEquals(List.of("w1", "w2"), List.copyOf(b.result.keptDense().keySet()));
        assertTrue(b.result.keptDense().get("w1").contains("opset 9"), b.result.keptDense().toString());
        assertArrayEquals(Files.readAllBytes(b.dense), Files.readAllBytes(b.runnable));
      }
    }
  }

  @Test
  void externalDataIsRefusedAndNothingIsMarkedComplete() throws Exception {
    Path src = TinyOnnx.write(tmp.resolve("tiny-external"), "tiny.onnx", 256, 13, true);
    Path packed = tmp.resolve("packed-tiny-external");
    Sparticle.compress(SharedSpark.get()).input(src.toString()).output(packed.toString())
        .config(JobConfig.defaults().withBits(4)).execute();
    Path out = tmp.resolve("runnable-tiny-external");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Sparticle.decompress(SharedSpark.get()).input(packed.toString()).output(out.toString())
            .format("onnx-compressed").execute());
    assertTrue(e.getMessage().contains("'w2'") && e.getMessage().contains("weights.bin")
        && e.getMessage().contains("--format safetensors"), e.getMessage());
    assertFalse(Files.exists(out.resolve("_SUCCESS")));
  }

  @Test
  void anUnknownFormatIsRefusedWithTheChoices() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Sparticle.decompress(SharedSpark.get()).format("onnx-runnable"));
    assertEquals("Cannot set format to onnx-runnable: must be onnx, onnx-compressed or safetensors",
        e.getMessage());
  }

  private record Built(Path dense, Path runnable, DecompressJob.Result result) {}

  /** The dense rebuild and the runnable model of a checkpoint; checks the runnable one loads. */
  private static Built build(Path packed, String name) throws Exception {
    Path dense = tmp.resolve("dense-" + name);
    Path runnable = tmp.resolve("runnable-" + name);
    Sparticle.decompress(SharedSpark.get()).input(packed.toString()).output(dense.toString()).execute();
    DecompressJob.Result r = Sparticle.decompress(SharedSpark.get()).input(packed.toString())
        .output(runnable.toString()).format("onnx-compressed").execute();
    String file;
    try (Stream<Path> files = Files.list(dense)) {
      file = files.map(p -> p.getFileName().toString()).filter(f -> f.endsWith(".onnx")).findFirst()
          .orElseThrow();
    }
    assertTrue(Files.exists(runnable.resolve("_SUCCESS")));
    assertEquals(Files.size(runnable.resolve(file)), r.bytes());
    return new Built(dense.resolve(file), runnable.resolve(file), r);
  }

  /** The dense rebuild's initializers the runnable model no longer stores, in file order. */
  private static List<String> computed(Built b) throws Exception {
    OnnxModel runnable = OnnxModelReader.read(b.runnable);
    List<String> kept = new ArrayList<>();
    for (OnnxInitializer i : runnable.initializers()) {
      kept.add(i.name());
      assertTrue(i.name().startsWith("sparticle::") || i.name().contains(WeightGraph.MARK)
          || hasInitializer(b.dense, i.name()), i.name());
    }
    List<String> out = new ArrayList<>();
    for (OnnxInitializer i : OnnxModelReader.read(b.dense).initializers()) {
      if (!kept.contains(i.name())) {
        out.add(i.name());
      }
    }
    return out;
  }

  private static boolean hasInitializer(Path model, String name) throws Exception {
    return OnnxModelReader.read(model).initializers().stream().anyMatch(i -> i.name().equals(name));
  }

  /**
   * The values the runnable graph computes for {@code computed} are bit for bit the dense
   * rebuild's initializers, and every initializer both keep is byte for byte the same.
   */
  private static void assertWeightsEqual(Built b, List<String> computed)
      throws Exception {
    OnnxModel dense = OnnxModelReader.read(b.dense);
    byte[] denseBytes = Files.readAllBytes(b.dense);
    byte[] runnableBytes = Files.readAllBytes(b.runnable);
    OnnxModel runnable = OnnxModelReader.read(b.runnable);
    for (OnnxInitializer i : runnable.initializers()) {
      if (hasInitializer(b.dense, i.name())) {
        assertArrayEquals(payload(denseBytes, dense.initializer(i.name())), payload(runnableBytes, i),
            i.name());
      }
    }
    Map<String, float[]> values = run(b.runnable, computed);
    for (String name : computed) {
      byte[] expected = payload(denseBytes, dense.initializer(name));
      float[] got = values.get(name);
      assertEquals(expected.length / 4, got.length, name);
      java.nio.ByteBuffer e = java.nio.ByteBuffer.wrap(expected).order(java.nio.ByteOrder.LITTLE_ENDIAN);
      for (int k = 0; k < got.length; k++) {
        int want = e.getInt(4 * k);
        if (want != Float.floatToRawIntBits(got[k])) {
          throw new AssertionError(name + " element " + k + ": computed " + got[k] + ", decompress wrote "
              + Float.intBitsToFloat(want));
        }
      }
    }
  }

  private static byte[] payload(byte[] file, OnnxInitializer i) {
    return Arrays.copyOfRange(file, (int) i.payload().offset(), (int) i.payload().end());
  }

  /**
   * Runs {@code model} in ONNX Runtime with made-up inputs (ids of 1, floats of 0.5, batch 1 and
   * 4 tokens) and returns the FLOAT values {@code names}, added as graph outputs.
   */
  static Map<String, float[]> run(Path model, List<String> names) throws Exception {
    byte[] withOutputs = OnnxGraph.withOutputs(Files.readAllBytes(model), model.toString(), names);
    Path copy = Files.createTempFile(tmp, "outputs", ".onnx");
    Files.write(copy, withOutputs);
    Map<String, float[]> out = new HashMap<>();
    Throwable[] failure = new Throwable[1];
    // ONNX Runtime needs a large native stack (see EmbeddingEvaluator).
    Thread t = new Thread(null, () -> {
      OrtEnvironment env = OrtEnvironment.getEnvironment();
      try (OrtSession.SessionOptions o = new OrtSession.SessionOptions();
          OrtSession s = env.createSession(copy.toString(), o)) {
        Map<String, OnnxTensor> inputs = new LinkedHashMap<>();
        try {
          for (Map.Entry<String, NodeInfo> in : s.getInputInfo().entrySet()) {
            TensorInfo info = (TensorInfo) in.getValue().getInfo();
            long[] shape = info.getShape().clone();
            for (int d = 0; d < shape.length; d++) {
              shape[d] = shape[d] >= 0 ? shape[d] : d == 0 ? 1 : 4;
            }
            int n = (int) Arrays.stream(shape).reduce(1, (x, y) -> x * y);
            if (info.type == ai.onnxruntime.OnnxJavaType.INT64) {
              long[] ids = new long[n];
              Arrays.fill(ids, 1);
              inputs.put(in.getKey(), OnnxTensor.createTensor(env, LongBuffer.wrap(ids), shape));
            } else {
              float[] x = new float[n];
              Arrays.fill(x, 0.5f);
              inputs.put(in.getKey(), OnnxTensor.createTensor(env, FloatBuffer.wrap(x), shape));
            }
          }
          try (OrtSession.Result r = s.run(inputs, new java.util.HashSet<>(names))) {
            for (String name : names) {
              OnnxValue v = r.get(name).orElseThrow();
              FloatBuffer fb = ((OnnxTensor) v).getFloatBuffer();
              float[] a = new float[fb.remaining()];
              fb.get(a);
              out.put(name, a);
            }
          }
        } finally {
          for (OnnxTensor x : inputs.values()) {
            x.close();
          }
        }
      } catch (Throwable e) {
        failure[0] = e;
      }
    }, "ort", 64L << 20);
    t.start();
    t.join();
    if (failure[0] != null) {
      throw new AssertionError("ONNX Runtime failed on " + model + ": " + failure[0], failure[0]);
    }
    return out;
  }
}
