package io.sparticle.bench;

import io.sparticle.format.DType;
import io.sparticle.format.SafetensorsLayout;
import io.sparticle.format.ShardIndex;
import io.sparticle.io.HadoopInputFile;
import io.sparticle.io.RangeReader;
import io.sparticle.io.SequentialReaders;
import io.sparticle.plan.JobConfig;
import io.sparticle.plan.SourceCheckpoint;
import io.sparticle.quant.HalfFloats;
import io.sparticle.spark.CheckpointLocator;
import io.sparticle.spark.CompressReport;
import io.sparticle.spark.DecompressJob;
import io.sparticle.spark.SerializableConfiguration;
import io.sparticle.spark.Sparticle;
import io.sparticle.synth.SyntheticCheckpoint;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.mllib.clustering.KMeans;
import org.apache.spark.mllib.clustering.KMeansModel;
import org.apache.spark.mllib.linalg.Vector;
import org.apache.spark.mllib.linalg.Vectors;
import org.apache.spark.sql.SparkSession;

/**
 * {@code sparticle bench}: one run that shows where a compress job's time goes on this machine.
 * Makes (or reuses) a synthetic checkpoint, measures the raw read throughput of its files through
 * the same FileSystem path, compresses and decompresses it, runs the naive MLlib peer (every
 * weight a row) on two of its tensors next to Sparticle on the same tensors, and repeats the
 * compress in a separate JVM with a 1 GiB heap. Prints one table.
 */
public final class Benchmark {
  private final SparkSession spark;
  private final String dir;
  private final String preset;
  private final boolean naive;
  private final boolean smallHeap;
  private final PrintStream out;

  public Benchmark(SparkSession spark, String dir, String preset, boolean naive, boolean smallHeap,
      PrintStream out) {
    this.spark = spark;
    this.dir = dir;
    this.preset = preset;
    this.naive = naive;
    this.smallHeap = smallHeap;
    this.out = out;
  }

  public void run() throws Exception {
    Configuration conf = spark.sparkContext().hadoopConfiguration();
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    String model = dir + "/model-" + preset + "-bf16";
    Path index = new Path(model, ShardIndex.FILE_NAME);
    if (!index.getFileSystem(conf).exists(index)) {
      long t0 = System.nanoTime();
      long params = SyntheticCheckpoint.write(SyntheticCheckpoint.preset(preset), DType.BF16,
          1L << 30, 1, model, conf);
      out.printf(Locale.ROOT, "generated %s: %,d params in %.1f s%n", model, params, secs(t0));
    }
    SourceCheckpoint source = CheckpointLocator.read(model, conf);
    long inputBytes = source.totalBytes();

    // 1. Physical reference: read every byte of the checkpoint through the same path, no compute.
    double rawSeconds = rawRead(jsc, source, conf);

    // 2. The job, default configuration, 4 bits.
    resetPeaks();
    CompressReport report = Sparticle.compress(spark).input(model).output(dir + "/packed")
        .config(JobConfig.defaults().withBits(4)).overwrite(true).execute();
    long peakHeap = heapPeak();
    DecompressJob.Result back = Sparticle.decompress(spark).input(dir + "/packed")
        .output(dir + "/restored").overwrite(true).execute();

    // 3. The naive peer next to Sparticle, on two tensors.
    List<String[]> peerRows = new ArrayList<>();
    if (naive) {
      for (String name : new String[] {"model.layers.0.self_attn.k_proj.weight",
          "model.layers.0.self_attn.q_proj.weight"}) {
        peerRows.add(comparePeer(jsc, source, name, conf));
      }
    }

    // 4. The same compress in a JVM with a 1 GiB heap.
    String smallHeapResult = smallHeap ? compressInSmallHeap(model) : "skipped";

    double jobSeconds = report.seconds();
    double mb = inputBytes / 1e6;
    out.println();
    out.printf(Locale.ROOT, "Sparticle benchmark: %s, %,d params, %,d bytes BF16, %d files, %s, %d cores%n",
        preset, report.params(), inputBytes, source.files().size(), spark.sparkContext().master(),
        Runtime.getRuntime().availableProcessors());
    row("raw read (all bytes, no compute)", "%.1f s  %.0f MB/s", rawSeconds, mb / rawSeconds);
    row("compress end to end (job time)", "%.1f s  %.1fM params/s  %.0f MB/s", jobSeconds,
        report.params() / jobSeconds / 1e6, mb / jobSeconds);
    for (String p : List.of("plan", "histogram", "particleization", "encode", "commit")) {
      double s = report.phaseSeconds().getOrDefault(p, 0.0);
      row("  " + p, "%.2f s  (%.0f%%)", s, 100 * s / jobSeconds);
    }
    row("compress / raw read time", "%.1fx", jobSeconds / rawSeconds);
    row("groups, ratio, SQNR", "%d groups  %.2fx  %.2f dB", report.groups().size(), report.ratio(),
        report.total().sqnrDb());
    row("peak heap during compress (driver JVM)", "%,d MB", peakHeap >> 20);
    row("decompress", "%.1f s  %.1fM params/s", back.seconds(), back.params() / back.seconds() / 1e6);
    row("compress with a 1 GiB heap (separate JVM)", "%s", smallHeapResult);
    if (!peerRows.isEmpty()) {
      out.printf(Locale.ROOT, "%-34s %10s %9s %9s %10s %9s %8s%n", "tensor (4 bits)", "params",
          "ours s", "ours dB", "MLlib s", "MLlib dB", "speedup");
      for (String[] r : peerRows) {
        out.printf(Locale.ROOT, "%-34s %10s %9s %9s %10s %9s %8s%n", (Object[]) r);
      }
    }
  }

