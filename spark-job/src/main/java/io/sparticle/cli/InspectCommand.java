package io.sparticle.cli;

import io.sparticle.format.Manifest;
import io.sparticle.plan.CompressionPlan;
import io.sparticle.plan.CompressionPlanner;
import io.sparticle.plan.JobConfig;
import io.sparticle.plan.SourceCheckpoint;
import io.sparticle.spark.CheckpointLocator;
import io.sparticle.format.CompressedCheckpoint;
import io.sparticle.io.HadoopDirectory;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Lists the tensors, groups, bits and ratio of a checkpoint without running Spark: for an input
 * checkpoint, what compress would do with the given config; for a compressed one, what it holds.
 */
@Command(name = "inspect", mixinStandardHelpOptions = true,
    description = "List tensors, groups, bits and ratio of an input or compressed checkpoint.")
final class InspectCommand implements Callable<Integer> {
  @Option(names = "--input", required = true, description = "Input checkpoint or compressed directory")
  String input;

  @Option(names = "--config", description = "YAML job config to plan with (input checkpoints)")
  String config;

  @Option(names = "--bits", description = "Default code width 1..8 to plan with (input checkpoints)")
  Integer bits;

  @picocli.CommandLine.Mixin
  SparticleCli.RuntimeOptions runtime = new SparticleCli.RuntimeOptions();

  @Override
  public Integer call() throws Exception {
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
    System.out.printf(Locale.ROOT, "Compressed checkpoint %s (format version %d, %s)%n", input,
        m.formatVersion(), m.createdBy());
    System.out.printf(Locale.ROOT, "%-4s %-40s %-48s %s%n", "", "group", "method", "tensors");
    for (int g = 0; g < m.groups().size(); g++) {
      Manifest.GroupEntry ge = m.groups().get(g);
      int n = 0;
      for (Manifest.TensorEntry t : m.tensors()) {
        n += t.group() == g ? 1 : 0;
      }
      System.out.printf(Locale.ROOT, "%-4d %-40s %-48s %d%n", g, ge.name(), ge.spec().describe(), n);
    }
    System.out.printf(Locale.ROOT, "%-60s %-6s %-22s %-9s %s%n", "tensor", "dtype", "shape", "encoding", "group/bits");
    long params = 0;
    long compressed = 0;
    for (Manifest.TensorEntry t : m.tensors()) {
      boolean c = !t.dense();
      System.out.printf(Locale.ROOT, "%-60s %-6s %-22s %-9s %s%n", t.name(), t.dtype(),
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
    long out = 0;
    for (Manifest.FileEntry f : m.files()) {
      out += f.size();
    }
    System.out.printf(Locale.ROOT, "%d tensors, %,d params (%,d compressed) in %d groups; %,d -> %,d bytes, ratio %.2fx%n",
        m.tensors().size(), params, compressed, m.groups().size(), in, out, (double) in / out);
  }

  private void inspectInput(Configuration conf) throws Exception {
    JobConfig cfg = config == null ? JobConfig.defaults()
        : JobConfig.fromYaml(SparticleCli.readText(config, conf));
    if (bits != null) {
      cfg = cfg.withBits(bits);
    }
    SourceCheckpoint src = CheckpointLocator.read(input, conf);
    CompressionPlan plan = CompressionPlanner.plan(src, cfg);
    System.out.printf(Locale.ROOT, "Checkpoint %s: %d file(s)%s%n", src.directory(), src.files().size(),
        src.index() != null ? " with index" : "");
    // ONNX: each tensor's node name (what grouping goes by) after its plan.
    java.util.Map<String, String> nodes = src.nodeNames();
    System.out.printf(Locale.ROOT, "%-60s %-6s %-22s %s%n", "tensor", "dtype", "shape",
        nodes.isEmpty() ? "plan" : "plan  [node]");
    long out = 0;
    for (CompressionPlan.Tensor t : plan.tensors()) {
      String node = nodes.get(t.name());
      System.out.printf(Locale.ROOT, "%-60s %-6s %-22s %s%s%n", t.name(), t.dtype(), Arrays.toString(t.shape()),
          t.compressed() ? "group " + plan.groups().get(t.group()).name() + " "
              + plan.spec(t).describe() : "dense", node == null ? "" : "  [" + node + "]");
      out += t.outputBytes() + (t.compressed() ? plan.paramBytes(t) : 0);
    }
    for (String w : plan.warnings()) {
      System.out.println("warning: " + w);
    }
    System.out.printf(Locale.ROOT, "%d tensors, %,d params (%,d to compress) in %d groups; estimated %,d -> %,d bytes, ratio %.2fx%n",
        plan.tensors().size(), plan.totalParams(), plan.compressedParams(), plan.groups().size(),
        src.totalBytes(), out, (double) src.totalBytes() / Math.max(1, out));
  }
}
