package io.sparticle.bench;

import io.sparticle.format.DType;
import io.sparticle.format.SafetensorsLayout;
import io.sparticle.io.HadoopInputFile;
import io.sparticle.io.RangeReader;
import io.sparticle.io.SequentialReaders;
import io.sparticle.io.Storage;
import io.sparticle.plan.JobConfig;
import io.sparticle.plan.SourceCheckpoint;
import io.sparticle.quant.HalfFloats;
import io.sparticle.spark.CheckpointLocator;
import io.sparticle.spark.CompressReport;
import io.sparticle.spark.DecompressJob;
import io.sparticle.spark.SerializableConfiguration;
import io.sparticle.spark.Sparticle;
import io.sparticle.synth.SyntheticCheckpoint;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.mllib.clustering.KMeans;
import org.apache.spark.mllib.clustering.KMeansModel;
import org.apache.spark.mllib.linalg.Vector;
import org.apache.spark.mllib.linalg.Vectors;
import org.apache.spark.sql.SparkSession;

/**
 * {@code sparticle bench}: one run that shows where a compress job's time goes on this machine,
 * against what the machine could do at best. Makes (or reuses) a synthetic checkpoint of a
 * {@link SyntheticCheckpoint.Preset}, then measures and prints in one table:
 *
 * <ul>
 *   <li>the read floor: every byte of its files read through the raw file system (for
 *       {@code file:}, without the checksumming layer) in 4 MiB positional reads into one reused
 *       buffer per task, best of two passes; and the same bytes read the way the passes read
 *       them (the path's own FileSystem, 64 MiB ranges);
 *   <li>the kernel floor: the per-weight kernels ({@link Kernels}) timed in this JVM, times the
 *       parameters, over the cores;
 *   <li>the compress in a separate JVM with a 1 GiB heap: ok or failed, exit code, time, tensors;
 *   <li>the compress job in this JVM, each of its phases against its floor, its groups, ratio and
 *       SQNR, and the driver's peak heap; the decompress job;
 *   <li>the naive MLlib peer (every weight a row) next to Sparticle on two tensors.
 * </ul>
 *
 * <p>The 1 GiB run comes before the in-process one because Spark ends the JVM when a task runs
 * out of memory, even in local mode; should that happen, a shutdown hook prints the table so far
 * with the compress row marked failed.
 *
 * <p>The restored checkpoint and the 1 GiB run's output are deleted after they are measured (a
 * 7B model's would take 17 GB); the model and the compressed checkpoint stay in the directory.
 */
public final class Benchmark {
  /** The floor's reads: large enough to amortize a call, small enough to stay in the cache. */
  static final int FLOOR_READ_BYTES = 4 << 20;
  /** What a task reads: the job's default chunk-bytes. */
  static final long RANGE_BYTES = 64L << 20;
  static final List<String> PEER_TENSORS =
      List.of("model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.q_proj.weight");

  private final SparkSession spark;
  private final String dir;
  private final SyntheticCheckpoint.Preset preset;
  private final boolean naive;
  private final boolean smallHeap;
  private final PrintStream out;

  public Benchmark(SparkSession spark, String dir, String preset, boolean naive, boolean smallHeap,
      PrintStream out) {
    this.spark = spark;
    this.dir = dir;
    this.preset = SyntheticCheckpoint.Preset.of(preset);
    this.naive = naive;
    this.smallHeap = smallHeap;
    this.out = out;
  }

