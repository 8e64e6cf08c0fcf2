package io.sparticle.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sparticle.format.CompressedCheckpoint;
import io.sparticle.format.Manifest;
import io.sparticle.io.HadoopDirectory;
import io.sparticle.plan.CompressionPlan;
import io.sparticle.plan.CompressionPlanner;
import io.sparticle.plan.JobConfig;
import io.sparticle.plan.SourceCheckpoint;
import io.sparticle.spark.CheckpointLocator;
import io.sparticle.spark.CompressJob;
import io.sparticle.spark.HtmlReport;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * Lists the tensors, groups, bits and ratio of a checkpoint without running Spark: for an input
 * checkpoint, what compress would do with the given config; for a compressed one, what it holds,
 * each group's method, bits, tensors, bits/weight and SQNR (from report.json; the manifest alone
 * has no errors), and where its HTML report is.
 */
@Command(name = "inspect", mixinStandardHelpOptions = true,
    description = "List tensors, groups, bits and ratio of an input or compressed checkpoint.")
final class InspectCommand implements Callable<Integer> {
  @Parameters(arity = "0..1", paramLabel = "DIR|FILE", description = "Input checkpoint or compressed directory")
  String path;

  @Option(names = "--input", paramLabel = "DIR|FILE", description = "The same as DIR|FILE")
  String input;

  @Option(names = "--json", description = "Print only the totals, as one JSON line")
  boolean json;

  @Option(names = "--config", description = "YAML job config to plan with (input checkpoints)")
  String config;

  @Option(names = "--bits", description = "Default code width 1..8 to plan with (input checkpoints)")
  Integer bits;

  @picocli.CommandLine.Mixin
  SparticleCli.RuntimeOptions runtime = new SparticleCli.RuntimeOptions();

  @picocli.CommandLine.Mixin
  ConsoleOptions console = new ConsoleOptions();

  private PrintStream out;

  @Override
  public Integer call() throws Exception {
    input = SparticleCli.directory(path, input);
    out = console.out(json);
    Configuration conf = runtime.hadoopConf();
    Path p = new Path(input);
    if (p.getFileSystem(conf).exists(new Path(p, Manifest.FILE_NAME))) {
      inspectCompressed(conf);
    } else {
      inspectInput(conf);
    }
    return 0;
  }

  private void inspectCompressed(Configuration conf) throws Exception {
    Manifest m = CompressedCheckpoint.open(HadoopDirectory.of(input, conf)).manifest();
    out.printf(Locale.ROOT, "Compressed checkpoint %s (format version %d, %s)%n", input,
        m.formatVersion(), m.createdBy());
    out.printf(Locale.ROOT, "%-60s %-6s %-22s %-9s %s%n", "tensor", "dtype", "shape", "encoding", "group/bits");
    long params = 0;
    long compressed = 0;
    for (Manifest.TensorEntry t : m.tensors()) {
      boolean c = !t.dense();
      out.printf(Locale.ROOT, "%-60s %-6s %-22s %-9s %s%n", t.name(), t.dtype(),
          Arrays.toString(t.shape()), t.encoding(),
          c ? m.groups().get(t.group()).name() + " @" + t.bits() : "");
      params += t.numel();
      if (c) {
        compressed += t.numel();
      }
    }
    long in = 0;
    for (Manifest.SourceFileEntry f : m.source().files()) {
      in += f.size();
    }
    long stored = 0;
    for (Manifest.FileEntry f : m.files()) {
      stored += f.size();
    }
    Path dir = new Path(input);
    JsonNode report = readReport(new Path(dir, CompressJob.REPORT_FILE), conf);
    groupTable(m, report);
    out.printf(Locale.ROOT, "%d tensors, %,d params (%,d compressed) in %d groups; %,d -> %,d bytes, ratio %.2fx%n",
        m.tensors().size(), params, compressed, m.groups().size(), in, stored, (double) in / stored);
    Path html = new Path(dir, HtmlReport.FILE);
    boolean hasHtml = html.getFileSystem(conf).exists(html);
    out.println(hasHtml ? "Report: " + html
        : "Report: no " + HtmlReport.FILE + " in " + input + (report != null ? " (report.json holds the figures)" : ""));
    if (json) {
      ObjectNode o = ConsoleOptions.object();
      o.put("dir", input);
      o.put("format_version", m.formatVersion());
      o.put("tensors", m.tensors().size());
      o.put("params", params);
      o.put("compressed_params", compressed);
      o.put("groups", m.groups().size());
      o.put("input_bytes", in);
      o.put("output_bytes", stored);
      o.put("ratio", (double) in / stored);
      o.put("report_html", hasHtml ? html.toString() : null);
      console.json(o);
    }
  }

