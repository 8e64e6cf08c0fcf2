package io.sparticle.spark;

import io.sparticle.format.CheckpointFormatException;
import io.sparticle.format.CheckpointFormatException.Reason;
import io.sparticle.format.CheckpointWriter;
import io.sparticle.format.Manifest;
import io.sparticle.format.onnx.OnnxSkeleton;
import io.sparticle.io.HadoopInputFile;
import io.sparticle.plan.CompressionPlan;
import io.sparticle.plan.CompressionPlan.Group;
import io.sparticle.plan.CompressionPlan.OutputPart;
import io.sparticle.plan.CompressionPlan.Tensor;
import io.sparticle.plan.CompressionPlanner;
import io.sparticle.plan.JobConfig;
import io.sparticle.plan.SourceCheckpoint;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.ErrorStats;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

/**
 * The compress job: plan from headers, histogram pass, MLlib particleization, encode pass, commit.
 *
 * <pre>{@code
 * CompressReport report = Sparticle.compress(spark)
 *     .input("hdfs://nn/models/llama")
 *     .output("hdfs://nn/models/llama-4bit")
 *     .config(JobConfig.defaults().withBits(4))
 *     .execute();
 * }</pre>
 */
public final class CompressJob {
  public static final String CODEBOOKS_FILE = "codebooks.safetensors";
  public static final String REPORT_FILE = "report.json";
  public static final String VERSION = "0.1.0";

  private final SparkSession spark;
  private String input;
  private String output;
  private JobConfig config = JobConfig.defaults();
  private boolean overwrite;
  private ProgressListener progress;

  CompressJob(SparkSession spark) {
    this.spark = Objects.requireNonNull(spark, "spark");
  }

  public CompressJob input(String path) {
    this.input = path;
    return this;
  }

  public CompressJob output(String path) {
    this.output = path;
    return this;
  }

  public CompressJob config(JobConfig config) {
    this.config = Objects.requireNonNull(config, "config");
    return this;
  }

  public CompressJob overwrite(boolean overwrite) {
    this.overwrite = overwrite;
    return this;
  }

  /** Reports each phase's progress to {@code listener}; none by default. */
  public CompressJob progress(ProgressListener listener) {
    this.progress = listener;
    return this;
  }

  public CompressReport execute() throws IOException, InterruptedException {
    if (input == null || output == null) {
      throw new IllegalArgumentException("Both input and output must be set");
    }
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    try (JobPhases phases = JobPhases.start(jsc, "compress", progress)) {
      CompressReport report = execute(jsc, phases);
      phases.end();
      return report;
    }
  }

  private CompressReport execute(JavaSparkContext jsc, JobPhases phases)
      throws IOException, InterruptedException {
    phases.begin("plan", "read the headers of " + input + " and plan");
    Configuration hadoop = jsc.hadoopConfiguration();
    SerializableConfiguration conf = new SerializableConfiguration(hadoop);
    Timer timer = new Timer();

    SourceCheckpoint source = CheckpointLocator.read(input, hadoop);
    CompressionPlan plan = CompressionPlanner.plan(source, config);
    OutputDirectory.Prepared prepared =
        OutputDirectory.prepare("compress", output, source.directory(), overwrite, hadoop);
    Path out = prepared.path();
    timer.lap("plan");
    boolean done = false;
    try {
      CompressReport report = run(jsc, hadoop, conf, timer, source, plan, out, phases);
      done = true;
      return report;
    } finally {
      if (!done) {
        prepared.cleanUpAfterFailure();
      }
    }
  }