  private void row(String what, String fmt, Object... args) {
    out.printf(Locale.ROOT, "%-44s %s%n", what, String.format(Locale.ROOT, fmt, args));
  }

  private static double secs(long t0) {
    return (System.nanoTime() - t0) / 1e9;
  }

  /** Reads all bytes of all files in 64 MiB ranges on the cluster, as the passes do. */
  private static double rawRead(JavaSparkContext jsc, SourceCheckpoint source, Configuration conf) {
    List<long[]> ranges = new ArrayList<>();
    List<String> paths = new ArrayList<>();
    for (SourceCheckpoint.SourceFile f : source.files()) {
      long len = f.length();
      for (long off = 0; off < len; off += 64L << 20) {
        ranges.add(new long[] {paths.size(), off, Math.min(64L << 20, len - off), len});
      }
      paths.add(new Path(source.directory(), f.name()).toString());
    }
    SerializableConfiguration c = new SerializableConfiguration(conf);
    long t0 = System.nanoTime();
    jsc.setJobDescription("sparticle bench: raw read");
    long total = jsc.parallelize(ranges, ranges.size()).map(r -> {
      byte[] buf = new byte[(int) r[2]];
      try (SequentialReaders readers = new SequentialReaders(c.get())) {
        readers.get(paths.get((int) r[0]), r[3]).readFully(r[1], buf, 0, buf.length);
      }
      return (long) buf.length;
    }).reduce(Long::sum);
    double s = secs(t0);
    if (total != source.totalBytes()) {
      throw new IllegalStateException("raw read " + total + " of " + source.totalBytes() + " bytes");
    }
    return s;
  }

