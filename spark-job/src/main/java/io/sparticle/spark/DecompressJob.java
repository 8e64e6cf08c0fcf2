package io.sparticle.spark;

import io.sparticle.format.CheckpointFormatException;
import io.sparticle.format.CheckpointFormatException.Reason;
import io.sparticle.format.DType;
import io.sparticle.format.Manifest;
import io.sparticle.format.SafetensorsHeader;
import io.sparticle.format.SafetensorsLayout;
import io.sparticle.format.SafetensorsReader;
import io.sparticle.format.ShardIndex;
import io.sparticle.format.TensorInfo;
import io.sparticle.io.HadoopInputFile;
import io.sparticle.io.RangeReader;
import io.sparticle.io.SequentialReaders;
import io.sparticle.packing.BitPacking;
import io.sparticle.plan.JobConfig;
import io.sparticle.quant.HalfFloats;
import io.sparticle.quant.ValueKind;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
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
  private final SparkSession spark;
  private String input;
  private String output;
  private boolean overwrite;
  private long chunkBytes = JobConfig.DEFAULT_CHUNK_BYTES;
  private String format;

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
   * {@code onnx} or {@code safetensors}; by default what the source was. An ONNX source can be
   * rebuilt as a working .onnx (from its skeleton) or as one {@code model.safetensors}.
   */
  public DecompressJob format(String format) {
    if (format != null && !format.equals("onnx") && !format.equals("safetensors")) {
      throw new IllegalArgumentException("Cannot set format to " + format + ": must be onnx or safetensors");
    }
    this.format = format;
    return this;
  }

  public DecompressJob chunkBytes(long bytes) {
    this.chunkBytes = bytes;
    return this;
  }

  /** Result of a decompress run. */
  /**
   * Result of a decompress run; {@code readRequests} is -1 when the store does not count them.
   */
  public record Result(String output, int files, long params, long bytes, double seconds,
      long readBytes, long readRequests) {}

  record Item(String name, DType dtype, String dataFile, long dataFileLength, long offset,
      long numel, long byteLength,
      int bits, float[] centroids, float scale) implements Serializable {}

  /**
   * One output file. For safetensors, {@code header} then the items' bytes. For ONNX, the
   * skeleton's bytes with each hole filled by its item's bytes, in order.
   */
  record Task(String fileName, byte[] header, long expectedLength, List<Item> items,
      String skeleton, long skeletonLength, List<Manifest.Hole> holes)
      implements Serializable {
    Task(String fileName, byte[] header, long expectedLength, List<Item> items) {
      this(fileName, header, expectedLength, items, null, 0, List.of());
    }
  }

  /** Reads and checks a committed compressed checkpoint's manifest. */
  public static Manifest readManifest(String dir, Configuration conf) throws IOException {
    Path d = new Path(dir);
    FileSystem fs = d.getFileSystem(conf);
    if (!fs.exists(new Path(d, OutputDirectory.SUCCESS))) {
      if (!fs.exists(d)) {
        throw new FileNotFoundException("Input " + dir + " does not exist");
      }
      throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, dir, null,
          "no " + OutputDirectory.SUCCESS + " marker: the compressed checkpoint is incomplete or is not one");
    }
    Path m = new Path(d, Manifest.FILE_NAME);
    long len = fs.getFileStatus(m).getLen();
    if (len > Manifest.MAX_BYTES) {
      throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, m.toString(), null,
          "manifest is " + len + " bytes, over the limit of " + Manifest.MAX_BYTES);
    }
    byte[] json;
    try (InputStream in = fs.open(m)) {
      json = in.readAllBytes();
    }
    Manifest manifest = Manifest.parse(m.toString(), json);
    for (Manifest.FileEntry f : manifest.files()) {
      Path p = new Path(d, f.name());
      FileStatus st;
      try {
        st = fs.getFileStatus(p);
      } catch (FileNotFoundException e) {
        throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, p.toString(), null,
            "listed in the manifest but missing");
      }
      if (st.getLen() != f.size()) {
        throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, p.toString(), null,
            "is " + st.getLen() + " bytes but the manifest says " + f.size());
      }
    }
    return manifest;
  }

  public Result execute() throws IOException {
    if (input == null || output == null) {
      throw new IllegalArgumentException("Both input and output must be set");
    }
    long start = System.nanoTime();
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    Configuration hadoop = jsc.hadoopConfiguration();
    Path in = new Path(input).getFileSystem(hadoop).makeQualified(new Path(input));
    Manifest manifest = readManifest(in.toString(), hadoop);
    Map<String, List<Item>> bySource = itemsBySource(in, manifest, hadoop);
    // Before anything is written: a corrupt part must not decode into plausible weights.
    ReadMeter meter = new ReadMeter(jsc); // counts the checksum reads too
    VerifyJob.checkChecksums(jsc, in, manifest, hadoop, meter);
    long params = 0;
    for (Manifest.TensorEntry t : manifest.tensors()) {
      params += t.numel();
    }
    OutputDirectory.Prepared prepared = OutputDirectory.prepare("decompress", output, in.toString(), overwrite, hadoop);
    boolean done = false;
    try {
      Result r = run(jsc, hadoop, in, manifest, bySource, params, prepared.path(), start, meter);
      done = true;
      return r;
    } finally {
      if (!done) {
        prepared.cleanUpAfterFailure();
      }
    }
  }

  private Result run(JavaSparkContext jsc, Configuration hadoop, Path in, Manifest manifest,
      Map<String, List<Item>> bySource, long params, Path out, long start, ReadMeter meter)
      throws IOException {

    Map<String, long[]> shapes = new HashMap<>();
    for (Manifest.TensorEntry t : manifest.tensors()) {
      shapes.put(t.name(), t.shape());
    }
    Manifest.OnnxSource onnx = manifest.source().onnx();
    if ("onnx".equals(format) && onnx == null) {
      throw new IllegalArgumentException("Cannot decompress " + input + " to ONNX: its source was "
          + manifest.source().format());
    }
    List<Task> tasks = new ArrayList<>();
    if (onnx != null && !"safetensors".equals(format)) {
      tasks.add(onnxTask(in, manifest, onnx, bySource));
    } else if (onnx != null) {
      // An ONNX source as safetensors: every tensor in one model.safetensors.
      SafetensorsLayout.Builder b = SafetensorsLayout.builder();
      List<Item> all = new ArrayList<>();
      for (List<Item> items : bySource.values()) {
        for (Item item : items) {
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
        for (Item item : bySource.get(f.name())) {
          b.add(item.name(), item.dtype(), shapes.get(item.name()));
        }
        SafetensorsLayout layout = b.build();
        tasks.add(new Task(f.name(), layout.headerBytes(), layout.fileLength(), bySource.get(f.name())));
      }
    }
    SerializableConfiguration conf = new SerializableConfiguration(hadoop);
    String outDir = out.toString();
    long chunk = chunkBytes;
    jsc.setJobDescription("sparticle: decompress " + tasks.size() + " files");
    List<Long> sizes = jsc.parallelize(tasks, Math.max(1, tasks.size()))
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
        meter.bytes(), meter.requests());
  }

  /**
   * Every tensor of a compressed checkpoint, checked against its data file and codebook and
   * ready to decode, grouped by source file: codebooks finite and of shape [k], each data file's
   * header valid, each tensor stored under its key with the dtype and size the manifest implies.
   */
  static Map<String, List<Item>> itemsBySource(Path in, Manifest manifest, Configuration conf)
      throws IOException {
    float[][] codebooks = readCodebooks(in, manifest, conf);
    // Headers of the data files that hold tensors (not the skeleton of an ONNX source).
    Map<String, SafetensorsHeader> headers = new HashMap<>();
    for (Manifest.TensorEntry t : manifest.tensors()) {
      if (!headers.containsKey(t.file())) {
        headers.put(t.file(), SafetensorsReader.readHeader(
            HadoopInputFile.of(new Path(in, t.file()), conf, sizeOf(manifest, t.file()))));
      }
    }
    Map<String, List<Item>> bySource = new LinkedHashMap<>();
    for (Manifest.SourceFileEntry f : manifest.source().files()) {
      bySource.put(f.name(), new ArrayList<>());
    }
    for (Manifest.TensorEntry t : manifest.tensors()) {
      bySource.get(t.sourceFile()).add(item(in, t, headers.get(t.file()), manifest, codebooks));
    }
    return bySource;
  }

  private static long sizeOf(Manifest m, String file) {
    for (Manifest.FileEntry f : m.files()) {
      if (f.name().equals(file)) {
        return f.size();
      }
    }
    throw new IllegalStateException(file);
  }

  /** The rebuilt .onnx: the skeleton with every hole filled by its tensor's bytes. */
  private static Task onnxTask(Path in, Manifest manifest, Manifest.OnnxSource onnx,
      Map<String, List<Item>> bySource) throws CheckpointFormatException {
    Map<String, Item> byName = new HashMap<>();
    for (Map.Entry<String, List<Item>> e : bySource.entrySet()) {
      for (Item item : e.getValue()) {
        if (!e.getKey().equals(onnx.modelFile())) {
          throw new IllegalArgumentException("Tensor '" + item.name() + "' lives in the external "
              + "data file " + e.getKey() + ": rebuilding ONNX external data is not supported yet; "
              + "decompress with --format safetensors");
        }
        byName.put(item.name(), item);
      }
    }
    List<Item> items = new ArrayList<>();
    for (Manifest.Hole h : onnx.holes()) {
      Item item = byName.get(h.name());
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
        new Path(in, onnx.skeletonFile()).toString(), sizeOf(manifest, onnx.skeletonFile()),
        onnx.holes());
  }

  private static float[][] readCodebooks(Path in, Manifest manifest, Configuration conf)
      throws IOException {
    Path p = new Path(in, manifest.codebooksFile());
    HadoopInputFile file = HadoopInputFile.of(p, conf, sizeOf(manifest, manifest.codebooksFile()));
    SafetensorsHeader header = SafetensorsReader.readHeader(file);
    float[][] books = new float[manifest.groups().size()][];
    try (RangeReader r = file.open()) {
      for (int g = 0; g < books.length; g++) {
        Manifest.GroupEntry ge = manifest.groups().get(g);
        TensorInfo t = header.tensor(ge.codebook());
        if (t == null || t.rank() != 1 || t.shape()[0] != ge.k() || !t.dtype().isCompressibleFloat()) {
          throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, p.toString(), ge.codebook(),
              "codebook of group '" + ge.name() + "' must be a float tensor of shape [" + ge.k() + "]");
        }
        byte[] raw = new byte[(int) t.byteLength()];
        r.readFully(header.absoluteOffset(t), raw, 0, raw.length);
        float[] c = new float[ge.k()];
        for (int i = 0; i < c.length; i++) {
          c[i] = switch (t.dtype()) {
            case F32 -> Float.intBitsToFloat(le32(raw, i * 4));
            case F16 -> HalfFloats.f16ToFloat((short) le16(raw, i * 2));
            default -> HalfFloats.bf16ToFloat((short) le16(raw, i * 2));
          };
          if (!Float.isFinite(c[i])) {
            throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, p.toString(), ge.codebook(),
                "codebook entry " + i + " is not finite");
          }
        }
        books[g] = c;
      }
    }
    return books;
  }

  private static Item item(Path in, Manifest.TensorEntry t, SafetensorsHeader header,
      Manifest manifest, float[][] codebooks) throws CheckpointFormatException {
    String file = new Path(in, t.file()).toString();
    TensorInfo stored = header.tensor(t.key());
    if (stored == null) {
      throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, file, t.name(),
          "tensor '" + t.key() + "' named by the manifest is not in the file");
    }
    DType dtype = DType.fromName(t.dtype()).orElseThrow();
    long numel = t.numel();
    if (Manifest.ENCODING_DENSE.equals(t.encoding())) {
      if (stored.dtype() != dtype || !java.util.Arrays.equals(stored.shape(), t.shape())) {
        throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, file, t.name(),
            "stored as " + stored.dtype() + java.util.Arrays.toString(stored.shape())
                + " but the manifest says " + dtype + java.util.Arrays.toString(t.shape()));
      }
      return new Item(t.name(), dtype, file, header.fileLength(), header.absoluteOffset(stored), numel,
          stored.byteLength(), 0, null, 1f);
    }
    long packed = BitPacking.bytesRequired(numel, t.bits());
    if (stored.dtype() != DType.U8 || stored.byteLength() != packed) {
      throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, file, t.name(),
          "codes must be U8 [" + packed + "] for " + numel + " values at " + t.bits()
              + " bits, found " + stored.dtype() + java.util.Arrays.toString(stored.shape()));
    }
    return new Item(t.name(), dtype, file, header.fileLength(), header.absoluteOffset(stored), numel,
        packed, t.bits(),
        codebooks[t.group()], t.scale());
  }

  static long decode(Task task, String outDir, long chunkBytes, SerializableConfiguration conf,
      ReadMeter meter) throws IOException {
    SequentialReaders readers = new SequentialReaders(conf.get());
    long size;
    try (PartWriter out = PartWriter.open(outDir, task.fileName(), conf.get()); readers) {
      if (task.skeleton() != null) {
        decodeOnnx(task, out, readers, chunkBytes, conf);
      } else {
        out.write(task.header(), 0, task.header().length);
        List<Item> items = task.items();
        for (int i = 0; i < items.size(); ) {
          Item item = items.get(i);
          RangeReader in = readers.get(item.dataFile(), item.dataFileLength());
          if (item.centroids() != null) {
            decodeTensor(in, item, out, chunkBytes);
            i++;
            continue;
          }
          // A run of dense tensors stored one after the other is one copy (see EncodePass).
          long length = item.byteLength();
          int j = i + 1;
          for (; j < items.size(); j++) {
            Item next = items.get(j);
            if (next.centroids() != null || !next.dataFile().equals(item.dataFile())
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
  private static void writeItem(RangeReader in, Item item, PartWriter out, long chunkBytes)
      throws IOException {
    if (item.centroids() == null) {
      out.copy(in, item.offset(), item.byteLength(), chunkBytes);
    } else {
      decodeTensor(in, item, out, chunkBytes);
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
        Item item = task.items().get(i);
        long gap = hole.offset() - originalPos;
        out.copy(skeleton, skeletonPos, gap, chunkBytes);
        skeletonPos += gap;
        writeItem(readers.get(item.dataFile(), item.dataFileLength()), item, out, chunkBytes);
        originalPos = hole.offset() + hole.length();
      }
      out.copy(skeleton, skeletonPos, task.skeletonLength() - skeletonPos, chunkBytes);
    }
  }

  private static void decodeTensor(RangeReader in, Item item, PartWriter out, long chunkBytes)
      throws IOException {
    ValueKind kind = Kinds.of(item.dtype());
    int size = kind.byteSize();
    int k = item.centroids().length;
    // The bytes a decoder writes for each code: centroid * scale rounded to the dtype.
    int[] raw = new int[k];
    for (int c = 0; c < k; c++) {
      float v = item.centroids()[c] * item.scale();
      raw[c] = switch (kind) {
        case F32 -> Float.floatToRawIntBits(v);
        case F16 -> HalfFloats.floatToF16(v) & 0xFFFF;
        case BF16 -> HalfFloats.floatToBf16(v) & 0xFFFF;
      };
    }
    int bits = item.bits();
    long maxElems = io.sparticle.plan.CompressionPlan.elementsPerChunk(chunkBytes, size);
    int chunkElems = (int) Math.min(maxElems, item.numel());
    byte[] packed = new byte[(int) BitPacking.bytesRequired(chunkElems, bits)];
    byte[] codes = new byte[chunkElems];
    byte[] dense = new byte[chunkElems * size];
    for (long first = 0; first < item.numel(); first += chunkElems) {
      PartWriter.stopIfKilled();
      int n = (int) Math.min(chunkElems, item.numel() - first);
      int packedBytes = (int) BitPacking.bytesRequired(n, bits);
      // first is a multiple of 8, so its codes start on a byte boundary.
      in.readFully(item.offset() + first / 8 * bits, packed, 0, packedBytes);
      BitPacking.unpack(packed, 0, n, bits, codes, 0);
      if (size == 2) {
        for (int i = 0, p = 0; i < n; i++, p += 2) {
          int v = raw[codes[i] & 0xFF];
          dense[p] = (byte) v;
          dense[p + 1] = (byte) (v >>> 8);
        }
      } else {
        for (int i = 0, p = 0; i < n; i++, p += 4) {
          int v = raw[codes[i] & 0xFF];
          dense[p] = (byte) v;
          dense[p + 1] = (byte) (v >>> 8);
          dense[p + 2] = (byte) (v >>> 16);
          dense[p + 3] = (byte) (v >>> 24);
        }
      }
      out.write(dense, 0, n * size);
    }
  }

  private static int le16(byte[] b, int p) {
    return (b[p] & 0xFF) | (b[p + 1] & 0xFF) << 8;
  }

  private static int le32(byte[] b, int p) {
    return (b[p] & 0xFF) | (b[p + 1] & 0xFF) << 8 | (b[p + 2] & 0xFF) << 16 | b[p + 3] << 24;
  }
}