  private CompressReport run(JavaSparkContext jsc, Configuration hadoop,
      SerializableConfiguration conf, Timer timer, SourceCheckpoint source, CompressionPlan plan,
      Path out, JobPhases phases) throws IOException, InterruptedException {

    ReadMeter meter = new ReadMeter(jsc);
    if (plan.config().calibration().any()) {
      phases.begin("calibration", "run the model on the calibration sentences");
    }
    ImportanceLoader.Loaded importance = ImportanceLoader.load(plan, source, hadoop);
    Map<Integer, io.sparticle.quant.Importance> imp = importance.byTensor();
    if (plan.config().calibration().any()) {
      timer.lap("calibration");
    }
    phases.begin("histogram", "histograms of " + plan.groups().size() + " groups");
    Particleizer.warmUp(jsc); // its thread carries the histogram phase's job group
    HistogramPass.Result histograms = HistogramPass.run(jsc, plan, imp, conf, meter, phases);
    Map<Integer, HistogramPass.TensorStats> stats = histograms.stats();
    Map<String, String> nonFinite = HistogramPass.checkFinite(plan, stats);
    if (!nonFinite.isEmpty()) {
      // non-finite: keep-dense. Tensor indices do not change, so the histograms still apply.
      plan = CompressionPlanner.plan(source, config, nonFinite);
    }
    // Outliers are counted from the histograms: the parts' layouts depend on the counts.
    Map<Integer, io.sparticle.quant.ValueHistogram.Outliers> outliers = new HashMap<>();
    Map<Integer, io.sparticle.quant.ValueHistogram.Pruned> pruned = new HashMap<>();
    stats.forEach((t, s) -> {
      outliers.put(t, s.outliers());
      pruned.put(t, s.pruned());
    });
    plan = plan.withOutliersAndPruned(outliers, pruned);
    timer.lap("histogram");
    phases.begin("particleization", "codebooks of " + plan.groups().size() + " groups");

    float[] scales = Particleizer.scales(plan, stats);
    BitAllocator.Result allocation = null;
    Double target = plan.config().encoding().targetBits();
    if (target != null) {
      allocation = BitAllocator.allocate(plan, target, histograms, scales,
          plan.config());
      plan = allocation.plan();
      timer.lap("allocation");
    }
    Particleizer.Fit[] fits =
        Particleizer.fitAll(jsc, plan, histograms, imp, scales);
    float[][] codebooks = new float[fits.length][];
    for (int i = 0; i < fits.length; i++) {
      codebooks[i] = fits[i] == null ? null : fits[i].centroids();
    }
    timer.lap("particleization");

    Manifest.Mixture[] mixtures = new Manifest.Mixture[fits.length];
    for (int i = 0; i < fits.length; i++) {
      mixtures[i] = fits[i] == null ? null : fits[i].mixture();
    }
    phases.begin("encode", "write " + plan.parts().size() + " parts to " + out);
    ReportTables.warmUp();
    List<EncodePass.PartResult> parts = EncodePass.run(jsc, plan, codebooks, mixtures, scales, imp,
        out.toString(), conf, meter, phases);
    timer.lap("encode");
    phases.begin("commit", "manifest, codebooks and report");

    List<Manifest.FileEntry> files = checkParts(plan, parts, out, hadoop);
    io.sparticle.io.OutputFile.Committed cb = OutputDirectory.writeSmall(out, CODEBOOKS_FILE,
        codebookBytes(plan, codebooks), hadoop);
    files.add(new Manifest.FileEntry(CODEBOOKS_FILE, cb.size(), cb.crc32c()));
    Manifest.OnnxSource onnx = null;
    if (source.onnx() != null) {
      Skeleton skeleton = writeSkeleton(source, out, hadoop);
      onnx = skeleton.onnx();
      files.add(skeleton.file());
    }
    Map<Integer, io.sparticle.format.CheckpointWriter.TensorError> errors = new HashMap<>();
    for (EncodePass.PartResult p : parts) {
      for (io.sparticle.format.CheckpointWriter.TensorError e : p.errors()) {
        errors.put(e.tensor(), e);
      }
    }
    Manifest manifest = manifest(plan, source, files, scales, onnx, imp.keySet(), fits);
    // The report's rows as Parquet tables, listed in the manifest's extras: their rows do not
    // depend on the output's total size, which the manifest's own size is part of.
    CompressReport rows = CompressReport.of(plan, source.nodeNames(), source.totalBytes(), 0,
        codebooks, fits, errors, timer, out.toString(), meter.bytes(), meter.requests(),
        allocation, importance, null);
    manifest = manifest.withExtras(ReportTables.write(out, rows, hadoop));
    byte[] manifestJson = manifest.toJson();
    if (manifestJson.length > Manifest.MAX_BYTES) {
      // Never commit a checkpoint that decompress would refuse.
      throw new CheckpointFormatException(Reason.TOO_MANY_TENSORS, input, null,
          "its manifest would be " + manifestJson.length + " bytes, over the limit of "
              + Manifest.MAX_BYTES + " (" + plan.tensors().size() + " tensors)");
    }
    OutputDirectory.writeSmall(out, Manifest.FILE_NAME, manifestJson, hadoop);

    long outputBytes = manifestJson.length;
    for (Manifest.FileEntry f : files) {
      outputBytes += f.size();
    }
    timer.lap("commit");
    CompressReport report = CompressReport.of(plan, source.nodeNames(), source.totalBytes(), outputBytes, codebooks,
        fits, errors, timer, out.toString(), meter.bytes(), meter.requests(), allocation,
        importance, histograms);
    byte[] reportJson = report.toJson();
    OutputDirectory.writeSmall(out, REPORT_FILE, reportJson, hadoop);
    OutputDirectory.writeSmall(out, HtmlReport.FILE, HtmlReport.render(reportJson, null), hadoop);
    OutputDirectory.markSuccess(out, hadoop);
    return report;
  }