  public void run() throws Exception {
    Configuration conf = spark.sparkContext().hadoopConfiguration();
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    int cores = jsc.defaultParallelism();
    String model = dir + "/model-" + preset.key() + "-bf16";
    String generated = ensureModel(model, conf);
    SourceCheckpoint source = CheckpointLocator.read(model, conf);
    long inputBytes = source.totalBytes();
    long params = 0;
    int tensors = 0;
    for (SourceCheckpoint.SourceFile f : source.files()) {
      tensors += f.tensors().size();
      for (SourceCheckpoint.SourceTensor t : f.tensors()) {
        params += t.numel();
      }
    }

    BenchTable t = new BenchTable(String.format(Locale.ROOT,
        "Sparticle benchmark, %s: %s%n%,d params in %,d tensors, %,d bytes BF16 in %d files; %s, %d cores, "
            + "driver heap %,d MB; %s",
        preset.key(), preset.description(), params, tensors, inputBytes, source.files().size(),
        spark.sparkContext().master(), cores, Runtime.getRuntime().maxMemory() >> 20, LocalDate.now()));
    t.row("model", null, null, generated);

    // 1. What the hardware allows: reads and kernels, no job.
    double floorRead = Math.min(floorRead(jsc, source, conf), floorRead(jsc, source, conf));
    t.row("read floor: " + floorLabel(source, conf) + ", " + cores + " tasks at a time",
        BenchTable.seconds(floorRead), BenchTable.megabytesPerSecond(inputBytes, floorRead),
        "best of 2 passes; page cache when the files fit in memory");
    double jobPathRead = jobPathRead(jsc, source, conf);
    t.row("read as the passes read: " + jobPathLabel(source, conf),
        BenchTable.seconds(jobPathRead), BenchTable.megabytesPerSecond(inputBytes, jobPathRead),
        String.format(Locale.ROOT, "%.1fx the floor; each pass reads every byte once", jobPathRead / floorRead));
    Kernels.Timings kernels = new Kernels(4).time(15);
    double histogramFloor = kernels.histogramNs() * params / cores / 1e9;
    double encodeFloor = kernels.encodeNs() * params / cores / 1e9;
    t.row("kernel floor: histogram pass", BenchTable.seconds(histogramFloor),
        BenchTable.paramsPerSecond(params, histogramFloor),
        String.format(Locale.ROOT, "%.3f ns/weight x params / %d cores", kernels.histogramNs(), cores));
    t.row("kernel floor: encode pass (lookup + pack)", BenchTable.seconds(encodeFloor),
        BenchTable.paramsPerSecond(params, encodeFloor),
        String.format(Locale.ROOT, "(%.3f + %.3f) ns/weight x params / %d cores; unpack %.3f ns/weight",
            kernels.lookupNs(), kernels.packNs(), cores, kernels.unpackNs()));

    // 2. The compress in a JVM with a 1 GiB heap, first: the in-process job below can take this
    // JVM down (Spark exits on an OutOfMemoryError in a task, even in local mode).
    if (smallHeap) {
      ChildRun child = compressInSmallHeap(model, inputBytes);
      delete(dir + "/packed-1g", conf);
      t.row("compress in a separate JVM, -Xmx1g, local[2]", BenchTable.seconds(child.seconds()),
          child.ok() && child.params() > 0 ? BenchTable.paramsPerSecond(child.params(), child.seconds()) : null,
          child.describe() + "; JVM start included; log: " + dir + "/compress-1g.log");
    }

    // 3. The job in this JVM, default configuration, 4 bits; then back.
    CompressReport report = null;
    Exception failure = null;
    long t0 = System.nanoTime();
    HeapMeter heap = HeapMeter.start();
    Thread dying = new Thread(() -> {
      t.row("compress, end to end (job time)", BenchTable.seconds(secs(t0)), null,
          "FAILED: the JVM exited during the job (Spark exits with 52 on an OutOfMemoryError in a "
              + "task); " + heapNote(heap) + "; see the log above");
      out.println();
      out.print(t.format());
      out.flush();
    }, "sparticle-bench-table");
    Runtime.getRuntime().addShutdownHook(dying);
    try {
      report = Sparticle.compress(spark).input(model).output(dir + "/packed")
          .config(JobConfig.defaults().withBits(4)).overwrite(true).execute();
    } catch (Exception e) {
      failure = e;
    } finally {
      heap.close();
      try {
        Runtime.getRuntime().removeShutdownHook(dying);
      } catch (IllegalStateException shuttingDown) {
        // The JVM is exiting: the hook prints the table.
      }
    }
    if (report == null) {
      t.row("compress, end to end (job time)", BenchTable.seconds(secs(t0)), null, "FAILED: " + failure);
    } else {
      double s = report.seconds();
      double floor = 2 * floorRead + histogramFloor + encodeFloor;
      t.row("compress, end to end (job time)", BenchTable.seconds(s),
          BenchTable.paramsPerSecond(report.params(), s),
          String.format(Locale.ROOT, "%s; %.1fx the floor of %s (2 floor reads + both kernel floors)",
              BenchTable.megabytesPerSecond(inputBytes, s), s / floor, BenchTable.seconds(floor)));
      for (String p : phases(report)) {
        double ps = report.phaseSeconds().getOrDefault(p, 0.0);
        String note = String.format(Locale.ROOT, "%.0f%% of the job", 100 * ps / s) + switch (p) {
          case "histogram" -> String.format(Locale.ROOT, "; floor %s = read %s + kernel %s",
              BenchTable.seconds(floorRead + histogramFloor), BenchTable.seconds(floorRead),
              BenchTable.seconds(histogramFloor));
          case "encode" -> String.format(Locale.ROOT, "; floor %s = read %s + kernels %s",
              BenchTable.seconds(floorRead + encodeFloor), BenchTable.seconds(floorRead),
              BenchTable.seconds(encodeFloor));
          default -> "";
        };
        t.row("  " + p, BenchTable.seconds(ps), null, note);
      }
      t.row("groups, ratio, SQNR", null, null, String.format(Locale.ROOT, "%,d groups, %.2fx, %.2f dB",
          report.groups().size(), report.ratio(), report.total().sqnrDb()));
      t.row("tensors", null, null, String.format(Locale.ROOT, "%,d in the checkpoint, %,d compressed",
          tensors, report.tensors().size()));
    }
    t.row("driver heap during compress", null, null, heapNote(heap));
    if (report != null) {
      DecompressJob.Result back = Sparticle.decompress(spark).input(dir + "/packed")
          .output(dir + "/restored").overwrite(true).execute();
      delete(dir + "/restored", conf);
      t.row("decompress, end to end (job time)", BenchTable.seconds(back.seconds()),
          BenchTable.paramsPerSecond(back.params(), back.seconds()),
          BenchTable.megabytesPerSecond(back.bytes(), back.seconds()) + " written");
    }

    // 4. The naive peer next to Sparticle, on two tensors.
    if (naive) {
      for (String name : PEER_TENSORS) {
        String[] p = comparePeer(jsc, source, name, conf);
        t.row(p[0], p[1], p[2], p[3]);
      }
    }
    out.println();
    out.print(t.format());
    if (failure != null) {
      throw failure;
    }
  }

