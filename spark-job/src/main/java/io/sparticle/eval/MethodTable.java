package io.sparticle.eval;

import io.sparticle.plan.JobConfig;
import io.sparticle.spark.CompressReport;
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
 * Method x scope x bits on one model: bits/weight with all overhead, SQNR, and for an ONNX
 * sentence-embedding model the embeddings' mean cosine and Spearman against the original. What
 * {@code sparticle demo --method-table} prints (README, "Methods").
 *
 * <pre>{@code
 * MethodTable.run(spark, model, evaluatorOrNull, sentences, workDir, System.out);
 * }</pre>
 */
public final class MethodTable {
  private MethodTable() {}

  /** The methods compared, as config options (the same keys as YAML and CLI flags). */
  public static final Map<String, Map<String, String>> METHODS = methods();

  private static final String TARGET = "target";

  /** The code widths compared. */
  public static final int[] BITS = {2, 3, 4, 8};

  private static Map<String, Map<String, String>> methods() {
    Map<String, Map<String, String>> m = new LinkedHashMap<>();
    m.put("kmeans/group", Map.of());
    m.put("kmeans/group +out0.5%", Map.of("outliers", "0.005"));
    m.put("kmeans/channel F16", Map.of("scope", "channel", "codebook-precision", "F16"));
    m.put("kmeans/block32 Q7", Map.of("scope", "block"));
    m.put("kmeans/block32 Q7 +out0.5%", Map.of("scope", "block", "outliers", "0.005"));
    // A size target a quarter bit above the bits column (what the block scales take): each
    // group's width chosen to reach it, all overhead included.
    m.put("kmeans/block32 target+.25", Map.of("scope", "block", "target-bits", TARGET));
    m.put("uniform/tensor", Map.of("method", "uniform", "scope", "tensor"));
    m.put("uniform/channel", Map.of("method", "uniform", "scope", "channel"));
    m.put("uniform/block64", Map.of("method", "uniform", "scope", "block", "block-size", "64"));
    // The toolbox: vector quantization at k = 2^(bits x d), Gaussian mixtures, pruning and
    // entropy coding (issue 13). Widths 2 to 4 (vq d4 at 4 bits would be k = 65,536).
    m.put("vq d4", Map.of("method", "vq", "vq-dim", "4"));
    m.put("vq d2", Map.of("method", "vq", "vq-dim", "2"));
    m.put("gmm", Map.of("method", "gmm"));
    m.put("kmeans/group rans", Map.of("entropy", "rans"));
    m.put("kmeans prune0.3 rans", Map.of("prune", "0.3", "entropy", "rans"));
    m.put("kmeans prune0.5 rans", Map.of("prune", "0.5", "entropy", "rans"));
    m.put("kmeans prune0.5 huffman", Map.of("prune", "0.5", "entropy", "huffman"));
    m.put("uniform/block64 prune0.5 rans", Map.of("method", "uniform", "scope", "block",
        "block-size", "64", "prune", "0.5", "entropy", "rans"));
    return m;
  }

  /** The widths a method's rows take: the toolbox's 2 to 4 (vq d4: 2 and 3), the others'. */
  static int[] widths(String method) {
    if (method.equals("vq d4")) {
      return new int[] {2, 3};
    }
    if (method.startsWith("vq") || method.startsWith("gmm") || method.contains("rans")
        || method.contains("huffman")) {
      return new int[] {2, 3, 4};
    }
    return BITS;
  }

  public static String header(boolean embeddings) {
    return String.format(Locale.ROOT, "%-30s %4s %8s %7s %9s", "method", "bits", "bits/w",
        "ratio", "SQNR dB") + (embeddings
        ? String.format(Locale.ROOT, " %10s %10s %8s", "mean cos", "Spearman", "seconds")
        : String.format(Locale.ROOT, " %10s %10s %10s %10s %10s", "compress s", "Mparams/s",
            "encode M/s", "decomp. s", "Mparams/s"));
  }

