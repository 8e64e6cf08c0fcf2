package io.sparticle.spark;

import io.sparticle.format.CheckpointFormatException;
import io.sparticle.format.CheckpointFormatException.Reason;
import io.sparticle.format.CompressedCheckpoint;
import io.sparticle.format.Manifest;
import io.sparticle.format.StoredTensor;
import io.sparticle.format.TensorEncoder;
import io.sparticle.io.HadoopDirectory;
import io.sparticle.io.RangeReader;
import io.sparticle.io.SequentialReaders;
import io.sparticle.packing.BitPacking;
import io.sparticle.plan.JobConfig;
import io.sparticle.plan.SourceCheckpoint;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

/**
 * Checks a compressed checkpoint without writing anything: {@code _SUCCESS}, the manifest, every
 * file's size and CRC-32C (one Spark task per file, streamed), and that every tensor decodes (its
 * data file's header, key, dtype and size, and its codebook); and, given the original input,
 * that the checkpoint is exactly what compressing it gives. The first problem is a
 * {@link CheckpointFormatException} naming the file and, where one applies, the tensor.
 *
 * <pre>{@code
 * VerifyJob.Result r = VerifyJob.verify(spark, "s3a://models/llama-4bit");
 * VerifyJob.verify(spark, "s3a://models/llama-4bit", "s3a://models/llama");  // against the input
 * }</pre>
 */
public final class VerifyJob {
  private VerifyJob() {}

  /** @param against the input compared with, or null */
  public record Result(String dir, int files, long bytes, int tensors, String against) {
    /** As the Python API and {@code verify --json} give it ({@code against} null when none). */
    public com.fasterxml.jackson.databind.node.ObjectNode toJson() {
      com.fasterxml.jackson.databind.node.ObjectNode o =
          com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
      o.put("dir", dir);
      o.put("files", files);
      o.put("bytes", bytes);
      o.put("tensors", tensors);
      o.put("against", against);
      return o;
    }
  }

  public static Result verify(SparkSession spark, String dir) throws IOException {
    return verify(spark, dir, null);
  }

  /**
   * As {@link #verify(SparkSession, String)}, and, when {@code against} is not null, checks that
   * the checkpoint is what compressing {@code against} (the original checkpoint: safetensors file,
   * directory or index, or ONNX) gives: the same tensor names, dtypes, shapes and source files;
   * dense tensors byte-identical to the input; and the stored codes of every compressed tensor
   * exactly the nearest-centroid codes of the input's weights under the stored codebook and
   * scale, derived by the encode pass's own code path. One Spark task per data file.
   */
  public static Result verify(SparkSession spark, String dir, String against) throws IOException {
    return verify(spark, dir, against, null);
  }

  /** As {@link #verify(SparkSession, String, String)}, reporting each phase to {@code progress}. */
  public static Result verify(SparkSession spark, String dir, String against,
      ProgressListener progress) throws IOException {
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    try (JobPhases phases = JobPhases.start(jsc, "verify", progress)) {
      Result r = verify(jsc, dir, against, phases);
      phases.end();
      return r;
    }
  }

  private static Result verify(JavaSparkContext jsc, String dir, String against, JobPhases phases)
      throws IOException {
    phases.begin("checksum", "check " + dir + ": every file's size and CRC-32C");
    Configuration conf = jsc.hadoopConfiguration();
    // _SUCCESS, manifest rules, every listed file present with its listed size.
    CompressedCheckpoint checkpoint = CompressedCheckpoint.open(HadoopDirectory.of(dir, conf));
    Path in = new Path(checkpoint.directory().path());
    Manifest manifest = checkpoint.manifest();
    // Every tensor decodes: headers, keys, dtypes, sizes, codebooks and per-tensor parameters.
    List<StoredTensor> stored = checkpoint.tensors();

    checkNothingUnlisted(checkpoint);
    checkExtras(checkpoint);
    ChecksumPass.run(jsc, in, manifest, conf, new ReadMeter(jsc), phases);
    if (against != null) {
      phases.begin("compare", "compare with " + against);
      compareWithInput(jsc, manifest, stored, against, conf, phases);
    }
    long bytes = 0;
    for (Manifest.FileEntry f : manifest.files()) {
      bytes += f.size();
    }
    return new Result(in.toString(), manifest.files().size(), bytes, manifest.tensors().size(),
        against);
  }

