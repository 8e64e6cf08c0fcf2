package io.sparticle.eval;

import io.sparticle.plan.JobConfig;
import io.sparticle.spark.CompressReport;
import io.sparticle.spark.DecompressJob;
import io.sparticle.spark.Sparticle;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.SparkSession;

/**
 * Runnable compressed ONNX against the original and the dense rebuild, on one sentence-embedding
 * model: file size, ONNX Runtime session load time, per-sentence latency, and how far the
 * runnable model's embeddings are from its dense rebuild's. What {@code sparticle demo
 * --runnable-table} prints (README, "Runnable compressed ONNX").
 *
 * <pre>{@code
 * RunnableTable.run(spark, model, evaluator, sentences, workDir, System.out);
 * }</pre>
 */
public final class RunnableTable {
  private RunnableTable() {}

  /** The methods shown, at 4 bits, as config options. */
  public static final Map<String, Map<String, String>> METHODS = methods();

  private static Map<String, Map<String, String>> methods() {
    Map<String, Map<String, String>> m = new LinkedHashMap<>();
    m.put("kmeans/group", Map.of());
    m.put("kmeans/channel F16", Map.of("scope", "channel", "codebook-precision", "F16"));
    m.put("uniform/channel", Map.of("method", "uniform", "scope", "channel"));
    m.put("uniform/block64", Map.of("method", "uniform", "scope", "block", "block-size", "64"));
    m.put("kmeans/block32 Q7", Map.of("scope", "block"));
    m.put("kmeans/group +out0.5%", Map.of("outliers", "0.005"));
    m.put("vq d2", Map.of("method", "vq", "vq-dim", "2"));
    return m;
  }

  static String header() {
    return String.format(Locale.ROOT, "%-32s %12s %8s %8s %8s %8s %10s %9s", "model (4 bits)",
        "bytes", "x orig", "x ckpt", "load s", "ms/sent", "max|d|", "mean cos");
  }

  /**
   * Compresses {@code model} at 4 bits with each method into {@code workDir}, writes its dense
   * and runnable .onnx, and prints a row for the original, the default method's dense rebuild
   * and every runnable model.
   */
  public static void run(SparkSession spark, Path model, EmbeddingEvaluator evaluator,
      List<String> sentences, Path workDir, PrintStream out) throws Exception {
    String file = model.getFileName().toString();
    long original = Files.size(model);
    evaluator.time(model, sentences); // warms up the tokenizer, ONNX Runtime and the JIT
    EmbeddingEvaluator.Timing base = evaluator.time(model, sentences);
    out.println(header());
    out.println(row("original .onnx", original, original, 0, base, null, null));
    boolean first = true;
    for (Map.Entry<String, Map<String, String>> method : METHODS.entrySet()) {
      Map<String, String> options = new LinkedHashMap<>(method.getValue());
      options.put("bits", "4");
      String name = method.getKey().replaceAll("[^a-z0-9]+", "-");
      Path packed = workDir.resolve("packed-" + name + "-4");
      CompressReport report = Sparticle.compress(spark).input(model.toString())
          .output(packed.toString()).config(JobConfig.fromYaml(null, options)).overwrite(true)
          .execute();
      Path dense = workDir.resolve("rebuilt-" + name + "-4");
      Sparticle.decompress(spark).input(packed.toString()).output(dense.toString())
          .overwrite(true).execute();
      Path runnable = workDir.resolve("runnable-" + name + "-4");
      DecompressJob.Result r = Sparticle.decompress(spark).input(packed.toString())
          .output(runnable.toString()).format(DecompressJob.ONNX_COMPRESSED).overwrite(true)
          .execute();
      EmbeddingEvaluator.Timing d = evaluator.time(dense.resolve(file), sentences);
      EmbeddingEvaluator.Timing t = evaluator.time(runnable.resolve(file), sentences);
      if (first) {
        out.println(row("dense rebuild (kmeans/group)", Files.size(dense.resolve(file)), original,
            0, d, base, null));
        first = false;
      }
      String label = "runnable " + method.getKey()
          + (r.keptDense().isEmpty() ? "" : " (" + r.keptDense().size() + " dense)");
      out.println(row(label, Files.size(runnable.resolve(file)), original, report.outputBytes(), t,
          base, d));
    }
    out.println("x ckpt: bytes over the compressed checkpoint's; max|d|: largest difference of an "
        + "embedding component from the dense rebuild's; mean cos: against the original's");
  }

  private static String row(String label, long bytes, long original, long checkpoint,
      EmbeddingEvaluator.Timing t, EmbeddingEvaluator.Timing base, EmbeddingEvaluator.Timing dense) {
    String ckpt = checkpoint > 0 ? String.format(Locale.ROOT, "%8.3f", (double) bytes / checkpoint)
        : String.format(Locale.ROOT, "%8s", "-");
    String diff = dense == null ? String.format(Locale.ROOT, "%10s", "-")
        : String.format(Locale.ROOT, "%10.1e", maxAbsDiff(t.embeddings(), dense.embeddings()));
    String cos = base == null ? String.format(Locale.ROOT, "%9s", "-")
        : String.format(Locale.ROOT, "%9.4f", EmbeddingEvaluator.compare(base.embeddings(),
            t.embeddings(), Pooling.MEAN).meanCosine());
    return String.format(Locale.ROOT, "%-32s %,12d %8.3f %s %8.2f %8.2f %s %s", label, bytes,
        (double) bytes / original, ckpt, t.loadSeconds(), t.msPerSentence(), diff, cos);
  }

  /** The largest absolute difference between two embedding matrices' components. */
  public static double maxAbsDiff(double[][] a, double[][] b) {
    double max = 0;
    for (int i = 0; i < a.length; i++) {
      for (int j = 0; j < a[i].length; j++) {
        max = Math.max(max, Math.abs(a[i][j] - b[i][j]));
      }
    }
    return max;
  }
}
