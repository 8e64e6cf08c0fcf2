package io.sparticle.spark;

import io.sparticle.eval.Calibrator;
import io.sparticle.eval.EmbeddingEvaluator;
import io.sparticle.eval.Sentences;
import io.sparticle.format.DType;
import io.sparticle.format.SafetensorsHeader;
import io.sparticle.format.SafetensorsReader;
import io.sparticle.format.TensorInfo;
import io.sparticle.format.onnx.OnnxGraph;
import io.sparticle.format.onnx.OnnxModel;
import io.sparticle.io.HadoopInputFile;
import io.sparticle.io.RangeReader;
import io.sparticle.plan.CompressionPlan;
import io.sparticle.plan.CompressionPlan.Tensor;
import io.sparticle.plan.JobConfig;
import io.sparticle.plan.SourceCheckpoint;
import io.sparticle.quant.Importance;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;

/**
 * The importance of every compressed tensor's weights, on the driver, before the histogram
 * pass: from calibration (an ONNX source run on sentences, {@link Calibrator}) or from an
 * importance file. Each tensor's importance is scaled to mean 1 over its weights, then floored
 * ({@link Importance#FLOOR}): it decides which of a tensor's weights its codebook serves best,
 * not how much the tensor weighs against others, so tensors without one (weight 1) mix with it
 * in a shared group. Calibration measures the mean squared activation of every input channel
 * of a MatMul's or Gemm's weight; other tensors (embeddings, convolutions) get none.
 *
 * <p>The importance file: a safetensors file of 1-D F32 (or F16/BF16) tensors, each named like
 * a tensor of the checkpoint and as long as its input dimension: the last axis of a safetensors
 * checkpoint's tensor (PyTorch's {@code [out, in]}), the axis a MatMul or Gemm multiplies along
 * for an ONNX initializer ({@code [in, out]} for MatMul). Values are mean squared activations (or
 * any non-negative per-channel importance); entries for tensors that are kept dense are ignored.
 */
public final class ImportanceLoader {
  private ImportanceLoader() {}

  /**
   * What was loaded, for the report.
   *
   * @param source "calibration" or "importance-file"
   * @param path the sentences file or the importance file
   * @param byTensor each calibrated tensor's importance, scaled to mean 1 over its weights
   * @param outputScale each calibrated tensor's mean importance over the mean of all calibrated
   *     weights: its output error is its importance-weighted squared error times this
   * @param skipped compressed tensors left without importance, with the reason
   */
  public record Loaded(Map<Integer, Importance> byTensor, Map<Integer, Double> outputScale, String source,
      String path, int sentences, long tokens, Map<String, String> skipped, double seconds) {
    static final Loaded NONE = new Loaded(Map.of(), Map.of(), null, null, 0, 0, Map.of(), 0);
  }