  /** Sparticle on a checkpoint of just this tensor, then MLlib KMeans with one row per weight. */
  private String[] comparePeer(JavaSparkContext jsc, SourceCheckpoint source, String name,
      Configuration conf) throws Exception {
    float[] values = null;
    SourceCheckpoint.SourceTensor info = null;
    for (SourceCheckpoint.SourceFile f : source.files()) {
      SourceCheckpoint.SourceTensor t = f.tensor(name);
      if (t != null) {
        info = t;
        values = readBf16(new Path(source.directory(), f.name()), t, conf);
      }
    }
    if (info == null) {
      throw new IllegalArgumentException("No tensor " + name);
    }
    String single = dir + "/peer-" + name;
    writeSingle(single, info, values, conf);
    long t0 = System.nanoTime();
    CompressReport r = Sparticle.compress(spark).input(single).output(single + "-packed")
        .config(JobConfig.defaults().withBits(4)).overwrite(true).execute();
    double ours = secs(t0);
    double oursDb = r.total().sqnrDb();

    List<Vector> rows = new ArrayList<>(values.length);
    for (float v : values) {
      rows.add(Vectors.dense(v));
    }
    jsc.setJobDescription("sparticle bench: naive MLlib KMeans on " + name);
    t0 = System.nanoTime();
    JavaRDD<Vector> data = jsc.parallelize(rows, jsc.defaultParallelism()).cache();
    KMeansModel model = new KMeans().setK(16).setSeed(1).run(data.rdd());
    double peer = secs(t0);
    data.unpersist(false);
    double[] centers = new double[model.clusterCenters().length];
    for (int i = 0; i < centers.length; i++) {
      centers[i] = model.clusterCenters()[i].apply(0);
    }
    double peerDb = io.sparticle.quant.ReferenceKMeans.sqnrDb(values, centers);
    String shortName = name.replace("model.layers.", "L").replace(".weight", "");
    return new String[] {shortName, String.format(Locale.ROOT, "%,d", values.length),
        String.format(Locale.ROOT, "%.2f", ours), String.format(Locale.ROOT, "%.2f", oursDb),
        String.format(Locale.ROOT, "%.2f", peer), String.format(Locale.ROOT, "%.2f", peerDb),
        String.format(Locale.ROOT, "%.0fx", peer / ours)};
  }

  private static float[] readBf16(Path file, SourceCheckpoint.SourceTensor t, Configuration conf)
      throws IOException {
    byte[] raw = new byte[(int) t.byteLength()];
    try (RangeReader in = HadoopInputFile.of(file, conf).open()) {
      in.readFully(t.offset(), raw, 0, raw.length);
    }
    float[] v = new float[(int) t.numel()];
    for (int i = 0; i < v.length; i++) {
      v[i] = HalfFloats.bf16ToFloat((short) ((raw[2 * i] & 0xFF) | (raw[2 * i + 1] & 0xFF) << 8));
    }
    return v;
  }

  private static void writeSingle(String dir, SourceCheckpoint.SourceTensor t, float[] values,
      Configuration conf)
      throws IOException {
    SafetensorsLayout layout = SafetensorsLayout.builder().add(t.name(), DType.BF16, t.shape()).build();
    Path p = new Path(dir, "model.safetensors");
    FileSystem fs = io.sparticle.io.Storage.forWriting(p, conf);
    fs.delete(new Path(dir), true);
    try (OutputStream os = fs.create(p, true)) {
      os.write(layout.headerBytes());
      byte[] b = new byte[values.length * 2];
      for (int i = 0; i < values.length; i++) {
        short s = HalfFloats.floatToBf16(values[i]);
        b[2 * i] = (byte) s;
        b[2 * i + 1] = (byte) (s >>> 8);
      }
      os.write(b);
    }
  }

  /** Runs the same compress in a child JVM with -Xmx1g, on local[2]. */
  private String compressInSmallHeap(String model) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.SEPARATOR.equals("/") ? System.getProperty("java.home") + "/bin/java" : "java");
    for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (!a.startsWith("-Xmx") && !a.startsWith("-Xms") && !a.startsWith("-agentlib")) {
        cmd.add(a);
      }
    }
    cmd.add("-Xmx1g");
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add("io.sparticle.cli.SparticleCli");
    cmd.addAll(List.of("compress", "--input", model, "--output", dir + "/packed-1g", "--bits", "4",
        "--overwrite", "--master", "local[2]"));
    long t0 = System.nanoTime();
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(new java.io.File(dir, "compress-1g.log")).start();
    int code = p.waitFor();
    double s = secs(t0);
    return code == 0
        ? String.format(Locale.ROOT, "ok, %.1f s including JVM start (log: %s/compress-1g.log)", s, dir)
        : "FAILED with exit code " + code + " (log: " + dir + "/compress-1g.log)";
  }

  private static void resetPeaks() {
    for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
      if (pool.getType() == MemoryType.HEAP) {
        pool.resetPeakUsage();
      }
    }
  }

  private static long heapPeak() {
    long sum = 0;
    for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
      if (pool.getType() == MemoryType.HEAP) {
        sum += pool.getPeakUsage().getUsed();
      }
    }
    return sum;
  }
}
