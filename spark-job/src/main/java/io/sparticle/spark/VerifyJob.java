package io.sparticle.spark;

import io.sparticle.format.CheckpointFormatException;
import io.sparticle.format.CheckpointFormatException.Reason;
import io.sparticle.format.Manifest;
import io.sparticle.io.RangeReader;
import io.sparticle.io.SequentialReaders;
import io.sparticle.packing.BitPacking;
import io.sparticle.plan.JobConfig;
import io.sparticle.plan.SourceCheckpoint;
import io.sparticle.quant.Codebook;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;
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
  public record Result(String dir, int files, long bytes, int tensors, String against) {}

  record FileCheck(String path, String name, long size, String crc32c) implements Serializable {}

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
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    Configuration conf = jsc.hadoopConfiguration();
    Path in = new Path(dir).getFileSystem(conf).makeQualified(new Path(dir));
    // _SUCCESS, manifest rules, every listed file present with its listed size.
    Manifest manifest = DecompressJob.readManifest(in.toString(), conf);
    // Every tensor decodes: headers, keys, dtypes, sizes, codebooks.
    Map<String, List<DecompressJob.Item>> bySource = DecompressJob.itemsBySource(in, manifest, conf);

    checkNothingUnlisted(in, manifest, conf);
    checkChecksums(jsc, in, manifest, conf, new ReadMeter(jsc));
    if (against != null) {
      compareWithInput(jsc, manifest, bySource, against, conf);
    }
    long bytes = 0;
    for (Manifest.FileEntry f : manifest.files()) {
      bytes += f.size();
    }
    return new Result(in.toString(), manifest.files().size(), bytes, manifest.tensors().size(),
        against);
  }

  /** Files a committed checkpoint holds besides the ones its manifest lists. */
  static final java.util.Set<String> METADATA_FILES = java.util.Set.of(OutputDirectory.SUCCESS,
      Manifest.FILE_NAME, CompressJob.REPORT_FILE, "evaluation.json");

  /**
   * Nothing in the directory but the listed files and the metadata: no second version of a part
   * from a duplicate task attempt, no temp files, no leftovers of an earlier run.
   */
  static void checkNothingUnlisted(Path dir, Manifest manifest, Configuration conf)
      throws IOException {
    java.util.Set<String> listed = new java.util.HashSet<>(METADATA_FILES);
    for (Manifest.FileEntry f : manifest.files()) {
      listed.add(f.name());
    }
    org.apache.hadoop.fs.FileSystem fs = dir.getFileSystem(conf);
    List<String> unlisted = new ArrayList<>();
    for (org.apache.hadoop.fs.FileStatus st : fs.listStatus(dir)) {
      String name = st.getPath().getName();
      if (!listed.contains(name)) {
        unlisted.add(st.isDirectory() ? name + "/" : name);
      }
    }
    if (!unlisted.isEmpty()) {
      java.util.Collections.sort(unlisted);
      throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, dir.toString(),
          "holds " + unlisted.size() + " file(s) the manifest does not list: "
              + String.join(", ", unlisted.subList(0, Math.min(10, unlisted.size())))
              + (unlisted.size() > 10 ? ", ..." : ""));
    }
  }

  /** A tensor to compare: its bytes in the input, and how the checkpoint stores it. */
  record AgainstCheck(int index, String originalPath, long originalLength, long originalOffset,
      DecompressJob.Item stored) implements Serializable {}

  /** The tensors one data file of the checkpoint stores. */
  record AgainstTask(String dataFile, List<AgainstCheck> checks) implements Serializable {}

  /** A tensor that does not match the input; {@code index} orders them as the manifest does. */
  record Mismatch(int index, String file, String tensor, String detail) implements Serializable {}

  private static void compareWithInput(JavaSparkContext jsc, Manifest manifest,
      Map<String, List<DecompressJob.Item>> bySource, String against, Configuration conf)
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
    Map<String, Manifest.TensorEntry> stored = new LinkedHashMap<>();
    for (Manifest.TensorEntry t : manifest.tensors()) {
      stored.put(t.name(), t);
    }
    // Names, dtypes, shapes and files first: a missing tensor is named as such, not as a size.
    for (Map.Entry<String, SourceCheckpoint.SourceTensor> e : inputTensors.entrySet()) {
      if (!stored.containsKey(e.getKey())) {
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

    Map<String, DecompressJob.Item> items = new HashMap<>();
    bySource.values().forEach(l -> l.forEach(i -> items.put(i.name(), i)));
    Map<String, List<AgainstCheck>> byDataFile = new LinkedHashMap<>();
    for (int i = 0; i < manifest.tensors().size(); i++) {
      Manifest.TensorEntry t = manifest.tensors().get(i);
      SourceCheckpoint.SourceFile f = fileOf.get(t.name());
      DecompressJob.Item item = items.get(t.name());
      byDataFile.computeIfAbsent(item.dataFile(), k -> new ArrayList<>()).add(new AgainstCheck(i,
          new Path(srcDir, f.name()).toString(), f.length(), inputTensors.get(t.name()).offset(), item));
    }
    List<AgainstTask> tasks = new ArrayList<>();
    byDataFile.forEach((file, checks) -> tasks.add(new AgainstTask(file, checks)));
    if (tasks.isEmpty()) {
      return;
    }
    SerializableConfiguration c = new SerializableConfiguration(conf);
    long chunkBytes = JobConfig.DEFAULT_CHUNK_BYTES;
    jsc.setJobDescription("sparticle: verify " + manifest.tensors().size() + " tensors against " + against);
    List<Mismatch> bad = jsc.parallelize(tasks, tasks.size())
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
        DecompressJob.Item item = check.stored();
        RangeReader s = stored.get(item.dataFile(), item.dataFileLength());
        RangeReader o = original.get(check.originalPath(), check.originalLength());
        String problem = item.centroids() == null
            ? compareDense(o, check.originalOffset(), s, item.offset(), item.byteLength(), chunkBytes)
            : compareCodes(o, check.originalOffset(), s, item, chunkBytes);
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
   * Null when the stored codes are exactly what the encode pass makes of the input's weights with
   * the stored codebook and scale; else the first weight whose code differs.
   */
  private static String compareCodes(RangeReader original, long originalOffset, RangeReader stored,
      DecompressJob.Item item, long chunkBytes) throws IOException {
    int bits = item.bits();
    byte[][] buf = {new byte[0]};
    try {
      EncodePass.encodeTensor(original, item.dtype(), originalOffset, item.numel(), bits,
          Codebook.of(item.centroids()), item.scale(), chunkBytes, (first, n, packed, packedBytes) -> {
            if (buf[0].length < packedBytes) {
              buf[0] = new byte[packedBytes];
            }
            stored.readFully(item.offset() + first / 8 * bits, buf[0], 0, packedBytes);
            if (Arrays.mismatch(packed, 0, packedBytes, buf[0], 0, packedBytes) >= 0) {
              byte[] want = new byte[n];
              byte[] have = new byte[n];
              BitPacking.unpack(packed, 0, n, bits, want, 0);
              BitPacking.unpack(buf[0], 0, n, bits, have, 0);
              int i = Arrays.mismatch(want, have);
              throw new Found(i < 0
                  ? "packed codes differ from the input's in their padding bits"
                  : "weight " + (first + i) + " of " + item.numel() + " encodes to code "
                      + (want[i] & 0xFF) + " with the stored codebook and scale, but the checkpoint "
                      + "stores code " + (have[i] & 0xFF));
            }
          });
    } catch (Found f) {
      return f.detail;
    }
    return null;
  }

  /**
   * Reads every file of the manifest on Spark, one task per file, and fails naming each whose
   * CRC-32C is not the manifest's. Decompress runs this too: a flipped bit in packed codes would
   * otherwise decode silently to other weights.
   */
  static void checkChecksums(JavaSparkContext jsc, Path in, Manifest manifest, Configuration conf,
      ReadMeter meter) throws CheckpointFormatException {
    List<FileCheck> files = new ArrayList<>();
    for (Manifest.FileEntry f : manifest.files()) {
      files.add(new FileCheck(new Path(in, f.name()).toString(), f.name(), f.size(), f.crc32c()));
    }
    SerializableConfiguration c = new SerializableConfiguration(conf);
    jsc.setJobDescription("sparticle: verify checksums of " + files.size() + " files");
    List<String> bad = jsc.parallelize(files, Math.max(1, files.size()))
        .map(f -> checksum(f, c, meter))
        .filter(problem -> !problem.isEmpty())
        .collect();
    if (!bad.isEmpty()) {
      throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, in.toString(), null,
          String.join("; ", bad));
    }
  }

  /** Empty when the file's CRC-32C is the manifest's; else what is wrong. */
  static String checksum(FileCheck f, SerializableConfiguration conf, ReadMeter meter)
      throws IOException {
    CRC32C crc = new CRC32C();
    byte[] buf = new byte[(int) Math.min(8 << 20, Math.max(1, f.size()))];
    SequentialReaders readers = new SequentialReaders(conf.get());
    try (readers) {
      RangeReader in = readers.get(f.path(), f.size());
      for (long done = 0; done < f.size(); ) {
        PartWriter.stopIfKilled();
        int n = (int) Math.min(buf.length, f.size() - done);
        in.readFully(done, buf, 0, n);
        crc.update(buf, 0, n);
        done += n;
      }
    }
    meter.add(readers.stats());
    String actual = String.format("%08x", crc.getValue());
    return actual.equals(f.crc32c()) ? ""
        : f.name() + " has CRC-32C " + actual + " but the manifest says " + f.crc32c();
  }
}