  static Loaded load(CompressionPlan plan, SourceCheckpoint source, Configuration conf)
      throws IOException {
    JobConfig.Calibration c = plan.config().calibration();
    if (!c.any()) {
      return Loaded.NONE;
    }
    long t0 = System.nanoTime();
    Map<String, long[]> dims = new LinkedHashMap<>();
    for (Tensor t : plan.tensors()) {
      if (t.compressed()) {
        dims.put(t.name(), t.shape());
      }
    }
    Map<String, float[]> channels = new LinkedHashMap<>();
    Map<String, Integer> axes = new HashMap<>();
    Map<String, String> skipped = new TreeMap<>();
    int sentences = 0;
    long tokens = 0;
    java.nio.file.Path tmp = Files.createTempDirectory("sparticle-importance");
    try {
      if (c.sentences() != null) {
        OnnxModel onnx = source.onnx();
        if (onnx == null) {
          throw new IllegalArgumentException("Cannot calibrate " + source.directory()
              + ": calibration runs an ONNX model on sentences, and this checkpoint is safetensors; "
              + "give an importance file instead (importance: FILE, --importance)");
        }
        requireOnnxRuntime();
        // A remote model is copied with its external data files into one local directory.
        java.nio.file.Path modelDir = tmp.resolve("model");
        java.nio.file.Path model = local(new Path(source.directory(), onnx.fileName()), modelDir, conf);
        for (String f : onnx.fileLengths().keySet()) {
          if (!f.equals(onnx.fileName())) {
            local(new Path(source.directory(), f), modelDir, conf);
          }
        }
        Path tokPath = c.tokenizer() != null ? new Path(c.tokenizer())
            : new Path(source.directory(), "tokenizer.json");
        if (!tokPath.getFileSystem(conf).exists(tokPath)) {
          throw new IllegalArgumentException("Cannot calibrate: no tokenizer " + tokPath
              + (c.tokenizer() == null ? " next to the model; give one with tokenizer: FILE (--tokenizer)" : ""));
        }
        java.nio.file.Path tokenizer = local(tokPath, tmp.resolve("tokenizer"), conf);
        List<String> text = Sentences.load(local(new Path(c.sentences()), tmp.resolve("sentences"), conf));
        Calibrator.Result r;
        try (EmbeddingEvaluator tok = EmbeddingEvaluator.builder().tokenizer(tokenizer).build()) {
          r = Calibrator.run(tok, model, dims, text);
        }
        channels.putAll(r.channels());
        axes.putAll(r.axes());
        skipped.putAll(r.skipped());
        sentences = r.sentences();
        tokens = r.tokens();
      } else {
        readImportanceFile(new Path(c.importance()), source, plan, dims, channels, axes, tmp, conf);
      }
    } finally {
      deleteTree(tmp);
    }
    // Each tensor's importance is scaled to mean 1 over its weights: it shapes the tensor's fit
    // without changing its weight against other tensors (see BitAllocator). The scale it had
    // against the mean of all calibrated weights is kept for the report's output error.
    Map<Integer, Importance> byTensor = new LinkedHashMap<>();
    Map<Integer, Double> means = new LinkedHashMap<>();
    double weights = 0;
    double total = 0;
    for (Tensor t : plan.tensors()) {
      float[] ch = channels.get(t.name());
      if (!t.compressed()) {
        continue;
      }
      if (ch == null) {
        skipped.putIfAbsent(t.name(), c.sentences() != null
            ? "no MatMul or Gemm multiplies it by an activation" : "the importance file has no entry");
        continue;
      }
      Importance imp;
      try {
        imp = Importance.of(ch, t.shape(), axes.get(t.name()));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("Importance of tensor '" + t.name() + "' (from "
            + (c.sentences() != null ? "calibration" : c.importance()) + "): " + e.getMessage(), e);
      }
      double sum = imp.total(t.numel());
      if (!(sum > 0)) {
        skipped.put(t.name(), "its importance is zero for every weight");
        continue;
      }
      byTensor.put(t.index(), imp.scaled(t.numel() / sum));
      means.put(t.index(), sum / t.numel());
      weights += t.numel();
      total += sum;
    }
    double mean = total / weights;
    Map<Integer, Double> outputScale = new LinkedHashMap<>();
    means.forEach((t, m) -> outputScale.put(t, m / mean));
    return new Loaded(byTensor, outputScale, c.sentences() != null ? "calibration" : "importance-file",
        c.sentences() != null ? c.sentences() : c.importance(), sentences, tokens, skipped,
        (System.nanoTime() - t0) / 1e9);
  }