  /**
   * Compresses {@code model} with every method at every width into {@code workDir} and prints a
   * row each; with an evaluator (ONNX models), also rebuilds each .onnx and compares embeddings.
   */
  public static void run(SparkSession spark, Path model, EmbeddingEvaluator evaluator,
      List<String> sentences, Path workDir, PrintStream out) throws Exception {
    run(spark, model, evaluator, sentences, workDir, out, List.copyOf(METHODS.keySet()));
  }

  /** As {@link #run}, for the named methods of {@link #METHODS} only. */
  public static void run(SparkSession spark, Path model, EmbeddingEvaluator evaluator,
      List<String> sentences, Path workDir, PrintStream out, List<String> only) throws Exception {
    for (String m : only) {
      if (!METHODS.containsKey(m)) {
        throw new IllegalArgumentException("Unknown method '" + m + "' for the method table: use one of "
            + String.join(", ", METHODS.keySet()));
      }
    }
    out.println(header(evaluator != null));
    for (Map.Entry<String, Map<String, String>> method : METHODS.entrySet()) {
      if (!only.contains(method.getKey())) {
        continue;
      }
      for (int bits : widths(method.getKey())) {
        Map<String, String> options = new LinkedHashMap<>(method.getValue());
        options.put("bits", Integer.toString(bits));
        if (TARGET.equals(options.get("target-bits"))) {
          options.put("target-bits", Double.toString(bits + 0.25));
        }
        String name = method.getKey().replaceAll("[^a-z0-9]+", "-") + "-" + bits;
        Path packed = workDir.resolve("packed-" + name);
        long start = System.nanoTime();
        CompressReport report = Sparticle.compress(spark).input(model.toString())
            .output(packed.toString()).config(JobConfig.fromYaml(null, options)).overwrite(true)
            .execute();
        double seconds = (System.nanoTime() - start) / 1e9;
        String row = String.format(Locale.ROOT, "%-30s %4d %8.3f %7.2f %9.2f", method.getKey(), bits,
            report.bitsPerWeight(), report.ratio(), report.total().sqnrDb());
        if (evaluator == null) {
          // A generated (bench) model: compress and decompress speed, each job's own time.
          Path rebuilt = workDir.resolve("rebuilt-" + name);
          io.sparticle.spark.DecompressJob.Result r = Sparticle.decompress(spark)
              .input(packed.toString()).output(rebuilt.toString()).overwrite(true).execute();
          deleteTree(rebuilt);
          deleteTree(packed);
          // The encode pass alone: its own kernel's throughput (vq's bar is on it).
          double encode = report.phaseSeconds().getOrDefault("encode", 0.0);
          out.println(row + String.format(Locale.ROOT, " %10.1f %10.1f %10.1f %10.1f %10.1f",
              report.seconds(), report.params() / report.seconds() / 1e6,
              encode > 0 ? report.compressedParams() / encode / 1e6 : 0, r.seconds(),
              r.params() / r.seconds() / 1e6));
          continue;
        }
        Path rebuilt = workDir.resolve("rebuilt-" + name);
        Sparticle.decompress(spark).input(packed.toString()).output(rebuilt.toString())
            .overwrite(true).execute();
        EvaluationResult eval = evaluator.evaluate(model,
            rebuilt.resolve(model.getFileName().toString()), sentences).withBits(bits);
        Files.writeString(packed.resolve("evaluation.json"), eval.toJson() + "\n");
        out.println(row + String.format(Locale.ROOT, " %10.4f %10.4f %8.1f", eval.meanCosine(),
            eval.pairwiseSpearman(), seconds));
      }
    }
  }

  /** The rebuilt and packed copies of a large model go once measured (2 GB each at 1.1B). */
  private static void deleteTree(Path dir) throws java.io.IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (var paths = Files.walk(dir)) {
      for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}