  /**
   * Files a committed checkpoint holds besides the ones its manifest lists. Only the manifest and
   * _SUCCESS are checked for elsewhere: checkpoints of earlier versions lack report.html.
   */
  static final java.util.Set<String> METADATA_FILES = java.util.Set.of(OutputDirectory.SUCCESS,
      Manifest.FILE_NAME, CompressJob.REPORT_FILE, HtmlReport.FILE, "evaluation.json");

  /**
   * Nothing in the directory but the listed files and the metadata: no second version of a part
   * from a duplicate task attempt, no temp files, no leftovers of an earlier run.
   */
  static void checkNothingUnlisted(CompressedCheckpoint checkpoint) throws IOException {
    java.util.Set<String> listed = new java.util.HashSet<>(METADATA_FILES);
    for (Manifest.FileEntry f : checkpoint.manifest().files()) {
      listed.add(f.name());
    }
    // Extras may lie one directory down (report/tensors.parquet): that directory holds only them.
    java.util.Set<String> extraDirs = new java.util.TreeSet<>();
    for (Manifest.Extra e : checkpoint.manifest().extras()) {
      listed.add(e.name());
      int slash = e.name().indexOf('/');
      if (slash > 0) {
        extraDirs.add(e.name().substring(0, slash));
      }
    }
    List<String> unlisted = new ArrayList<>();
    for (String name : checkpoint.directory().list()) {
      String dirName = name.endsWith("/") ? name.substring(0, name.length() - 1) : null;
      if (dirName != null && extraDirs.contains(dirName)) {
        for (String inner : checkpoint.directory().list(dirName)) {
          if (!listed.contains(dirName + "/" + inner)) {
            unlisted.add(dirName + "/" + inner);
          }
        }
      } else if (!listed.contains(name)) {
        unlisted.add(name);
      }
    }
    if (!unlisted.isEmpty()) {
      java.util.Collections.sort(unlisted);
      throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, checkpoint.directory().path(),
          "holds " + unlisted.size() + " file(s) the manifest does not list: "
              + String.join(", ", unlisted.subList(0, Math.min(10, unlisted.size())))
              + (unlisted.size() > 10 ? ", ..." : ""));
    }
  }

  /**
   * Every extra is a file of its format: for Parquet, "PAR1" at both ends and a footer that fits
   * in the file (what a reader checks before anything else). Extras are listed by name only, so
   * this is what verify can check of them (see {@link Manifest.Extra}).
   */
  static void checkExtras(CompressedCheckpoint checkpoint) throws IOException {
    for (Manifest.Extra e : checkpoint.manifest().extras()) {
      long len = checkpoint.directory().length(e.name());
      String problem = null;
      if (len < 12) {
        problem = "is " + len + " bytes, too short for a Parquet file";
      } else {
        byte[] head = new byte[4];
        byte[] tail = new byte[8];
        try (RangeReader r = checkpoint.directory().file(e.name(), len).open()) {
          r.readFully(0, head, 0, 4);
          r.readFully(len - 8, tail, 0, 8);
        }
        long footer = java.nio.ByteBuffer.wrap(tail, 0, 4).order(java.nio.ByteOrder.LITTLE_ENDIAN)
            .getInt() & 0xffffffffL;
        if (!Arrays.equals(head, PARQUET_MAGIC)
            || !Arrays.equals(Arrays.copyOfRange(tail, 4, 8), PARQUET_MAGIC)) {
          problem = "is not a Parquet file (no PAR1 at its start and end)";
        } else if (footer > len - 12) {
          problem = "has a Parquet footer of " + footer + " bytes in a file of " + len;
        }
      }
      if (problem != null) {
        throw new CheckpointFormatException(Reason.INVALID_COMPRESSED,
            checkpoint.directory().child(e.name()), null, problem);
      }
    }
  }

  private static final byte[] PARQUET_MAGIC = {'P', 'A', 'R', '1'};

  /** A tensor to compare: its bytes in the input, and how the checkpoint stores it. */
  /**
   * @param storedBooks whether the tensor's per-channel codebooks were fitted with an importance
   *     the checkpoint does not hold: its codes are checked against the stored codebooks
   */
  record AgainstCheck(int index, String originalPath, long originalLength, long originalOffset,
      StoredTensor stored, boolean storedBooks) implements Serializable {}

  /** The tensors one data file of the checkpoint stores. */
  record AgainstTask(String dataFile, List<AgainstCheck> checks) implements Serializable {}

  /** A tensor that does not match the input; {@code index} orders them as the manifest does. */
  record Mismatch(int index, String file, String tensor, String detail) implements Serializable {}

  private static void compareWithInput(JavaSparkContext jsc, Manifest manifest,
      List<StoredTensor> stored, String against, Configuration conf, JobPhases phases)
      throws IOException {
    SourceCheckpoint src = CheckpointLocator.read(against, conf);
    Path srcDir = new Path(src.directory());
    Map<String, SourceCheckpoint.SourceFile> fileOf = new HashMap<>();
    Map<String, SourceCheckpoint.SourceTensor> inputTensors = new LinkedHashMap<>();
    for (SourceCheckpoint.SourceFile f : src.files()) {
      for (SourceCheckpoint.SourceTensor t : f.tensors()) {
        inputTensors.put(t.name(), t);
        fileOf.put(t.name(), f);
      }
    }
    Map<String, Manifest.TensorEntry> entries = new LinkedHashMap<>();
    for (Manifest.TensorEntry t : manifest.tensors()) {
      entries.put(t.name(), t);
    }
    // Names, dtypes, shapes and files first: a missing tensor is named as such, not as a size.
    for (Map.Entry<String, SourceCheckpoint.SourceTensor> e : inputTensors.entrySet()) {
      if (!entries.containsKey(e.getKey())) {
        throw mismatch(new Path(srcDir, fileOf.get(e.getKey()).name()), e.getKey(),
            "is in the input but not in the compressed checkpoint");
      }
    }
    for (Manifest.TensorEntry t : manifest.tensors()) {
      SourceCheckpoint.SourceTensor in = inputTensors.get(t.name());
      if (in == null) {
        throw mismatch(new Path(srcDir, t.sourceFile()), t.name(),
            "is in the compressed checkpoint but not in the input");
      }
      String inFile = fileOf.get(t.name()).name();
      if (!inFile.equals(t.sourceFile())) {
        throw mismatch(new Path(srcDir, inFile), t.name(),
            "is in " + inFile + " of the input but came from " + t.sourceFile());
      }
      if (!in.dtype().name().equals(t.dtype()) || !Arrays.equals(in.shape(), t.shape())) {
        throw mismatch(new Path(srcDir, inFile), t.name(),
            "is " + in.dtype() + Arrays.toString(in.shape()) + " in the input but "
                + t.dtype() + Arrays.toString(t.shape()) + " in the compressed checkpoint");
      }
    }
    Map<String, SourceCheckpoint.SourceFile> inputFiles = new LinkedHashMap<>();
    src.files().forEach(f -> inputFiles.put(f.name(), f));
    for (Manifest.SourceFileEntry f : manifest.source().files()) {
      SourceCheckpoint.SourceFile in = inputFiles.get(f.name());
      if (in == null) {
        throw mismatch(new Path(srcDir, f.name()), null,
            "the checkpoint was compressed from this file, which the input does not have");
      }
      if (in.length() != f.size() || !in.metadata().equals(f.metadata())) {
        throw mismatch(new Path(srcDir, f.name()), null,
            "is " + in.length() + " bytes with metadata " + in.metadata()
                + "; the checkpoint was compressed from " + f.size() + " bytes with metadata "
                + f.metadata());
      }
    }

    Map<String, List<AgainstCheck>> byDataFile = new LinkedHashMap<>();
    for (int i = 0; i < manifest.tensors().size(); i++) {
      Manifest.TensorEntry t = manifest.tensors().get(i);
      SourceCheckpoint.SourceFile f = fileOf.get(t.name());
      StoredTensor item = stored.get(i);
      boolean storedBooks = t.group() >= 0 && manifest.groups().get(t.group()).importance()
          && item.codebook() != null;
      byDataFile.computeIfAbsent(item.dataFile(), k -> new ArrayList<>()).add(new AgainstCheck(i,
          new Path(srcDir, f.name()).toString(), f.length(), inputTensors.get(t.name()).offset(), item,
          storedBooks));
    }
    List<AgainstTask> tasks = new ArrayList<>();
    byDataFile.forEach((file, checks) -> tasks.add(new AgainstTask(file, checks)));
    if (tasks.isEmpty()) {
      return;
    }
    SerializableConfiguration c = new SerializableConfiguration(conf);
    long chunkBytes = JobConfig.DEFAULT_CHUNK_BYTES;
    jsc.setJobDescription("sparticle: verify " + manifest.tensors().size() + " tensors against " + against);
    long[] read = new long[tasks.size()]; // the input bytes each task re-encodes, for progress
    for (int i = 0; i < read.length; i++) {
      for (AgainstCheck check : tasks.get(i).checks()) {
        read[i] += check.stored().numel() * check.stored().dtype().byteSize();
      }
    }
    List<Mismatch> bad = phases.track(jsc.parallelize(tasks, tasks.size()), read)
        .flatMap(t -> compare(t, chunkBytes, c).iterator())
        .collect();
    if (!bad.isEmpty()) {
      Mismatch first = bad.stream().min(java.util.Comparator.comparingInt(Mismatch::index)).orElseThrow();
      throw new CheckpointFormatException(Reason.DOES_NOT_MATCH_INPUT, first.file(), first.tensor(),
          first.detail() + (bad.size() > 1 ? " (and " + (bad.size() - 1) + " more tensor(s))" : ""));
    }
  }

  private static CheckpointFormatException mismatch(Path file, String tensor, String detail) {
    return new CheckpointFormatException(Reason.DOES_NOT_MATCH_INPUT, file.toString(), tensor, detail);
  }

  /** The tensors of one data file that do not match the input, at most one entry each. */
  static List<Mismatch> compare(AgainstTask task, long chunkBytes, SerializableConfiguration conf)
      throws IOException {
    List<Mismatch> out = new ArrayList<>();
    String where = new Path(task.dataFile()).getName();
    try (SequentialReaders stored = new SequentialReaders(conf.get());
        SequentialReaders original = new SequentialReaders(conf.get())) {
      for (AgainstCheck check : task.checks()) {
        StoredTensor item = check.stored();
        RangeReader s = stored.get(item.dataFile(), item.dataFileLength());
        RangeReader o = original.get(check.originalPath(), check.originalLength());
        String problem = item.dense()
            ? compareDense(o, check.originalOffset(), s, item.offset(), item.byteLength(), chunkBytes)
            : compareCodes(o, check.originalOffset(), s, item, check.storedBooks(), chunkBytes);
        if (problem != null) {
          out.add(new Mismatch(check.index(), check.originalPath(), item.name(),
              problem + " (stored in " + where + ")"));
        }
      }
    }
    return out;
  }

  /** Null when the stored dense bytes equal the input's; else where they first differ. */
  private static String compareDense(RangeReader original, long originalOffset, RangeReader stored,
      long storedOffset, long length, long chunkBytes) throws IOException {
    int size = (int) Math.max(1, Math.min(chunkBytes, length));
    byte[] a = new byte[size];
    byte[] b = new byte[size];
    for (long done = 0; done < length; ) {
      PartWriter.stopIfKilled();
      int n = (int) Math.min(size, length - done);
      original.readFully(originalOffset + done, a, 0, n);
      stored.readFully(storedOffset + done, b, 0, n);
      int m = Arrays.mismatch(a, 0, n, b, 0, n);
      if (m >= 0) {
        return "dense bytes differ from the input's at byte " + (done + m) + " of " + length;
      }
      done += n;
    }
    return null;
  }

  /** Stops the encoder at the first difference. */
  private static final class Found extends IOException {
    private static final long serialVersionUID = 1L;
    final String detail;

    Found(String detail) {
      super(detail);
      this.detail = detail;
    }

    @Override
    public synchronized Throwable fillInStackTrace() {
      return this; // control flow, not an error
    }
  }

  /**
   * Null when the stored codes (and per-tensor parameters) are exactly what the encode pass makes
   * of the input's weights with the stored method and, for a shared codebook, the stored codebook
   * and scale; else the first weight whose code differs.
   */
  private static String compareCodes(RangeReader original, long originalOffset, RangeReader stored,
      StoredTensor item, boolean storedBooks, long chunkBytes) throws IOException {
    int bits = item.codeBits();
    io.sparticle.format.CodeReader reader = io.sparticle.format.CodeReader.open(item, stored);
    int[][] buf = {new int[0], new int[0]};
    float[][] books = null;
    if (storedBooks) {
      io.sparticle.quant.KMeansCodec codec = (io.sparticle.quant.KMeansCodec) item.codec(stored);
      books = new float[Math.toIntExact(item.layout().numUnits())][];
      for (int u = 0; u < books.length; u++) {
        books[u] = codec.codebook(u).centroids();
      }
    }
    TensorEncoder.Encoded encoded;
    try {
      encoded = TensorEncoder.encode(original, originalOffset, item.dtype(), item.shape(),
          item.axis(), item.spec(), item.sharedCodebook(), item.scale(),
          item.outliers() == null ? io.sparticle.quant.ValueHistogram.Outliers.NONE
              : item.outliers().rule(),
          item.pruned() == null ? io.sparticle.quant.ValueHistogram.Pruned.NONE : item.pruned(),
          null, books, item.mixture(), chunkBytes,
          (first, n, packed, packedBytes) -> {
            if (buf[0].length < n) {
              buf[0] = new int[n];
              buf[1] = new int[n];
            }
            int[] want = buf[0];
            int[] have = buf[1];
            if (bits <= BitPacking.MAX_BITS_PER_VALUE) {
              byte[] w = new byte[n];
              BitPacking.unpack(packed, 0, n, bits, w, 0);
              for (int i = 0; i < n; i++) {
                want[i] = w[i] & 0xFF;
              }
            } else {
              short[] w = new short[n];
              BitPacking.unpack(packed, 0, n, bits, w, 0);
              for (int i = 0; i < n; i++) {
                want[i] = w[i] & 0xFFFF;
              }
            }
            reader.read(first, n, have);
            int i = Arrays.mismatch(want, 0, n, have, 0, n);
            if (i >= 0) {
              String unit = item.spec().vector() ? "sub-vector " : "weight ";
              throw new Found(unit + (first + i) + " of " + item.numCodes() + " encodes to code "
                  + want[i] + (item.spec().sharedCodebook()
                      ? " with the stored codebook and scale" : " with " + item.spec().describe())
                  + ", but the checkpoint stores code " + have[i]);
            }
          }, PartWriter::stopIfKilled);
    } catch (Found f) {
      return f.detail;
    }
    byte[] params = encoded.params();
    if (params.length > 0) {
      // Per-tensor parameters follow the codes in the order the layout lists them.
      StoredTensor.Aux first = item.codebook() != null ? item.codebook()
          : item.scales() != null ? item.scales() : item.outliers().counts();
      byte[] have = new byte[params.length];
      stored.readFully(first.offset(), have, 0, have.length);
      int m = Arrays.mismatch(params, have);
      if (m >= 0) {
        return "its " + (item.codebook() != null ? "per-channel codebooks"
            : item.scales() != null ? "scales, zero points or outliers" : "outliers")
            + " differ from what encoding the input gives, at byte " + m + " of " + params.length;
      }
    }
    return null;
  }
}
