package io.sparticle.spark;

import io.sparticle.format.CheckpointFormatException;
import io.sparticle.format.CheckpointFormatException.Reason;
import io.sparticle.format.CompressedCheckpoint;
import io.sparticle.format.StoredTensor;
import io.sparticle.format.TensorDecoder;
import io.sparticle.io.HadoopDirectory;
import io.sparticle.format.Manifest;
import io.sparticle.format.SafetensorsLayout;
import io.sparticle.format.ShardIndex;
import io.sparticle.format.onnx.CompressedOnnxWriter;
import io.sparticle.format.onnx.PayloadWriter;
import io.sparticle.format.onnx.WeightGraph;
import io.sparticle.io.HadoopInputFile;
import io.sparticle.io.RangeReader;
import io.sparticle.io.SequentialReaders;
import io.sparticle.plan.JobConfig;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

/**
 * Rebuilds dense HF-style safetensors from a compressed checkpoint: the original file names,
 * tensor names, shapes and dtypes, with an index when the source was sharded. Dense tensors are
 * copied byte for byte; compressed ones become {@code centroid[code] * scale} rounded to their
 * dtype. Every file's size and CRC-32C are checked first (one task per file), then one Spark task
 * per output file decodes.
 */
public final class DecompressJob {
  /** The format of a runnable .onnx whose weights stay codes and codebooks. */
  public static final String ONNX_COMPRESSED = "onnx-compressed";
  private final SparkSession spark;
  private String input;
  private String output;
  private boolean overwrite;
  private long chunkBytes = JobConfig.DEFAULT_CHUNK_BYTES;
  private String format;
  private ProgressListener progress;

  DecompressJob(SparkSession spark) {
    this.spark = Objects.requireNonNull(spark, "spark");
  }

  public DecompressJob input(String path) {
    this.input = path;
    return this;
  }

  public DecompressJob output(String path) {
    this.output = path;
    return this;
  }

  public DecompressJob overwrite(boolean overwrite) {
    this.overwrite = overwrite;
    return this;
  }

  /**
   * {@code onnx}, {@code onnx-compressed} or {@code safetensors}; by default what the source was.
   * An ONNX source can be rebuilt as a working .onnx (from its skeleton), as a runnable .onnx
   * whose encoded weights stay codes and codebooks that the graph turns into weights
   * ({@code onnx-compressed}, FORMAT.md section 6), or as one {@code model.safetensors}.
   */
  public DecompressJob format(String format) {
    if (format != null && !format.equals("onnx") && !format.equals(ONNX_COMPRESSED)
        && !format.equals("safetensors")) {
      throw new IllegalArgumentException(
          "Cannot set format to " + format + ": must be onnx, onnx-compressed or safetensors");
    }
    this.format = format;
    return this;
  }

  public DecompressJob chunkBytes(long bytes) {
    this.chunkBytes = bytes;
    return this;
  }

  /** Reports each phase's progress (checksum, decode) to {@code listener}; none by default. */
  public DecompressJob progress(ProgressListener listener) {
    this.progress = listener;
    return this;
  }

  /**
   * Result of a decompress run; {@code readRequests} is -1 when the store does not count them.
   * {@code keptDense}: for {@code onnx-compressed}, the encoded tensors written dense, and why.
   */
  public record Result(String output, int files, long params, long bytes, double seconds,
      long readBytes, long readRequests, Map<String, String> keptDense) {
    public Result {
      keptDense = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(keptDense));
    }

    public Result(String output, int files, long params, long bytes, double seconds,
        long readBytes, long readRequests) {
      this(output, files, params, bytes, seconds, readBytes, readRequests, Map.of());
    }