  private record Skeleton(Manifest.OnnxSource onnx, Manifest.FileEntry file) {}

  /**
   * The ONNX model minus its compressible payloads, from which decompress rebuilds the .onnx.
   * It holds the graph and the small initializers, so it is written by the driver.
   */
  private static Skeleton writeSkeleton(SourceCheckpoint source, Path out, Configuration conf)
      throws IOException {
    OnnxSkeleton skeleton = OnnxSkeleton.of(source.onnx());
    String name = source.onnx().fileName() + ".skeleton";
    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
    skeleton.extract(HadoopInputFile.of(new Path(source.directory(), source.onnx().fileName()), conf),
        bytes);
    io.sparticle.io.OutputFile.Committed c = OutputDirectory.writeSmall(out, name, bytes.toByteArray(), conf);
    List<Manifest.Hole> holes = new ArrayList<>();
    for (OnnxSkeleton.Hole h : skeleton.holes()) {
      holes.add(new Manifest.Hole(h.name(), h.offset(), h.length()));
    }
    return new Skeleton(new Manifest.OnnxSource(source.onnx().fileName(), name, holes),
        new Manifest.FileEntry(name, c.size(), c.crc32c()));
  }

  /** Every part must exist at its final name with exactly the size it was planned to have. */
  private static List<Manifest.FileEntry> checkParts(CompressionPlan plan,
      List<EncodePass.PartResult> results, Path out, Configuration conf) throws IOException {
    FileSystem fs = out.getFileSystem(conf);
    Map<String, EncodePass.PartResult> byName = new HashMap<>();
    for (EncodePass.PartResult r : results) {
      byName.put(r.fileName(), r);
    }
    List<Manifest.FileEntry> files = new ArrayList<>();
    for (OutputPart part : plan.parts()) {
      EncodePass.PartResult r = byName.get(part.fileName());
      if (r == null) {
        throw new IllegalStateException("No result for output part " + part.fileName());
      }
      // The task committed only after writing exactly the planned length (PartWriter.commit),
      // so its size is the plan's; what is left to check is what the store now holds.
      long expected = r.size();
      long actual = fs.getFileStatus(new Path(out, part.fileName())).getLen();
      if (actual != expected) {
        throw new IOException(new Path(out, part.fileName()) + " is " + actual + " bytes, expected "
            + expected + "; not committing");
      }
      files.add(new Manifest.FileEntry(part.fileName(), actual, r.crc32c()));
    }
    return files;
  }

  static String codebookKey(int group) {
    return String.format("group.%05d", group);
  }

  /** codebooks.safetensors: one tensor [k] per group with a shared codebook, in its precision. */
  private static byte[] codebookBytes(CompressionPlan plan, float[][] codebooks) {
    EncodingSpec[] specs = new EncodingSpec[plan.groups().size()];
    String[] names = new String[specs.length];
    for (Group g : plan.groups()) {
      specs[g.index()] = g.spec();
      names[g.index()] = codebookKey(g.index());
    }
    return CheckpointWriter.codebooksFile(specs, names, codebooks);
  }