  /**
   * Reuses the model in {@code model} if it reads as a checkpoint, else generates it: into a
   * {@code .partial} directory renamed when complete, so an interrupted run is never reused.
   */
  private String ensureModel(String model, Configuration conf) throws IOException {
    Path dirPath = new Path(model);
    FileSystem fs = Storage.forWriting(dirPath, conf);
    if (fs.exists(dirPath)) {
      try {
        CheckpointLocator.read(model, conf);
        return "reused " + model;
      } catch (IOException e) {
        out.println("sparticle bench: regenerating " + model + ": " + e.getMessage());
        fs.delete(dirPath, true);
      }
    }
    Path partial = new Path(model + ".partial");
    fs.delete(partial, true);
    out.printf(Locale.ROOT, "sparticle bench: generating %s (%,d params) into %s ...%n", preset.key(),
        SyntheticCheckpoint.params(preset.shape()), model);
    long t0 = System.nanoTime();
    SyntheticCheckpoint.write(preset.shape(), DType.BF16, preset.shardBytes(), 1, partial.toString(), conf);
    if (!fs.rename(partial, dirPath)) {
      throw new IOException("Cannot rename " + partial + " to " + model);
    }
    double s = secs(t0);
    long bytes = 0;
    for (var st : fs.listStatus(dirPath)) {
      bytes += st.getLen();
    }
    return String.format(Locale.ROOT, "generated now in %s (%s written) into %s", BenchTable.seconds(s),
        BenchTable.megabytesPerSecond(bytes, s), model);
  }

  private static void delete(String path, Configuration conf) throws IOException {
    Path p = new Path(path);
    Storage.forWriting(p, conf).delete(p, true);
  }

  /** The phases in the order the job runs them (the report keeps them in that order). */
  private static Set<String> phases(CompressReport report) {
    Set<String> out = new LinkedHashSet<>();
    for (String p : List.of("plan", "calibration", "histogram", "allocation", "particleization",
        "encode", "commit")) {
      if (report.phaseSeconds().containsKey(p)) {
        out.add(p);
      }
    }
    out.addAll(report.phaseSeconds().keySet());
    return out;
  }

  private static double secs(long t0) {
    return (System.nanoTime() - t0) / 1e9;
  }

  private static List<long[]> ranges(SourceCheckpoint source, List<String> paths) {
    List<long[]> ranges = new ArrayList<>();
    for (SourceCheckpoint.SourceFile f : source.files()) {
      long len = f.length();
      for (long off = 0; off < len; off += RANGE_BYTES) {
        ranges.add(new long[] {paths.size(), off, Math.min(RANGE_BYTES, len - off), len});
      }
      paths.add(new Path(source.directory(), f.name()).toString());
    }
    return ranges;
  }

  /** The file system the floor reads through: the raw one for {@code file:}, else the path's. */
  static FileSystem floorFileSystem(Path p, Configuration conf) throws IOException {
    FileSystem fs = p.getFileSystem(conf);
    return fs instanceof LocalFileSystem local ? local.getRawFileSystem() : fs;
  }

  private static String floorLabel(SourceCheckpoint source, Configuration conf) throws IOException {
    FileSystem fs = floorFileSystem(new Path(source.directory()), conf);
    return fs.getClass().getSimpleName() + ", " + (FLOOR_READ_BYTES >> 20) + " MiB reads";
  }

