package io.sparticle.eval;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.sparticle.format.onnx.OnnxGraph;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Calibration of an ONNX sentence-embedding model: runs it in ONNX Runtime on calibration
 * sentences and measures, for every weight matrix (an initializer multiplied by MatMul or Gemm,
 * see {@link OnnxGraph#weightInputs}), the mean squared activation of each of its input channels
 * over all real tokens (padding left out): the diagonal of the layer's input Hessian.
 *
 * <p>How: a copy of the model whose graph also outputs every such activation, loaded from memory
 * (its external data files, if any, read from the model's directory), runs the sentences in
 * batches, as {@link EmbeddingEvaluator} does. A weight that several nodes multiply gets the sum
 * of their activations' means. Activations must be float.
 *
 * <pre>{@code
 * try (EmbeddingEvaluator tok = EmbeddingEvaluator.builder().tokenizer(tokenizerJson).build()) {
 *   Calibrator.Result r = Calibrator.run(tok, Path.of("model.onnx"), shapes, sentences);
 *   float[] channels = r.channels().get("encoder.layer.0.attention.self.query.weight");
 * }
 * }</pre>
 */
public final class Calibrator {
  private Calibrator() {}

  /**
   * What calibration measured.
   *
   * @param channels by initializer name: mean squared activation per input channel
   * @param axes by initializer name: the input-channel axis of the weight
   * @param skipped by initializer name: why a weight got no importance
   * @param tokens real tokens the sentences gave
   */
  public record Result(Map<String, float[]> channels, Map<String, Integer> axes,
      Map<String, String> skipped, int sentences, long tokens, double seconds) {}

  /**
   * Calibrates {@code model} (a local .onnx; external data files beside it) on {@code sentences},
   * tokenized by {@code tokenizer}'s tokenizer in its batches.
   *
   * @param dims by initializer name, the shape of every weight to calibrate
   * @throws IOException if the model cannot be read or run, or an activation is not float
   */
  public static Result run(EmbeddingEvaluator tokenizer, Path model, Map<String, long[]> dims,
      List<String> sentences) throws IOException {
    long t0 = System.nanoTime();
    byte[] bytes = Files.readAllBytes(model);
    String file = model.toString();
    OnnxGraph graph = OnnxGraph.read(bytes, file);
    Map<String, Integer> ranks = new HashMap<>();
    dims.forEach((k, v) -> ranks.put(k, v.length));
    Map<String, List<OnnxGraph.WeightInput>> uses = graph.weightInputs(ranks);
    Set<String> activations = new LinkedHashSet<>();
    uses.values().forEach(l -> l.forEach(w -> activations.add(w.activation())));
    List<String> probeOutputs = new ArrayList<>(activations);
    probeOutputs.removeAll(graph.graphOutputs());
    byte[] probe = OnnxGraph.withOutputs(bytes, file, probeOutputs);
    Path modelDir = model.toAbsolutePath().getParent();
    Map<String, double[]> sums = new LinkedHashMap<>();
    long[] tokens = new long[1];
    Map<String, Long> rows = new HashMap<>();
    EmbeddingEvaluator.onNativeStack(() -> {
      measure(tokenizer, probe, modelDir, model, activations, sentences, sums, rows, tokens);
      return null;
    });
    Map<String, float[]> channels = new LinkedHashMap<>();
    Map<String, Integer> axes = new LinkedHashMap<>();
    Map<String, String> skipped = new LinkedHashMap<>();
    for (Map.Entry<String, List<OnnxGraph.WeightInput>> e : uses.entrySet()) {
      long[] shape = dims.get(e.getKey());
      int axis = e.getValue().get(0).axis();
      double[] acc = new double[(int) shape[axis]];
      String why = null;
      for (OnnxGraph.WeightInput w : e.getValue()) {
        double[] s = sums.get(w.activation());
        if (w.axis() != axis) {
          why = "it is multiplied along different axes by different nodes";
        } else if (s == null) {
          why = "its activation '" + w.activation() + "' was not produced";
        } else if (s.length != acc.length) {
          why = "its activation '" + w.activation() + "' has " + s.length
              + " channels, the weight " + acc.length;
        } else {
          long n = Math.max(1, rows.get(w.activation()));
          for (int c = 0; c < acc.length; c++) {
            acc[c] += s[c] / n;
          }
        }
      }
      if (why != null) {
        skipped.put(e.getKey(), why);
        continue;
      }
      float[] f = new float[acc.length];
      for (int c = 0; c < f.length; c++) {
        f[c] = (float) acc[c];
      }
      channels.put(e.getKey(), f);
      axes.put(e.getKey(), axis);
    }
    return new Result(channels, axes, skipped, sentences.size(), tokens[0],
        (System.nanoTime() - t0) / 1e9);
  }

  /** ONNX Runtime's session option: where a model loaded from memory finds its external data. */
  static final String EXTERNAL_DATA_FOLDER = "session.model_external_initializers_file_folder_path";

  private static void measure(EmbeddingEvaluator tokenizer, byte[] probe, Path modelDir, Path model,
      Set<String> activations, List<String> sentences,
      Map<String, double[]> sums, Map<String, Long> rows, long[] tokens) throws IOException {
    List<EmbeddingEvaluator.Batch> batches = tokenizer.tokenize(sentences);
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    Set<String> wanted = new LinkedHashSet<>(activations);
    try (OrtSession.SessionOptions options = newOptions(modelDir);
        OrtSession session = env.createSession(probe, options)) {
      EmbeddingEvaluator.Signature sig = EmbeddingEvaluator.Signature.of(model, session);
      if (wanted.isEmpty()) {
        return;
      }
      for (EmbeddingEvaluator.Batch batch : batches) {
        for (long m : batch.attentionMask()) {
          tokens[0] += m;
        }
        Map<String, OnnxTensor> inputs = new HashMap<>();
        try {
          EmbeddingEvaluator.inputs(env, sig, batch, inputs);
          try (OrtSession.Result result = session.run(inputs, wanted)) {
            for (Map.Entry<String, OnnxValue> e : result) {
              accumulate(model, e.getKey(), (OnnxTensor) e.getValue(), batch, sums, rows);
            }
          }
        } finally {
          for (OnnxTensor t : inputs.values()) {
            t.close();
          }
        }
      }
    } catch (OrtException e) {
      throw new IOException("Cannot calibrate model " + model + ": " + e.getMessage(), e);
    }
  }

  private static OrtSession.SessionOptions newOptions(Path modelDir) throws OrtException {
    OrtSession.SessionOptions options = new OrtSession.SessionOptions();
    options.addConfigEntry(EXTERNAL_DATA_FOLDER, modelDir.toString());
    return options;
  }

  /**
   * Adds an activation's squares per channel (its last axis). A {@code [batch, tokens, ...]}
   * activation counts real tokens only; any other shape counts every row.
   */
  private static void accumulate(Path model, String name, OnnxTensor t,
      EmbeddingEvaluator.Batch batch, Map<String, double[]> sums, Map<String, Long> rows)
      throws IOException {
    if (t.getInfo().type != OnnxJavaType.FLOAT) {
      throw new IOException("Cannot calibrate model " + model + ": activation '" + name + "' is "
          + t.getInfo().type + "; only float activations are supported");
    }
    long[] shape = t.getInfo().getShape();
    int k = Math.toIntExact(shape[shape.length - 1]);
    long n = t.getInfo().getNumElements() / Math.max(1, k);
    boolean masked = shape.length >= 3 && shape[0] == batch.rows() && shape[1] == batch.length();
    long perToken = masked ? n / ((long) batch.rows() * batch.length()) : 1;
    double[] s = sums.computeIfAbsent(name, x -> new double[k]);
    if (s.length != k) {
      throw new IOException("Cannot calibrate model " + model + ": activation '" + name
          + "' has " + k + " channels in one batch and " + s.length + " in another");
    }
    FloatBuffer b = t.getFloatBuffer();
    long counted = 0;
    long[] mask = batch.attentionMask();
    for (long r = 0; r < n; r++) {
      if (masked && mask[(int) (r / perToken)] == 0) {
        continue;
      }
      counted++;
      int base = Math.toIntExact(r * k);
      for (int c = 0; c < k; c++) {
        float x = b.get(base + c);
        s[c] += (double) x * x;
      }
    }
    rows.merge(name, counted, Long::sum);
  }
}