  /**
   * One row per group: method and scope, bits, tensors, and from report.json its bits/weight and
   * SQNR (a dash without report.json: the manifest holds neither).
   */
  private void groupTable(Manifest m, JsonNode report) {
    java.util.Map<String, JsonNode> reported = new java.util.HashMap<>();
    if (report != null && report.path("groups").isArray()) {
      for (JsonNode g : report.path("groups")) {
        reported.put(g.path("name").asText(), g);
      }
    }
    out.printf(Locale.ROOT, "%-40s %-16s %4s %8s %12s %8s%n", "group", "method", "bits", "tensors",
        "bits/weight", "SQNR dB");
    for (int g = 0; g < m.groups().size(); g++) {
      Manifest.GroupEntry ge = m.groups().get(g);
      int n = 0;
      for (Manifest.TensorEntry t : m.tensors()) {
        n += t.group() == g ? 1 : 0;
      }
      JsonNode r = reported.get(ge.name());
      String bpw = r == null || !r.path("bits_per_weight").isNumber() ? "-"
          : String.format(Locale.ROOT, "%.3f", r.path("bits_per_weight").asDouble());
      // SQNR is null in report.json when it is not finite: a group stored exactly.
      String sqnr = r == null ? "-" : r.path("sqnr_db").isNumber()
          ? String.format(Locale.ROOT, "%.2f", r.path("sqnr_db").asDouble()) : "exact";
      out.printf(Locale.ROOT, "%-40s %-16s %4d %8d %12s %8s%n", ge.name(),
          ge.spec().method().key() + "/" + ge.spec().scope().key(), ge.spec().bits(), n, bpw, sqnr);
    }
    if (report == null) {
      out.println("(no report.json: bits/weight and SQNR are not known)");
    }
  }

  /** report.json, or null when it is absent or unreadable (the manifest still describes all). */
  private JsonNode readReport(Path p, Configuration conf) {
    try {
      if (!p.getFileSystem(conf).exists(p)) {
        return null;
      }
      try (java.io.InputStream in = p.getFileSystem(conf).open(p)) {
        return ConsoleOptions.parse(in.readAllBytes());
      }
    } catch (java.io.IOException e) {
      out.println("(" + p + " is unreadable: " + e.getMessage() + ")");
      return null;
    }
  }

  private void inspectInput(Configuration conf) throws Exception {
    JobConfig cfg = config == null ? JobConfig.defaults()
        : JobConfig.fromYaml(SparticleCli.readText(config, conf));
    if (bits != null) {
      cfg = cfg.withBits(bits);
    }
    SourceCheckpoint src = CheckpointLocator.read(input, conf);
    CompressionPlan plan = CompressionPlanner.plan(src, cfg);
    out.printf(Locale.ROOT, "Checkpoint %s: %d file(s)%s%n", src.directory(), src.files().size(),
        src.index() != null ? " with index" : "");
    // ONNX: each tensor's node name (what grouping goes by) after its plan.
    java.util.Map<String, String> nodes = src.nodeNames();
    out.printf(Locale.ROOT, "%-60s %-6s %-22s %s%n", "tensor", "dtype", "shape",
        nodes.isEmpty() ? "plan" : "plan  [node]");
    long estimate = 0;
    for (CompressionPlan.Tensor t : plan.tensors()) {
      String node = nodes.get(t.name());
      out.printf(Locale.ROOT, "%-60s %-6s %-22s %s%s%n", t.name(), t.dtype(), Arrays.toString(t.shape()),
          t.compressed() ? "group " + plan.groups().get(t.group()).name() + " "
              + plan.spec(t).describe() : "dense", node == null ? "" : "  [" + node + "]");
      estimate += t.outputBytes() + (t.compressed() ? plan.paramBytes(t) : 0);
    }
    for (String w : plan.warnings()) {
      out.println("warning: " + w);
    }
    out.printf(Locale.ROOT, "%d tensors, %,d params (%,d to compress) in %d groups; estimated %,d -> %,d bytes, ratio %.2fx%n",
        plan.tensors().size(), plan.totalParams(), plan.compressedParams(), plan.groups().size(),
        src.totalBytes(), estimate, (double) src.totalBytes() / Math.max(1, estimate));
    if (json) {
      ObjectNode o = ConsoleOptions.object();
      o.put("input", src.directory());
      o.put("files", src.files().size());
      o.put("tensors", plan.tensors().size());
      o.put("params", plan.totalParams());
      o.put("compressed_params", plan.compressedParams());
      o.put("groups", plan.groups().size());
      o.put("input_bytes", src.totalBytes());
      o.put("estimated_output_bytes", estimate);
      o.put("estimated_ratio", (double) src.totalBytes() / Math.max(1, estimate));
      console.json(o);
    }
  }
}
