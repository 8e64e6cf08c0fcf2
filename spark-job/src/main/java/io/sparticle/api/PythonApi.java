package io.sparticle.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sparticle.cli.ExitCode;
import io.sparticle.format.CheckpointFormatException;
import io.sparticle.format.Manifest;
import io.sparticle.plan.CompressionPlan;
import io.sparticle.plan.CompressionPlanner;
import io.sparticle.plan.JobConfig;
import io.sparticle.plan.SourceCheckpoint;
import io.sparticle.spark.CheckpointLocator;
import io.sparticle.spark.CompressReport;
import io.sparticle.spark.DecompressJob;
import io.sparticle.spark.Sparticle;
import io.sparticle.spark.VerifyJob;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;

/**
 * The entry points of the Python package {@code sparticle}, called through py4j: static methods
 * that take a SparkSession, strings and a {@code Map<String, String>} of options, and answer JSON
 * text, so that nothing but strings crosses the gateway.
 *
 * <p>Options use the keys of the YAML job config (README, "Job config"), nested keys dotted
 * ({@code kmeans.tolerance}). They are laid over the config file's tree and the result goes
 * through {@link JobConfig#fromYaml}, so one key table validates YAML, CLI, Java and Python, and
 * a key added there reaches Python with no change here or in Python.
 *
 * <pre>{@code
 * String reportJson = PythonApi.compress(spark, "in/", "out/", null, Map.of("bits", "3"), false);
 * }</pre>
 */
public final class PythonApi {
  private static final ObjectMapper JSON = new ObjectMapper();

  private PythonApi() {}

  /** The version of the jar, checked by the Python package against its own. */
  public static String version() {
    return io.sparticle.spark.CompressJob.VERSION;
  }

  /**
   * Compresses {@code input} into {@code output}; answers {@code report.json}'s content.
   *
   * @param configPath a YAML job config (any Hadoop path), or null for the defaults
   * @param options config keys to set, laid over the config file (see {@link #jobConfig})
   */
  public static String compress(SparkSession spark, String input, String output, String configPath,
      Map<String, String> options, boolean overwrite) throws IOException, InterruptedException {
    JobConfig config = jobConfig(configPath, options, hadoopConf(spark));
    CompressReport report = Sparticle.compress(spark).input(input).output(output).config(config)
        .overwrite(overwrite).execute();
    return new String(report.toJson(), StandardCharsets.UTF_8);
  }

  /** Decompresses {@code input} into {@code output}; {@code format} is onnx, onnx-compressed, safetensors or null. */
  public static String decompress(SparkSession spark, String input, String output, String format,
      boolean overwrite) throws IOException {
    DecompressJob.Result r = Sparticle.decompress(spark).input(input).output(output)
        .format(format).overwrite(overwrite).execute();
    return r.toJson().toString();
  }

  /** Verifies a compressed checkpoint, and with {@code against} (or null) that it is its input's. */
  public static String verify(SparkSession spark, String dir, String against) throws IOException {
    return VerifyJob.verify(spark, dir, against).toJson().toString();
  }