    /** As the Python API and {@code decompress --json} give it. */
    public com.fasterxml.jackson.databind.node.ObjectNode toJson() {
      com.fasterxml.jackson.databind.node.ObjectNode o =
          com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
      o.put("output", output);
      o.put("files", files);
      o.put("params", params);
      o.put("bytes", bytes);
      o.put("seconds", seconds);
      o.put("bytes_read", readBytes);
      if (readRequests >= 0) {
        o.put("read_requests", readRequests);
      }
      if (!keptDense.isEmpty()) {
        com.fasterxml.jackson.databind.node.ObjectNode d = o.putObject("kept_dense");
        keptDense.forEach(d::put);
      }
      return o;
    }
  }

  /**
   * One output file. For safetensors, {@code header} then the items' bytes. For ONNX, the
   * skeleton's bytes with each hole filled by its item's bytes, in order.
   */
  record Task(String fileName, byte[] header, long expectedLength, List<StoredTensor> items,
      String skeleton, long skeletonLength, List<Manifest.Hole> holes, Set<String> inGraph)
      implements Serializable {
    Task(String fileName, byte[] header, long expectedLength, List<StoredTensor> items) {
      this(fileName, header, expectedLength, items, null, 0, List.of(), null);
    }

    /** A runnable compressed .onnx: the tensors of {@code inGraph} computed in the graph. */
    boolean runnable() {
      return inGraph != null;
    }
  }

  public Result execute() throws IOException {
    if (input == null || output == null) {
      throw new IllegalArgumentException("Both input and output must be set");
    }
    long start = System.nanoTime();
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    try (JobPhases phases = JobPhases.start(jsc, "decompress", progress)) {
      Result r = execute(jsc, phases, start);
      phases.end();
      return r;
    }
  }

  private Result execute(JavaSparkContext jsc, JobPhases phases, long start) throws IOException {
    phases.begin("checksum", "open " + input + " and check every file's CRC-32C");
    Configuration hadoop = jsc.hadoopConfiguration();
    CompressedCheckpoint checkpoint = CompressedCheckpoint.open(HadoopDirectory.of(input, hadoop));
    Path in = new Path(checkpoint.directory().path());
    Manifest manifest = checkpoint.manifest();
    Map<String, List<StoredTensor>> bySource = checkpoint.tensorsBySource();
    // Before anything is written: a corrupt part must not decode into plausible weights.
    ReadMeter meter = new ReadMeter(jsc); // counts the checksum reads too
    ChecksumPass.run(jsc, in, manifest, hadoop, meter, phases);
    long params = 0;
    for (Manifest.TensorEntry t : manifest.tensors()) {
      params += t.numel();
    }
    OutputDirectory.Prepared prepared = OutputDirectory.prepare("decompress", output, in.toString(), overwrite, hadoop);
    boolean done = false;
    try {
      Result r = run(jsc, hadoop, checkpoint, bySource, params, prepared.path(), start, meter,
          phases);
      done = true;
      return r;
    } finally {
      if (!done) {
        prepared.cleanUpAfterFailure();
      }
    }
  }

  private Result run(JavaSparkContext jsc, Configuration hadoop, CompressedCheckpoint checkpoint,
      Map<String, List<StoredTensor>> bySource, long params, Path out, long start, ReadMeter meter,
      JobPhases phases) throws IOException {
    Path in = new Path(checkpoint.directory().path());
    Manifest manifest = checkpoint.manifest();

    Map<String, long[]> shapes = new HashMap<>();
    for (Manifest.TensorEntry t : manifest.tensors()) {
      shapes.put(t.name(), t.shape());
    }
    Manifest.OnnxSource onnx = manifest.source().onnx();
    if (("onnx".equals(format) || ONNX_COMPRESSED.equals(format)) && onnx == null) {
      throw new IllegalArgumentException("Cannot decompress " + input + " to " + format
          + ": its source was " + manifest.source().format());
    }
    List<Task> tasks = new ArrayList<>();
    Map<String, String> keptDense = new LinkedHashMap<>();
    if (onnx != null && ONNX_COMPRESSED.equals(format)) {
      tasks.add(runnableTask(onnxTask(in, checkpoint, onnx, bySource), hadoop, keptDense));
    } else if (onnx != null && !"safetensors".equals(format)) {
      tasks.add(onnxTask(in, checkpoint, onnx, bySource));
    } else if (onnx != null) {
      // An ONNX source as safetensors: every tensor in one model.safetensors.
      SafetensorsLayout.Builder b = SafetensorsLayout.builder();
      List<StoredTensor> all = new ArrayList<>();
      for (List<StoredTensor> items : bySource.values()) {
        for (StoredTensor item : items) {
          b.add(item.name(), item.dtype(), shapes.get(item.name()));
          all.add(item);
        }
      }
      SafetensorsLayout layout = b.build();
      tasks.add(new Task("model.safetensors", layout.headerBytes(), layout.fileLength(), all));
    } else {
      for (Manifest.SourceFileEntry f : manifest.source().files()) {
        SafetensorsLayout.Builder b = SafetensorsLayout.builder();
        f.metadata().forEach(b::metadata);
        for (StoredTensor item : bySource.get(f.name())) {
          b.add(item.name(), item.dtype(), shapes.get(item.name()));
        }
        SafetensorsLayout layout = b.build();
        tasks.add(new Task(f.name(), layout.headerBytes(), layout.fileLength(), bySource.get(f.name())));
      }
    }
    SerializableConfiguration conf = new SerializableConfiguration(hadoop);
    String outDir = out.toString();
    long chunk = chunkBytes;
    phases.begin("decode", "write " + tasks.size() + " files to " + outDir);
    long[] written = new long[Math.max(1, tasks.size())];
    for (int i = 0; i < tasks.size(); i++) {
      written[i] = Math.max(0, tasks.get(i).expectedLength());
    }
    jsc.setJobDescription("sparticle: decompress " + tasks.size() + " files");
    List<Long> sizes = phases.track(jsc.parallelize(tasks, written.length), written)
        .map(task -> decode(task, outDir, chunk, conf, meter))
        .collect();
    long bytes = 0;
    for (long s : sizes) {
      bytes += s;
    }
    if (manifest.source().sharded() && onnx == null) {
      Map<String, String> weightMap = new LinkedHashMap<>();
      for (Manifest.TensorEntry t : manifest.tensors()) {
        weightMap.put(t.name(), t.sourceFile());
      }
      OutputDirectory.writeSmall(out, ShardIndex.FILE_NAME,
          ShardIndex.of(weightMap, manifest.source().indexMetadataJson()).toJson(), hadoop);
    }
    OutputDirectory.markSuccess(out, hadoop);
    return new Result(outDir, tasks.size(), params, bytes, (System.nanoTime() - start) / 1e9,
        meter.bytes(), meter.requests(), keptDense);
  }

  /**
   * The .onnx task as a runnable compressed model: which encoded tensors the graph computes
   * (the model's opset read from the skeleton); the others go into {@code keptDense} with why.
   */
  private static Task runnableTask(Task onnx, Configuration hadoop, Map<String, String> keptDense)
      throws IOException {
    // The original model's structure, read through its skeleton (no external data: onnxTask
    // refused that already).
    io.sparticle.io.InputFile original = new io.sparticle.io.InputFile() {
      @Override
      public String path() {
        return onnx.fileName();
      }

      @Override
      public long length() {
        return onnx.expectedLength();
      }

      @Override
      public RangeReader open() throws IOException {
        return skeletonView(onnx, hadoop);
      }
    };
    long opset = CompressedOnnxWriter.opset(io.sparticle.format.onnx.OnnxModelReader.read(original));
    Set<String> inGraph = new LinkedHashSet<>();
    for (StoredTensor item : onnx.items()) {
      if (item.dense()) {
        continue;
      }
      String why = WeightGraph.refusal(item, opset);
      if (why == null) {
        inGraph.add(item.name());
      } else {
        keptDense.put(item.name(), why);
      }
    }
    return new Task(onnx.fileName(), onnx.header(), -1, onnx.items(), onnx.skeleton(),
        onnx.skeletonLength(), onnx.holes(), inGraph);
  }

  private static RangeReader skeletonView(Task task, Configuration conf) throws IOException {
    RangeReader skeleton =
        HadoopInputFile.of(new Path(task.skeleton()), conf, task.skeletonLength()).open();
    return new CompressedOnnxWriter.SkeletonView(skeleton, holes(task));
  }

  private static List<CompressedOnnxWriter.Hole> holes(Task task) {
    List<CompressedOnnxWriter.Hole> holes = new ArrayList<>();
    for (Manifest.Hole h : task.holes()) {
      holes.add(new CompressedOnnxWriter.Hole(h.name(), h.offset(), h.length()));
    }
    return holes;
  }

  /**
   * Writes the runnable compressed .onnx of {@code task}: the graphs of its {@code inGraph}
   * tensors, the other holes decoded dense. Every data file stays open until the end, since the
   * codes are read as the initializers are written.
   */
  private static long writeRunnable(Task task, PartWriter out, long chunkBytes,
      SerializableConfiguration conf) throws IOException {
    Map<String, RangeReader> data = new HashMap<>();
    try (RangeReader view = skeletonView(task, conf.get())) {
      Map<String, StoredTensor> byName = new HashMap<>();
      Map<String, WeightGraph> graphs = new LinkedHashMap<>();
      Map<String, WeightGraph.Initializer> shared = new LinkedHashMap<>();
      for (StoredTensor item : task.items()) {
        byName.put(item.name(), item);
        RangeReader in = data.get(item.dataFile());
        if (in == null) {
          in = HadoopInputFile.of(new Path(item.dataFile()), conf.get(), item.dataFileLength()).open();
          data.put(item.dataFile(), in);
        }
        if (task.inGraph().contains(item.name())) {
          graphs.put(item.name(), WeightGraph.build(item, in, shared));
        }
      }
      PayloadWriter dense = (name, length, o) -> {
        StoredTensor item = byName.get(name);
        RangeReader in = data.get(item.dataFile());
        if (item.dense()) {
          byte[] buffer = new byte[(int) Math.min(chunkBytes, Math.max(1, item.byteLength()))];
          for (long pos = 0; pos < item.byteLength(); pos += buffer.length) {
            int n = (int) Math.min(buffer.length, item.byteLength() - pos);
            in.readFully(item.offset() + pos, buffer, 0, n);
            o.write(buffer, 0, n);
          }
        } else {
          TensorDecoder.decode(item, in, o::write, chunkBytes, PartWriter::stopIfKilled);
        }
      };
      return CompressedOnnxWriter.write(task.fileName(), view, onnxLength(task), holes(task),
          graphs, shared.values(), dense, new java.io.OutputStream() {
            @Override
            public void write(int b) throws IOException {
              out.write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
              out.write(b, off, len);
            }
          });
    } finally {
      for (RangeReader r : data.values()) {
        r.close();
      }
    }
  }

  /** The original model file's length: the skeleton's and the holes'. */
  private static long onnxLength(Task task) {
    long n = task.skeletonLength();
    for (Manifest.Hole h : task.holes()) {
      n += h.length();
    }
    return n;
  }

  /** The rebuilt .onnx: the skeleton with every hole filled by its tensor's bytes. */
  private static Task onnxTask(Path in, CompressedCheckpoint checkpoint, Manifest.OnnxSource onnx,
      Map<String, List<StoredTensor>> bySource) throws CheckpointFormatException {
    Manifest manifest = checkpoint.manifest();
    Map<String, StoredTensor> byName = new HashMap<>();
    for (Map.Entry<String, List<StoredTensor>> e : bySource.entrySet()) {
      for (StoredTensor item : e.getValue()) {
        if (!e.getKey().equals(onnx.modelFile())) {
          throw new IllegalArgumentException("Tensor '" + item.name() + "' lives in the external "
              + "data file " + e.getKey() + ": rebuilding ONNX external data is not supported yet; "
              + "decompress with --format safetensors");
        }
        byName.put(item.name(), item);
      }
    }
    List<StoredTensor> items = new ArrayList<>();
    for (Manifest.Hole h : onnx.holes()) {
      StoredTensor item = byName.get(h.name());
      long bytes = item == null ? -1 : item.numel() * item.dtype().byteSize();
      if (bytes != h.length()) {
        throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, in.toString(), h.name(),
            "ONNX hole of " + h.length() + " bytes, but the tensor decodes to " + bytes);
      }
      items.add(item);
    }
    long original = -1;
    for (Manifest.SourceFileEntry f : manifest.source().files()) {
      if (f.name().equals(onnx.modelFile())) {
        original = f.size();
      }
    }
    return new Task(onnx.modelFile(), new byte[0], original, items,
        new Path(in, onnx.skeletonFile()).toString(), checkpoint.sizeOf(onnx.skeletonFile()),
        onnx.holes(), null);
  }

  static long decode(Task task, String outDir, long chunkBytes, SerializableConfiguration conf,
      ReadMeter meter) throws IOException {
    SequentialReaders readers = new SequentialReaders(conf.get());
    long size;
    try (PartWriter out = PartWriter.open(outDir, task.fileName(), conf.get()); readers) {
      if (task.runnable()) {
        long n = writeRunnable(task, out, chunkBytes, conf);
        size = out.commit(n).size();
        meter.add(readers.stats());
        return size;
      }
      if (task.skeleton() != null) {
        decodeOnnx(task, out, readers, chunkBytes, conf);
      } else {
        out.write(task.header(), 0, task.header().length);
        List<StoredTensor> items = task.items();
        for (int i = 0; i < items.size(); ) {
          StoredTensor item = items.get(i);
          RangeReader in = readers.get(item.dataFile(), item.dataFileLength());
          if (!item.dense()) {
            TensorDecoder.decode(item, in, out::write, chunkBytes, PartWriter::stopIfKilled);
            i++;
            continue;
          }
          // A run of dense tensors stored one after the other is one copy (see EncodePass).
          long length = item.byteLength();
          int j = i + 1;
          for (; j < items.size(); j++) {
            StoredTensor next = items.get(j);
            if (!next.dense() || !next.dataFile().equals(item.dataFile())
                || next.offset() != item.offset() + length) {
              break;
            }
            length += next.byteLength();
          }
          out.copy(in, item.offset(), length, chunkBytes);
          i = j;
        }
      }
      size = out.commit(task.expectedLength()).size();
    }
    meter.add(readers.stats());
    return size;
  }

  /** An item's bytes in its dtype: dense bytes copied, codes decoded. */
  private static void writeItem(RangeReader in, StoredTensor item, PartWriter out, long chunkBytes)
      throws IOException {
    if (item.dense()) {
      out.copy(in, item.offset(), item.byteLength(), chunkBytes);
    } else {
      TensorDecoder.decode(item, in, out::write, chunkBytes, PartWriter::stopIfKilled);
    }
  }

  /** The skeleton's bytes with each hole filled by its item. */
  private static void decodeOnnx(Task task, PartWriter out, SequentialReaders readers,
      long chunkBytes, SerializableConfiguration conf) throws IOException {
    try (RangeReader skeleton =
        HadoopInputFile.of(new Path(task.skeleton()), conf.get(), task.skeletonLength()).open()) {
      long skeletonPos = 0;
      long originalPos = 0;
      for (int i = 0; i < task.holes().size(); i++) {
        Manifest.Hole hole = task.holes().get(i);
        StoredTensor item = task.items().get(i);
        long gap = hole.offset() - originalPos;
        out.copy(skeleton, skeletonPos, gap, chunkBytes);
        skeletonPos += gap;
        writeItem(readers.get(item.dataFile(), item.dataFileLength()), item, out, chunkBytes);
        originalPos = hole.offset() + hole.length();
      }
      out.copy(skeleton, skeletonPos, task.skeletonLength() - skeletonPos, chunkBytes);
    }
  }
}