  private static String jobPathLabel(SourceCheckpoint source, Configuration conf) throws IOException {
    FileSystem fs = new Path(source.directory()).getFileSystem(conf);
    // The passes read file: paths of Hadoop's local file systems through a FileChannel
    // (HadoopInputFile), other file systems through their own streams.
    boolean local = fs.getClass() == LocalFileSystem.class
        || fs.getClass() == org.apache.hadoop.fs.RawLocalFileSystem.class;
    return (local ? "FileChannel (the passes' reader for " + fs.getClass().getSimpleName() + ")"
        : fs.getClass().getSimpleName()) + ", " + (RANGE_BYTES >> 20) + " MiB ranges";
  }

  /**
   * Reads every byte once on the cluster, a task per 64 MiB range as the passes split the files,
   * but through the raw file system in 4 MiB reads into one buffer: the least a pass can spend
   * reading.
   */
  private static double floorRead(JavaSparkContext jsc, SourceCheckpoint source, Configuration conf) {
    List<String> paths = new ArrayList<>();
    List<long[]> ranges = ranges(source, paths);
    SerializableConfiguration c = new SerializableConfiguration(conf);
    jsc.setJobDescription("sparticle bench: read floor");
    long t0 = System.nanoTime();
    long total = jsc.parallelize(ranges, ranges.size()).map(r -> {
      Path p = new Path(paths.get((int) r[0]));
      byte[] buf = new byte[(int) Math.min(FLOOR_READ_BYTES, r[2])];
      try (FSDataInputStream in = floorFileSystem(p, c.get()).open(p)) {
        for (long off = r[1], end = r[1] + r[2]; off < end; off += buf.length) {
          in.readFully(off, buf, 0, (int) Math.min(buf.length, end - off));
        }
      }
      return r[2];
    }).reduce(Long::sum);
    double s = secs(t0);
    checkTotal(total, source);
    return s;
  }

  /** Reads every byte once as the passes do: the job's reader, a 64 MiB buffer per range. */
  private static double jobPathRead(JavaSparkContext jsc, SourceCheckpoint source, Configuration conf) {
    List<String> paths = new ArrayList<>();
    List<long[]> ranges = ranges(source, paths);
    SerializableConfiguration c = new SerializableConfiguration(conf);
    jsc.setJobDescription("sparticle bench: read as the passes read");
    long t0 = System.nanoTime();
    long total = jsc.parallelize(ranges, ranges.size()).map(r -> {
      byte[] buf = new byte[(int) r[2]];
      try (SequentialReaders readers = new SequentialReaders(c.get())) {
        readers.get(paths.get((int) r[0]), r[3]).readFully(r[1], buf, 0, buf.length);
      }
      return (long) buf.length;
    }).reduce(Long::sum);
    double s = secs(t0);
    checkTotal(total, source);
    return s;
  }

  private static void checkTotal(long total, SourceCheckpoint source) {
    long expected = 0;
    for (SourceCheckpoint.SourceFile f : source.files()) {
      expected += f.length();
    }
    if (total != expected) {
      throw new IllegalStateException("read " + total + " of " + expected + " bytes");
    }
  }

  /**
   * Sparticle on a checkpoint of just this tensor, then MLlib KMeans with one row per weight:
   * a table row of the MLlib time, the speedup, and both SQNRs.
   */
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
    return new String[] {
        String.format(Locale.ROOT, "naive MLlib KMeans, %s (%,d weights)", shortName, values.length),
        BenchTable.seconds(peer), BenchTable.paramsPerSecond(values.length, peer),
        String.format(Locale.ROOT, "Sparticle %s on it: %.0fx faster; SQNR %.2f dB (MLlib %.2f dB)",
            BenchTable.seconds(ours), peer / ours, oursDb, peerDb)};
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
    FileSystem fs = Storage.forWriting(p, conf);
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

  /**
   * Runs the same compress in a child JVM with -Xmx1g on local[2], for at most 30 minutes or 2
   * minutes per GB of input, whichever is longer.
   */
  private ChildRun compressInSmallHeap(String model, long inputBytes) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(System.getProperty("java.home") + "/bin/java");
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
    File log = new File(dir, "compress-1g.log");
    long limit = Math.max(1800, 120 * inputBytes / 1_000_000_000L);
    long t0 = System.nanoTime();
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log).start();
    boolean done = p.waitFor(limit, TimeUnit.SECONDS);
    if (!done) {
      p.destroyForcibly().waitFor();
    }
    double s = secs(t0);
    return ChildRun.of(done ? p.exitValue() : -1, s, !done,
        new String(Files.readAllBytes(log.toPath()), StandardCharsets.UTF_8).lines().toList());
  }

  /** "peak 3,101 MB in use, 1,640 MB live after a collection, of 4,096 MB". */
  private static String heapNote(HeapMeter m) {
    return String.format(Locale.ROOT, "peak %,d MB in use, %,d MB live after a collection, of %,d MB",
        m.peakUsedBytes() >> 20, m.peakLiveBytes() >> 20, Runtime.getRuntime().maxMemory() >> 20);
  }
}