  /**
   * What {@code sparticle inspect} prints, as JSON, without running Spark: for a compressed
   * checkpoint ({@code "kind": "compressed"}) its manifest and totals; for an input checkpoint
   * ({@code "kind": "input"}) what compress would do with the config and options.
   */
  public static String inspect(SparkSession spark, String input, String configPath,
      Map<String, String> options) throws IOException {
    Configuration conf = hadoopConf(spark);
    Path p = new Path(input);
    ObjectNode o = JSON.createObjectNode();
    FileSystem fs = p.getFileSystem(conf);
    Path manifestPath = new Path(p, Manifest.FILE_NAME);
    if (fs.exists(manifestPath)) {
      // Checked by the format's own parser, then read as a tree, so that this stays independent
      // of the reader classes and their version-specific entries.
      if (!fs.exists(new Path(p, "_SUCCESS"))) {
        throw new CheckpointFormatException(CheckpointFormatException.Reason.INVALID_COMPRESSED,
            input, null, "no _SUCCESS marker: the compressed checkpoint is incomplete or is not one");
      }
      long length = fs.getFileStatus(manifestPath).getLen();
      if (length > Manifest.MAX_BYTES) {
        throw new CheckpointFormatException(CheckpointFormatException.Reason.INVALID_COMPRESSED,
            manifestPath.toString(), null,
            "manifest is " + length + " bytes, over the limit of " + Manifest.MAX_BYTES);
      }
      byte[] json;
      try (InputStream in = fs.open(manifestPath)) {
        json = in.readAllBytes();
      }
      Manifest.parse(manifestPath.toString(), json);
      JsonNode m = JSON.readTree(json);
      long params = 0;
      long compressed = 0;
      for (JsonNode t : m.path("tensors")) {
        long numel = 1;
        for (JsonNode d : t.path("shape")) {
          numel = Math.multiplyExact(numel, d.asLong());
        }
        params += numel;
        if (!"dense".equals(t.path("encoding").asText())) {
          compressed += numel;
        }
      }
      long in = 0;
      for (JsonNode f : m.path("source").path("files")) {
        in += f.path("size").asLong();
      }
      long out = 0;
      for (JsonNode f : m.path("files")) {
        out += f.path("size").asLong();
      }
      o.put("kind", "compressed");
      o.put("path", input);
      o.put("params", params);
      o.put("compressed_params", compressed);
      o.put("input_bytes", in);
      o.put("output_bytes", out);
      o.put("ratio", (double) in / out);
      o.set("manifest", m);
      return o.toString();
    }
    JobConfig config = jobConfig(configPath, options, conf);
    SourceCheckpoint src = CheckpointLocator.read(input, conf);
    CompressionPlan plan = CompressionPlanner.plan(src, config);
    long out = 0;
    ArrayNode tensors = o.arrayNode();
    java.util.Map<String, String> nodes = src.nodeNames();
    for (CompressionPlan.Tensor t : plan.tensors()) {
      ObjectNode row = tensors.addObject();
      row.put("name", t.name());
      if (nodes.containsKey(t.name())) {
        row.put("node", nodes.get(t.name()));
      }
      row.put("dtype", t.dtype().name());
      ArrayNode shape = row.putArray("shape");
      for (long d : t.shape()) {
        shape.add(d);
      }
      row.put("file", plan.sourceFiles().get(t.file()));
      if (t.compressed()) {
        row.put("group", plan.groups().get(t.group()).name());
        row.put("bits", t.bits());
      } else {
        row.putNull("group");
      }
      out += t.outputBytes() + (t.compressed() ? plan.paramBytes(t) : 0);
    }
    ArrayNode groups = o.arrayNode();
    for (CompressionPlan.Group g : plan.groups()) {
      ObjectNode row = groups.addObject();
      row.put("name", g.name());
      row.put("method", g.spec().method().key());
      row.put("scope", g.spec().scope().key());
      row.put("encoding", g.spec().describe());
      row.put("bits", g.bits());
      row.put("k", g.k());
      row.put("per_tensor_scale", g.perTensorScale());
      row.put("tensors", g.tensors().length);
    }
    o.put("kind", "input");
    o.put("path", src.directory());
    o.put("params", plan.totalParams());
    o.put("compressed_params", plan.compressedParams());
    o.put("input_bytes", src.totalBytes());
    o.put("estimated_output_bytes", out);
    o.put("estimated_ratio", (double) src.totalBytes() / Math.max(1, out));
    o.set("tensors", tensors);
    o.set("groups", groups);
    ArrayNode warnings = o.putArray("warnings");
    plan.warnings().forEach(warnings::add);
    return o.toString();
  }

  /**
   * The job config of a config file (or the defaults) with {@code options} laid over it. A key
   * {@code a.b} sets {@code b} in the mapping {@code a}. A value is read as JSON when it is one
   * JSON value ({@code 4}, {@code 1e-7}, {@code true}, {@code null}, {@code [...]}), else as a
   * string ({@code F16}, {@code 64MiB}, {@code keep-dense}); JSON is YAML, so the tree then goes
   * through {@link JobConfig#fromYaml}, which rejects unknown keys and bad values.
   */
  public static JobConfig jobConfig(String configPath, Map<String, String> options,
      Configuration conf) throws IOException {
    String yaml = null;
    if (configPath != null) {
      Path p = new Path(configPath);
      try (InputStream in = p.getFileSystem(conf).open(p)) {
        yaml = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      }
    }
    return JobConfig.fromYaml(yaml, options == null ? Map.of() : options);
  }

  /**
   * How a failure of any entry point maps to what Python raises, as JSON: {@code exit_code} (the
   * CLI's {@link ExitCode} name), {@code code} (its number), {@code message} (the message that
   * decided it, as the CLI prints it), and for a bad checkpoint {@code reason} (the
   * {@link CheckpointFormatException.Reason} name), {@code file} and {@code tensor}.
   */
  public static String describe(Throwable t) {
    ExitCode code = ExitCode.of(t);
    ObjectNode o = JSON.createObjectNode();
    o.put("exit_code", code.name());
    o.put("code", code.code);
    o.put("message", ExitCode.message(t));
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof CheckpointFormatException f) {
        o.put("reason", f.reason().name());
        o.put("file", f.file());
        if (f.tensor() != null) {
          o.put("tensor", f.tensor());
        }
        break;
      }
    }
    return o.toString();
  }

  private static Configuration hadoopConf(SparkSession spark) {
    return spark.sparkContext().hadoopConfiguration();
  }
}