  private static Manifest manifest(CompressionPlan plan, SourceCheckpoint source,
      List<Manifest.FileEntry> files, float[] scales, Manifest.OnnxSource onnx,
      java.util.Set<Integer> weighted, Particleizer.Fit[] fits) {
    List<Manifest.SourceFileEntry> srcFiles = new ArrayList<>();
    for (SourceCheckpoint.SourceFile f : source.files()) {
      srcFiles.add(new Manifest.SourceFileEntry(f.name(), f.length(), f.metadata()));
    }
    Manifest.Source src = new Manifest.Source(onnx != null ? "onnx" : "safetensors", srcFiles,
        source.index() != null, source.index() == null ? null : source.index().metadataJson(), onnx);
    List<Manifest.GroupEntry> groups = new ArrayList<>();
    for (Group g : plan.groups()) {
      EncodingSpec spec = g.spec();
      boolean importance = (spec.method() == EncodingSpec.Method.KMEANS
          || spec.method() == EncodingSpec.Method.GMM)
          && java.util.Arrays.stream(g.tensors()).anyMatch(weighted::contains);
      Particleizer.Fit fit = fits[g.index()];
      int zeroCode = -1;
      if (spec.prune() > 0 && fit != null) {
        float[] c = fit.codebook().centroids();
        for (int i = 0; i < c.length && zeroCode < 0; i++) {
          if (c[i] == 0f) {
            zeroCode = i;
          }
        }
      }
      groups.add(new Manifest.GroupEntry(g.name(), spec,
          spec.sharedCodebook() ? codebookKey(g.index()) : null, importance,
          fit == null ? null : fit.mixture(), zeroCode,
          spec.entropy() == EncodingSpec.Entropy.NONE ? 0 : spec.segmentCodes()));
    }
    String[] fileOf = new String[plan.tensors().size()];
    for (OutputPart part : plan.parts()) {
      for (int t : part.tensors()) {
        fileOf[t] = part.fileName();
      }
    }
    List<Manifest.TensorEntry> tensors = new ArrayList<>();
    for (Tensor t : plan.tensors()) {
      String from = plan.sourceFiles().get(t.file());
      if (!t.compressed()) {
        tensors.add(new Manifest.TensorEntry(t.name(), t.dtype().name(), t.shape(), from,
            Manifest.ENCODING_DENSE, -1, 0, 1f, null, fileOf[t.index()], t.name()));
        continue;
      }
      EncodingSpec spec = plan.spec(t);
      boolean perChannelBooks = spec.perChannelCodebooks();
      boolean uniform = spec.method() == EncodingSpec.Method.UNIFORM;
      boolean blocks = spec.blockScaled();
      tensors.add(new Manifest.TensorEntry(t.name(), t.dtype().name(), t.shape(), from,
          Manifest.ENCODING_CODES, t.group(), t.bits(), scales[t.index()], spec.entropy().packing(),
          fileOf[t.index()], t.name(), spec.scope() == EncodingSpec.Scope.CHANNEL ? t.axis()
              : spec.vector() ? t.vqAxis() : -1,
          perChannelBooks ? CompressionPlan.codebookKey(t.name()) : null,
          uniform || blocks ? CompressionPlan.scaleKey(t.name()) : null,
          uniform ? CompressionPlan.zeroKey(t.name()) : null,
          blocks && spec.scalePrecision().ladder() ? CompressionPlan.ladderKey(t.name()) : null,
          spec.outliers() == 0 ? null : new Manifest.Outliers(t.outliers().count(),
              t.outliers().threshold(), CompressionPlan.outlierCountsKey(t.name()),
              CompressionPlan.outlierIndexKey(t.name()), CompressionPlan.outlierValuesKey(t.name())),
          spec.prune() == 0 ? null
              : new Manifest.Pruned(t.pruned().count(), t.pruned().threshold()),
          spec.entropy() == EncodingSpec.Entropy.NONE ? null
              : CompressionPlan.segmentsKey(t.name())));
    }
    return new Manifest(Manifest.FORMAT_VERSION, Manifest.requiredFeatures(groups),
        "sparticle " + VERSION, src, CODEBOOKS_FILE, files, groups, tensors);
  }

  /** Wall-clock seconds per phase, in order. */
  static final class Timer {
    private final long start = System.nanoTime();
    private long last = start;
    final Map<String, Double> phases = new java.util.LinkedHashMap<>();

    void lap(String phase) {
      long now = System.nanoTime();
      phases.put(phase, (now - last) / 1e9);
      last = now;
    }

    double total() {
      return (last - start) / 1e9;
    }
  }
}