  private static void readImportanceFile(Path file, SourceCheckpoint source, CompressionPlan plan,
      Map<String, long[]> dims, Map<String, float[]> channels, Map<String, Integer> axes,
      java.nio.file.Path tmp, Configuration conf) throws IOException {
    Map<String, Integer> onnxAxes = null;
    if (source.onnx() != null) {
      java.nio.file.Path model = local(new Path(source.directory(), source.onnx().fileName()),
          tmp.resolve("model"), conf);
      Map<String, Integer> ranks = new HashMap<>();
      dims.forEach((k, v) -> ranks.put(k, v.length));
      onnxAxes = new HashMap<>();
      for (var e : OnnxGraph.read(Files.readAllBytes(model), model.toString()).weightInputs(ranks)
          .entrySet()) {
        onnxAxes.put(e.getKey(), e.getValue().get(0).axis());
      }
    }
    Set<String> names = new java.util.HashSet<>();
    for (Tensor t : plan.tensors()) {
      names.add(t.name());
    }
    HadoopInputFile in = HadoopInputFile.of(file, conf);
    SafetensorsHeader header = SafetensorsReader.readHeader(in);
    try (RangeReader r = in.open()) {
      for (TensorInfo t : header.tensors()) {
        String where = "Importance file " + file + ", tensor '" + t.name() + "': ";
        if (!names.contains(t.name())) {
          throw new IllegalArgumentException(where + "the checkpoint has no tensor of that name");
        }
        if (!dims.containsKey(t.name())) {
          continue; // kept dense
        }
        if (t.rank() != 1 || !(t.dtype() == DType.F32 || t.dtype() == DType.F16
            || t.dtype() == DType.BF16)) {
          throw new IllegalArgumentException(where + "is " + t.dtype() + " of shape "
              + java.util.Arrays.toString(t.shape()) + "; it must be a 1-D F32, F16 or BF16 vector");
        }
        int axis;
        if (onnxAxes == null) {
          axis = dims.get(t.name()).length - 1;
        } else if (onnxAxes.containsKey(t.name())) {
          axis = onnxAxes.get(t.name());
        } else {
          throw new IllegalArgumentException(where + "no MatMul or Gemm of the model multiplies "
              + "it, so its input channels are not known");
        }
        byte[] raw = new byte[Math.toIntExact(t.byteLength())];
        r.readFully(header.absoluteOffset(t), raw, 0, raw.length);
        float[] v = new float[Math.toIntExact(t.numel())];
        t.dtype().valueKind().decodeLittleEndian(raw, 0, v.length, v);
        channels.put(t.name(), v);
        axes.put(t.name(), axis);
      }
    }
  }

  /**
   * ONNX Runtime and the tokenizer are provided by the launcher's classpath, not shaded into the
   * job jar (hundreds of MB of native libraries): under a bare spark-submit they must be added.
   */
  private static void requireOnnxRuntime() {
    for (String c : new String[] {"ai.onnxruntime.OrtEnvironment",
        "ai.djl.huggingface.tokenizers.HuggingFaceTokenizer"}) {
      try {
        Class.forName(c, false, ImportanceLoader.class.getClassLoader());
      } catch (ClassNotFoundException e) {
        throw new IllegalArgumentException("Cannot calibrate: " + c + " is not on the driver's "
            + "classpath; calibration runs the model in ONNX Runtime. Use submit/sparticle, or add "
            + "--packages com.microsoft.onnxruntime:onnxruntime:" + ONNX_RUNTIME_VERSION
            + ",ai.djl.huggingface:tokenizers:" + DJL_VERSION + " to spark-submit");
      }
    }
  }

  /** The versions the project builds with (pom.xml), for the message above. */
  static final String ONNX_RUNTIME_VERSION = "1.29.0";
  static final String DJL_VERSION = "0.38.0";

  /** {@code p} as a local file: itself if it is one, else a copy in directory {@code tmp}. */
  private static java.nio.file.Path local(Path p, java.nio.file.Path tmp, Configuration conf)
      throws IOException {
    FileSystem fs = p.getFileSystem(conf);
    if (fs instanceof LocalFileSystem || "file".equals(fs.getUri().getScheme())) {
      java.nio.file.Path local = java.nio.file.Path.of(fs.makeQualified(p).toUri());
      if (!Files.isRegularFile(local)) {
        throw new java.io.FileNotFoundException("File " + p + " does not exist");
      }
      return local;
    }
    Files.createDirectories(tmp);
    java.nio.file.Path target = tmp.resolve(p.getName());
    try (InputStream in = fs.open(p)) {
      Files.copy(in, target);
    }
    return target;
  }

  private static void deleteTree(java.nio.file.Path dir) throws IOException {
    try (var paths = Files.walk(dir)) {
      for (java.nio.file.Path p : (Iterable<java.nio.file.Path>) paths.sorted(
          java.util.Comparator.reverseOrder())::iterator) {
        Files.deleteIfExists(p);
      }
    }
  }
}
