package io.sparticle.format;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sparticle.quant.CodebookPrecision;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.EncodingSpec.Method;
import io.sparticle.quant.EncodingSpec.Scope;
import io.sparticle.quant.EncodingSpec.ScalePrecision;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.List;
import java.util.Set;

/**
 * The {@code manifest.json} of a compressed checkpoint: every original tensor and where it went,
 * every codebook group, every file with its size and checksum. FORMAT.md is the specification;
 * this class reads and writes it.
 *
 * <pre>{@code
 * Manifest m = Manifest.parse("out/manifest.json", bytes);
 * for (Manifest.TensorEntry t : m.tensors()) { ... }
 * }</pre>
 *
 * <p>Versioning: {@code format_version} is the major version a reader must support; a reader
 * refuses a larger one. {@code required_features} lists extensions a reader must understand to
 * decode correctly (e.g. a future entropy coder); a reader refuses any it does not know. Readers
 * ignore unknown keys, so additive metadata needs neither.
 */
public record Manifest(
    int formatVersion,
    List<String> requiredFeatures,
    String createdBy,
    Source source,
    String codebooksFile,
    List<FileEntry> files,
    List<GroupEntry> groups,
    List<TensorEntry> tensors,
    List<Extra> extras) {

  public static final String FILE_NAME = "manifest.json";
  /**
   * Largest manifest a reader accepts, and so a writer writes: about 500 bytes per tensor for
   * {@link SafetensorsReader#MAX_TENSORS} tensors with long names. Bounds the reader's memory.
   */
  public static final long MAX_BYTES = 256L << 20;
  public static final String FORMAT = "sparticle";
  /** The version this writer writes; readers accept 1 and 2. */
  public static final int FORMAT_VERSION = 2;
  /** Features this reader understands; none exist yet. */
  /** kmeans with scope block: readers before it would reject the group's spec anyway. */
  public static final String FEATURE_BLOCK_SCALES = "block-scales";
  /**
   * Outliers stored beside the codes: a reader that ignored them would write wrong weights
   * silently, so a checkpoint that has them requires the feature.
   */
  public static final String FEATURE_OUTLIERS = "outliers";

  /** The features a checkpoint with these groups requires of its readers. */
  public static List<String> requiredFeatures(List<GroupEntry> groups) {
    java.util.TreeSet<String> f = new java.util.TreeSet<>();
    for (GroupEntry g : groups) {
      if (g.spec().blockScaled()) {
        f.add(FEATURE_BLOCK_SCALES);
      }
      if (g.spec().outliers() > 0) {
        f.add(FEATURE_OUTLIERS);
      }
    }
    return List.copyOf(f);
  }

  public static final Set<String> KNOWN_FEATURES = Set.of(FEATURE_BLOCK_SCALES, FEATURE_OUTLIERS);

  public static final String ENCODING_DENSE = "dense";
  /** Version 1's encoding: codes into the group's shared codebook. */
  public static final String ENCODING_CODEBOOK = "codebook";
  /** Version 2's encoding of every non-dense tensor: codes, decoded by the group's method. */
  public static final String ENCODING_CODES = "codes";
  public static final String METHOD_KMEANS = "kmeans";
  public static final String PACKING_LSB = "lsb";

  public Manifest {
    requiredFeatures = List.copyOf(requiredFeatures);
    files = List.copyOf(files);
    groups = List.copyOf(groups);
    tensors = List.copyOf(tensors);
    extras = List.copyOf(extras);
  }

  /** A manifest without extras. */
  public Manifest(int formatVersion, List<String> requiredFeatures, String createdBy,
      Source source, String codebooksFile, List<FileEntry> files, List<GroupEntry> groups,
      List<TensorEntry> tensors) {
    this(formatVersion, requiredFeatures, createdBy, source, codebooksFile, files, groups, tensors,
        List.of());
  }

  /**
   * A file beside the checkpoint that no decoder reads, such as the report's tables: its name (a
   * plain name, or one directory and a plain name) and its format ({@code "parquet"}). Listed by
   * name only: its contents are measurements, like report.json's, not held to the data files'
   * byte-for-byte promise (a cluster run once wrote tables of other bytes than local mode), while
   * the manifest must stay byte-identical wherever the job runs.
   */
  public record Extra(String name, String format) {}

  /** Formats of {@link Extra} files this reader can check. */
  public static final String EXTRA_PARQUET = "parquet";

  /** The same manifest with these extras. */
  public Manifest withExtras(List<Extra> extras) {
    return new Manifest(formatVersion, requiredFeatures, createdBy, source, codebooksFile, files,
        groups, tensors, extras);
  }

  /**
   * The checkpoint the manifest was made from.
   *
   * @param indexMetadataJson the {@code metadata} object of the source shard index as JSON text,
   *     or null; {@code sharded} tells whether the source had an index at all
   */
  public record Source(
      String format, List<SourceFileEntry> files, boolean sharded, String indexMetadataJson,
      OnnxSource onnx) {
    public Source {
      files = List.copyOf(files);
    }

    public Source(String format, List<SourceFileEntry> files, boolean sharded, String indexMetadataJson) {
      this(format, files, sharded, indexMetadataJson, null);
    }
  }

  /**
   * How to rebuild an ONNX source model: {@code skeletonFile} (one of the manifest's files) holds
   * the model file's bytes with every hole cut out; hole i takes back {@code length} bytes at
   * {@code offset} of the original, the payload of initializer {@code name} (a tensor of the
   * manifest), little-endian in its dtype.
   */
  public record OnnxSource(String modelFile, String skeletonFile, List<Hole> holes) {
    public OnnxSource {
      holes = List.copyOf(holes);
    }
  }

  /** A payload range of the original ONNX model file. */
  public record Hole(String name, long offset, long length) implements java.io.Serializable {}

  /** A source file: its name, size and safetensors {@code __metadata__}, kept for decompress. */
  public record SourceFileEntry(String name, long size, Map<String, String> metadata) {
    public SourceFileEntry {
      metadata = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
    }
  }

  /** An output file and its integrity data; crc32c is 8 lowercase hex digits (CRC-32C). */
  public record FileEntry(String name, long size, String crc32c) {
    public FileEntry {
      if (crc32c == null || !crc32c.matches("[0-9a-f]{8}")) {
        throw new IllegalArgumentException("crc32c of " + name + " must be 8 lowercase hex digits");
      }
    }
  }

  /**
   * A group: tensors encoded the same way.
   *
   * @param spec the method and all of its parameters
   * @param codebook name of the shared codebook tensor in {@link #codebooksFile()} (shape [k]),
   *     or null when the group has none (per-channel codebooks, uniform)
   */
  /**
   * @param importance whether the group's codebooks were fitted with each weight weighted by an
   *     importance (calibration) that the checkpoint does not hold: decoding ignores it; {@code
   *     verify --against} then checks the codes against the stored per-channel codebooks instead
   *     of fitting them again
   */
  /**
   * @param mixture gmm: the fitted mixture's weights, means and variances in code order (the means
   *     are the codebook); decoders ignore it, {@code verify --against} assigns codes from it;
   *     else null
   * @param zeroCode with pruning, the reserved code of the pruned weights in the shared codebook
   *     (its centroid is exactly 0); else -1
   * @param segmentCodes with entropy coding, the codes per segment (the last may be shorter);
   *     else 0
   */
  public record GroupEntry(String name, EncodingSpec spec, String codebook, boolean importance,
      Mixture mixture, int zeroCode, int segmentCodes) {
    public GroupEntry(String name, EncodingSpec spec, String codebook) {
      this(name, spec, codebook, false);
    }

    public GroupEntry(String name, EncodingSpec spec, String codebook, boolean importance) {
      this(name, spec, codebook, importance, null, -1,
          spec.entropy() == EncodingSpec.Entropy.NONE ? 0 : spec.segmentCodes());
    }

    /** A version-1 group: kmeans with one shared codebook. */
    public GroupEntry(String name, String method, int bits, int k, int dim,
        String codebookPrecision, String codebook, boolean perTensorScale) {
      this(name, EncodingSpec.kmeansGroup(bits, CodebookPrecision.parse(codebookPrecision),
          perTensorScale), codebook);
    }

    public int bits() {
      return spec.bits();
    }

    public int k() {
      return spec.k();
    }

    public String method() {
      return spec.method().key();
    }

    public boolean perTensorScale() {
      return spec.perTensorScale();
    }

    public CodebookPrecision codebookPrecision() {
      return spec.codebookPrecision();
    }
  }

  /**
   * One tensor of the original checkpoint.
   *
   * @param encoding {@code dense} (bytes stored unchanged), {@code codebook} (version 1) or
   *     {@code codes} (version 2)
   * @param group index into groups, -1 when dense
   * @param scale per-tensor scale (1.0 unless the group is kmeans with per-tensor scales)
   * @param file the data file that holds it; {@code key} is its packed codes' (or dense bytes')
   *     name inside that file
   * @param axis the channel axis of a channel-scope group (0 or rank - 1), else -1
   * @param codebookKey per-channel codebooks [units, k] in {@code file}, or null
   * @param scaleKey uniform scales [units] in {@code file}, or null
   * @param zeroKey uniform zero points [units] (U8) in {@code file}, or null
   * @param ladderKey the ladder of block-scale magnitudes (F32) in {@code file}, or null
   * @param outliers the weights kept exact, when the group keeps outliers; else null
   */
  public record TensorEntry(
      String name, String dtype, long[] shape, String sourceFile, String encoding, int group,
      int bits, float scale, String packing, String file, String key, int axis,
      String codebookKey, String scaleKey, String zeroKey, String ladderKey, Outliers outliers,
      Pruned pruned, String segmentsKey) {

    public TensorEntry(String name, String dtype, long[] shape, String sourceFile, String encoding,
        int group, int bits, float scale, String packing, String file, String key, int axis,
        String codebookKey, String scaleKey, String zeroKey, String ladderKey, Outliers outliers) {
      this(name, dtype, shape, sourceFile, encoding, group, bits, scale, packing, file, key, axis,
          codebookKey, scaleKey, zeroKey, ladderKey, outliers, null, null);
    }

    public TensorEntry(String name, String dtype, long[] shape, String sourceFile, String encoding,
        int group, int bits, float scale, String packing, String file, String key, int axis,
        String codebookKey, String scaleKey, String zeroKey, String ladderKey) {
      this(name, dtype, shape, sourceFile, encoding, group, bits, scale, packing, file, key, axis,
          codebookKey, scaleKey, zeroKey, ladderKey, null);
    }

    public TensorEntry(String name, String dtype, long[] shape, String sourceFile, String encoding,
        int group, int bits, float scale, String packing, String file, String key, int axis,
        String codebookKey, String scaleKey, String zeroKey) {
      this(name, dtype, shape, sourceFile, encoding, group, bits, scale, packing, file, key, axis,
          codebookKey, scaleKey, zeroKey, null);
    }

    /** A dense or version-1 codebook tensor. */
    public TensorEntry(String name, String dtype, long[] shape, String sourceFile, String encoding,
        int group, int bits, float scale, String packing, String file, String key) {
      this(name, dtype, shape, sourceFile, encoding, group, bits, scale, packing, file, key, -1,
          null, null, null);
    }

    public long numel() {
      return TensorInfo.numel(shape);
    }

    public boolean dense() {
      return ENCODING_DENSE.equals(encoding);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof TensorEntry t && name.equals(t.name) && dtype.equals(t.dtype)
          && Arrays.equals(shape, t.shape) && sourceFile.equals(t.sourceFile)
          && encoding.equals(t.encoding) && group == t.group && bits == t.bits
          && Float.compare(scale, t.scale) == 0 && java.util.Objects.equals(packing, t.packing)
          && file.equals(t.file) && key.equals(t.key) && axis == t.axis
          && java.util.Objects.equals(codebookKey, t.codebookKey)
          && java.util.Objects.equals(scaleKey, t.scaleKey)
          && java.util.Objects.equals(zeroKey, t.zeroKey)
          && java.util.Objects.equals(ladderKey, t.ladderKey)
          && java.util.Objects.equals(outliers, t.outliers)
          && java.util.Objects.equals(pruned, t.pruned)
          && java.util.Objects.equals(segmentsKey, t.segmentsKey);
    }

    @Override
    public int hashCode() {
      return name.hashCode();
    }
  }

  /** A gmm group's mixture, in code order (ascending means). */
  public record Mixture(double[] weights, double[] means, double[] variances)
      implements java.io.Serializable {
    /** Writes {@code {"weights": [...], "means": [...], "variances": [...]}} into {@code m}. */
    public void writeTo(ObjectNode m) {
      double[][] cols = {weights, means, variances};
      String[] keys = {"weights", "means", "variances"};
      for (int i = 0; i < 3; i++) {
        ArrayNode a = m.putArray(keys[i]);
        for (double v : cols[i]) {
          a.add(v);
        }
      }
    }

    // Arrays compare by content, so a manifest read back equals the one written.
    @Override
    public boolean equals(Object o) {
      return o instanceof Mixture m && Arrays.equals(weights, m.weights)
          && Arrays.equals(means, m.means) && Arrays.equals(variances, m.variances);
    }

    @Override
    public int hashCode() {
      return Arrays.hashCode(means);
    }

    @Override
    public String toString() {
      return "Mixture[weights=" + Arrays.toString(weights) + ", means=" + Arrays.toString(means)
          + ", variances=" + Arrays.toString(variances) + "]";
    }
  }

  /** A tensor's pruned weights: the {@code count} weights with {@code |x| <= threshold}, set to 0. */
  public record Pruned(long count, float threshold) implements java.io.Serializable {}

  /**
   * A tensor's outliers: the {@code count} weights with {@code |x| > threshold}, stored sparse
   * (FORMAT.md section 2.7) under three keys of the tensor's data file.
   */
  public record Outliers(long count, float threshold, String countsKey, String indexKey,
      String valuesKey) {}

  private static final ObjectMapper MAPPER = new ObjectMapper()
      .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
      .enable(SerializationFeature.INDENT_OUTPUT);

  /** Deterministic JSON: same manifest, same bytes. */
  public byte[] toJson() {
    ObjectNode root = MAPPER.createObjectNode();
    root.put("format", FORMAT);
    root.put("format_version", formatVersion);
    ArrayNode features = root.putArray("required_features");
    requiredFeatures.forEach(features::add);
    root.put("created_by", createdBy);
    ObjectNode src = root.putObject("source");
    src.put("format", source.format());
    ArrayNode srcFiles = src.putArray("files");
    for (SourceFileEntry f : source.files()) {
      ObjectNode o = srcFiles.addObject();
      o.put("name", f.name());
      o.put("size", f.size());
      ObjectNode meta = o.putObject("metadata");
      f.metadata().forEach(meta::put);
    }
    src.put("sharded", source.sharded());
    if (source.indexMetadataJson() != null) {
      try {
        src.set("index_metadata", MAPPER.readTree(source.indexMetadataJson()));
      } catch (JsonProcessingException e) {
        throw new IllegalStateException("index metadata is not JSON", e);
      }
    }
    if (source.onnx() != null) {
      ObjectNode onnx = src.putObject("onnx");
      onnx.put("model_file", source.onnx().modelFile());
      onnx.put("skeleton_file", source.onnx().skeletonFile());
      ArrayNode holes = onnx.putArray("holes");
      for (Hole h : source.onnx().holes()) {
        ObjectNode o = holes.addObject();
        o.put("name", h.name());
        o.put("offset", h.offset());
        o.put("length", h.length());
      }
    }
    root.put("codebooks_file", codebooksFile);
    writeFiles(root.putArray("files"), files);
    if (!extras.isEmpty()) {
      ArrayNode ex = root.putArray("extras");
      for (Extra e : extras) {
        ex.addObject().put("name", e.name()).put("format", e.format());
      }
    }
    ArrayNode gs = root.putArray("groups");
    for (GroupEntry g : groups) {
      EncodingSpec spec = g.spec();
      ObjectNode o = gs.addObject();
      o.put("name", g.name());
      o.put("method", spec.method().key());
      o.put("bits", spec.bits());
      o.put("k", spec.k());
      o.put("dim", spec.dim());
      if (formatVersion >= 2) {
        o.put("scope", spec.scope().key());
        if (spec.scope() == Scope.BLOCK) {
          o.put("block_size", spec.blockSize());
        }
        if (spec.outliers() > 0) {
          o.put("outliers", spec.outliers());
        }
        if (g.importance()) {
          o.put("importance", true);
        }
        if (spec.prune() > 0) {
          o.put("prune", spec.prune());
          if (g.zeroCode() >= 0) {
            o.put("zero_code", g.zeroCode());
          }
        }
        if (spec.entropy() != EncodingSpec.Entropy.NONE) {
          o.put("entropy", spec.entropy().key());
          o.put("segment_codes", g.segmentCodes());
        }
        if (g.mixture() != null) {
          g.mixture().writeTo(o.putObject("mixture"));
        }
      }
      if (spec.method() != Method.UNIFORM) {
        o.put("codebook_precision", spec.codebookPrecision().kind());
        if (spec.codebookPrecision().isStep()) {
          o.put("codebook_step", spec.codebookPrecision().step());
        }
        if (g.codebook() != null) {
          o.put("codebook", g.codebook());
        }
        o.put("per_tensor_scale", spec.perTensorScale());
        if (spec.blockScaled()) {
          o.put("scale_precision", spec.scalePrecision().name());
        }
      } else {
        o.put("scale_precision", spec.scalePrecision().name());
      }
    }
    ArrayNode ts = root.putArray("tensors");
    for (TensorEntry t : tensors) {
      ObjectNode o = ts.addObject();
      o.put("name", t.name());
      o.put("dtype", t.dtype());
      ArrayNode shape = o.putArray("shape");
      for (long d : t.shape()) {
        shape.add(d);
      }
      o.put("source_file", t.sourceFile());
      o.put("encoding", t.encoding());
      if (!t.dense()) {
        o.put("group", t.group());
        o.put("bits", t.bits());
        if (formatVersion < 2 || groups.get(t.group()).spec().scope() == Scope.GROUP) {
          o.put("scale", t.scale());
        }
        o.put("packing", t.packing());
        if (t.axis() >= 0) {
          o.put("axis", t.axis());
        }
      }
      o.put("file", t.file());
      o.put("key", t.key());
      if (t.codebookKey() != null) {
        o.put("codebook_key", t.codebookKey());
      }
      if (t.scaleKey() != null) {
        o.put("scale_key", t.scaleKey());
      }
      if (t.zeroKey() != null) {
        o.put("zero_key", t.zeroKey());
      }
      if (t.ladderKey() != null) {
        o.put("ladder_key", t.ladderKey());
      }
      if (t.pruned() != null) {
        ObjectNode pr = o.putObject("prune");
        pr.put("count", t.pruned().count());
        pr.put("threshold", t.pruned().threshold());
      }
      if (t.segmentsKey() != null) {
        o.put("segments_key", t.segmentsKey());
      }
      if (t.outliers() != null) {
        ObjectNode out = o.putObject("outliers");
        out.put("count", t.outliers().count());
        out.put("threshold", t.outliers().threshold());
        out.put("counts_key", t.outliers().countsKey());
        out.put("index_key", t.outliers().indexKey());
        out.put("values_key", t.outliers().valuesKey());
      }
    }
    try {
      return (MAPPER.writeValueAsString(root) + "\n").getBytes(StandardCharsets.UTF_8);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void writeFiles(ArrayNode out, List<FileEntry> files) {
    for (FileEntry f : files) {
      ObjectNode o = out.addObject();
      o.put("name", f.name());
      o.put("size", f.size());
      o.put("crc32c", f.crc32c());
    }
  }

  /** Parses and validates a manifest; any problem is a CheckpointFormatException naming it. */
  public static Manifest parse(String file, byte[] json) throws CheckpointFormatException {
    JsonNode root;
    try {
      root = MAPPER.readTree(json);
    } catch (java.io.IOException e) {
      throw bad(file, null, "not valid JSON: " + e.getMessage());
    }
    if (root == null || !root.isObject()) {
      throw bad(file, null, "not a JSON object");
    }
    if (!FORMAT.equals(root.path("format").asText(null))) {
      throw bad(file, null, "'format' is not \"" + FORMAT + "\"");
    }
    int version = intField(file, null, root, "format_version");
    if (version < 1 || version > FORMAT_VERSION) {
      throw bad(file, null, "format_version " + version + " is not supported (this reader knows 1.."
          + FORMAT_VERSION + "); use a newer Sparticle");
    }
    List<String> features = new ArrayList<>();
    for (JsonNode f : array(file, root, "required_features")) {
      features.add(f.asText());
      if (!KNOWN_FEATURES.contains(f.asText())) {
        throw bad(file, null, "requires feature '" + f.asText() + "' that this reader does not know; use a newer Sparticle");
      }
    }
    JsonNode src = root.path("source");
    if (!src.isObject()) {
      throw bad(file, null, "'source' must be an object");
    }
    JsonNode indexMeta = src.get("index_metadata");
    List<SourceFileEntry> srcFiles = new ArrayList<>();
    Set<String> srcNames = new HashSet<>();
    for (JsonNode f : array(file, src, "files")) {
      String name = textField(file, null, f, "name");
      checkPlainName(file, name);
      if (!srcNames.add(name)) {
        throw bad(file, null, "source file '" + name + "' is listed twice");
      }
      Map<String, String> meta = new LinkedHashMap<>();
      JsonNode m = f.path("metadata");
      if (m.isObject()) {
        for (Iterator<Map.Entry<String, JsonNode>> it = m.fields(); it.hasNext(); ) {
          Map.Entry<String, JsonNode> e = it.next();
          if (!e.getValue().isTextual()) {
            throw bad(file, null, "source file '" + name + "' has a non-string metadata value");
          }
          meta.put(e.getKey(), e.getValue().asText());
        }
      }
      JsonNode size = f.path("size");
      if (!size.isIntegralNumber() || !size.canConvertToLong() || size.longValue() < 0) {
        throw bad(file, null, "source file '" + name + "' has an invalid size " + size);
      }
      srcFiles.add(new SourceFileEntry(name, size.longValue(), meta));
    }
    OnnxSource onnx = null;
    JsonNode on = src.get("onnx");
    if (on != null) {
      List<Hole> holes = new ArrayList<>();
      long end = 0;
      for (JsonNode h : array(file, on, "holes")) {
        String name = textField(file, null, h, "name");
        JsonNode off = h.path("offset");
        JsonNode len = h.path("length");
        if (!off.isIntegralNumber() || !off.canConvertToLong() || !len.isIntegralNumber()
            || !len.canConvertToLong() || off.longValue() < end || len.longValue() < 0) {
          throw bad(file, name, "ONNX hole has an invalid or overlapping range");
        }
        // An end past 2^63 would wrap negative and let the next hole start before this one ends.
        if (len.longValue() > Long.MAX_VALUE - off.longValue()) {
          throw bad(file, name, "ONNX hole at offset " + off.longValue() + " of length " + len.longValue()
              + " ends past " + Long.MAX_VALUE);
        }
        end = off.longValue() + len.longValue();
        holes.add(new Hole(name, off.longValue(), len.longValue()));
      }
      onnx = new OnnxSource(textField(file, null, on, "model_file"),
          textField(file, null, on, "skeleton_file"), holes);
      checkPlainName(file, onnx.modelFile());
    }
    Source source = new Source(textField(file, null, src, "format"), srcFiles,
        src.path("sharded").asBoolean(false), indexMeta == null ? null : indexMeta.toString(), onnx);

    List<FileEntry> files = readFiles(file, root);
    Set<String> fileNames = new HashSet<>();
    for (FileEntry f : files) {
      checkPlainName(file, f.name());
      if (!fileNames.add(f.name())) {
        throw bad(file, null, "file '" + f.name() + "' is listed twice");
      }
    }
    // Extras: files beside the checkpoint's own that no decoder reads (the report's tables),
    // listed so that verify checks them; one directory level at most ("report/tensors.parquet").
    List<Extra> extras = new ArrayList<>();
    Set<String> extraNames = new HashSet<>();
    if (root.has("extras")) {
      for (JsonNode e : array(file, root, "extras")) {
        String name = textField(file, null, e, "name");
        String format = textField(file, null, e, "format");
        if (!format.equals(EXTRA_PARQUET)) {
          throw bad(file, null, "extra file '" + name + "' has format '" + format
              + "' that this reader does not know (it knows " + EXTRA_PARQUET + ")");
        }
        String[] parts = name.split("/", -1);
        if (parts.length > 2) {
          throw bad(file, null, "extra file '" + name + "' is more than one directory deep");
        }
        for (String part : parts) {
          checkPlainName(file, part);
        }
        if (fileNames.contains(parts[0]) || fileNames.contains(name) || !extraNames.add(name)) {
          throw bad(file, null, "extra file '" + name + "' is listed twice");
        }
        extras.add(new Extra(name, format));
      }
    }
    String codebooks = textField(file, null, root, "codebooks_file");
    if (!fileNames.contains(codebooks)) {
      throw bad(file, null, "codebooks_file '" + codebooks + "' is not among the files");
    }

    List<GroupEntry> groups = new ArrayList<>();
    for (JsonNode g : array(file, root, "groups")) {
      groups.add(parseGroup(file, g, version));
    }

    if (root.path("tensors").size() > SafetensorsReader.MAX_TENSORS) {
      throw bad(file, null, "lists " + root.path("tensors").size() + " tensors, more than the "
          + SafetensorsReader.MAX_TENSORS + " a checkpoint may hold");
    }
    List<TensorEntry> tensors = new ArrayList<>();
    Set<String> names = new HashSet<>();
    for (JsonNode t : array(file, root, "tensors")) {
      String name = textField(file, null, t, "name");
      if (!names.add(name)) {
        throw bad(file, name, "listed twice");
      }
      String dtype = textField(file, name, t, "dtype");
      if (DType.fromName(dtype).isEmpty()) {
        throw bad(file, name, "unknown dtype '" + dtype + "'");
      }
      JsonNode shapeNode = t.path("shape");
      if (!shapeNode.isArray()) {
        throw bad(file, name, "'shape' must be an array");
      }
      long[] shape = new long[shapeNode.size()];
      for (int i = 0; i < shape.length; i++) {
        JsonNode d = shapeNode.get(i);
        if (!d.canConvertToLong() || !d.isIntegralNumber() || d.longValue() < 0) {
          throw bad(file, name, "shape has an invalid dimension " + d);
        }
        shape[i] = d.longValue();
      }
      String encoding = textField(file, name, t, "encoding");
      String dataFile = textField(file, name, t, "file");
      if (!fileNames.contains(dataFile)) {
        throw bad(file, name, "file '" + dataFile + "' is not among the manifest's files");
      }
      int group = -1;
      int bits = 0;
      float scale = 1f;
      String packing = null;
      int axis = -1;
      String codebookKey = null;
      String scaleKey = null;
      String zeroKey = null;
      String ladderKey = null;
      Outliers outliers = null;
      Pruned pruned = null;
      String segmentsKey = null;
      boolean v1Codebook = ENCODING_CODEBOOK.equals(encoding);
      if (v1Codebook || (version >= 2 && ENCODING_CODES.equals(encoding))) {
        group = intField(file, name, t, "group");
        bits = intField(file, name, t, "bits");
        if (group < 0 || group >= groups.size() || groups.get(group).bits() != bits) {
          throw bad(file, name, "group " + group + " with bits " + bits + " does not match the manifest's groups");
        }
        EncodingSpec spec = groups.get(group).spec();
        if (v1Codebook && spec.scope() != Scope.GROUP) {
          throw bad(file, name, "encoding 'codebook' needs a kmeans group with a shared codebook");
        }
        if (!DType.fromName(dtype).get().isCompressibleFloat()) {
          throw bad(file, name, "encoding '" + encoding + "' needs dtype F32, F16 or BF16, not " + dtype);
        }
        if (spec.sharedCodebook() && spec.scope() == Scope.GROUP) {
          JsonNode s = t.path("scale");
          if (!s.isNumber() || !Float.isFinite(s.floatValue()) || s.floatValue() <= 0) {
            throw bad(file, name, "'scale' must be a positive finite number");
          }
          scale = s.floatValue();
        }
        packing = textField(file, name, t, "packing");
        if (!spec.entropy().packing().equals(packing)) {
          throw bad(file, name, "packing '" + packing + "' "
              + (PACKING_LSB.equals(packing) || "huffman".equals(packing) || "rans".equals(packing)
                  ? "does not match its group's entropy '" + spec.entropy().key() + "'"
                  : "is unknown (this reader knows lsb, huffman, rans)"));
        }
        if (spec.entropy() != EncodingSpec.Entropy.NONE) {
          segmentsKey = textField(file, name, t, "segments_key");
        }
        if (spec.vector()) {
          axis = intField(file, name, t, "axis");
          if (axis < 0 || axis >= Math.max(1, shape.length)
              || (axis != 0 && axis != shape.length - 1)) {
            throw bad(file, name, "vq axis " + axis + " of a rank-" + shape.length
                + " tensor must be 0 or " + (shape.length - 1));
          }
          if (shape.length == 0 || shape[axis] % spec.dim() != 0) {
            throw bad(file, name, "vq axis " + axis + " of shape " + Arrays.toString(shape)
                + " is not a multiple of dim " + spec.dim());
          }
        }
        if (spec.prune() > 0) {
          JsonNode o = t.path("prune");
          JsonNode count = o.path("count");
          JsonNode threshold = o.path("threshold");
          if (!count.isIntegralNumber() || !count.canConvertToLong() || count.longValue() < 0
              || !threshold.isNumber() || !Float.isFinite(threshold.floatValue())) {
            throw bad(file, name, "'prune' must hold a non-negative integer 'count' and a "
                + "finite 'threshold' (negative: nothing pruned)");
          }
          pruned = new Pruned(count.longValue(), threshold.floatValue());
        }
        if (spec.scope() == Scope.CHANNEL) {
          axis = intField(file, name, t, "axis");
          if (shape.length >= 2 && axis != 0 && axis != shape.length - 1) {
            throw bad(file, name, "channel axis " + axis + " of a rank-" + shape.length
                + " tensor must be 0 or " + (shape.length - 1));
          }
        }
        if (spec.perChannelCodebooks()) {
          codebookKey = textField(file, name, t, "codebook_key");
        }
        if (spec.outliers() > 0) {
          JsonNode o = t.path("outliers");
          JsonNode count = o.path("count");
          JsonNode threshold = o.path("threshold");
          if (!count.isIntegralNumber() || !count.canConvertToLong() || count.longValue() < 0
              || !threshold.isNumber() || !(threshold.floatValue() >= 0)) {
            throw bad(file, name, "'outliers' must hold a non-negative integer 'count' and a "
                + "non-negative 'threshold'");
          }
          outliers = new Outliers(count.longValue(), threshold.floatValue(),
              textField(file, name, o, "counts_key"), textField(file, name, o, "index_key"),
              textField(file, name, o, "values_key"));
        }
        if (spec.blockScaled()) {
          scaleKey = textField(file, name, t, "scale_key");
          if (spec.scalePrecision().ladder()) {
            ladderKey = textField(file, name, t, "ladder_key");
          }
        }
        if (spec.method() == Method.UNIFORM) {
          scaleKey = textField(file, name, t, "scale_key");
          zeroKey = textField(file, name, t, "zero_key");
        }
      } else if (!ENCODING_DENSE.equals(encoding)) {
        throw bad(file, name, "unknown encoding '" + encoding + "'"
            + (version < 2 ? "" : "; this reader knows dense and codes"));
      }
      try {
        Math.multiplyExact(TensorInfo.numel(shape), DType.fromName(dtype).get().byteSize());
      } catch (ArithmeticException e) {
        throw bad(file, name, "shape " + Arrays.toString(shape) + " overflows");
      }
      String sourceFile = textField(file, name, t, "source_file");
      if (!srcNames.contains(sourceFile)) {
        throw bad(file, name, "source_file '" + sourceFile + "' is not among the source files");
      }
      tensors.add(new TensorEntry(name, dtype, shape, sourceFile, encoding, group, bits, scale,
          packing, dataFile, textField(file, name, t, "key"), axis, codebookKey, scaleKey, zeroKey,
          ladderKey, outliers, pruned, segmentsKey));
    }
    if (onnx != null) {
      if (!fileNames.contains(onnx.skeletonFile())) {
        throw bad(file, null, "ONNX skeleton_file '" + onnx.skeletonFile() + "' is not among the files");
      }
      for (Hole h : onnx.holes()) {
        if (!names.contains(h.name())) {
          throw bad(file, h.name(), "ONNX hole names no tensor of the manifest");
        }
      }
    }
    for (String needed : requiredFeatures(groups)) {
      if (!features.contains(needed)) {
        // A reader that predates the feature would decode this checkpoint wrongly.
        throw bad(file, null, "its groups use '" + needed + "' but required_features does not list it");
      }
    }
    return new Manifest(version, features, root.path("created_by").asText(""), source, codebooks,
        files, groups, tensors, extras);
  }

  /** A group entry; version 1 knows kmeans with a shared codebook only. */
  private static GroupEntry parseGroup(String file, JsonNode g, int version)
      throws CheckpointFormatException {
    String name = textField(file, null, g, "name");
    int bits = intField(file, null, g, "bits");
    int k = intField(file, null, g, "k");
    int dim = intField(file, null, g, "dim");
    String methodName = textField(file, null, g, "method");
    Method method = null;
    for (Method m : Method.values()) {
      if (m.key().equals(methodName)) {
        method = m;
      }
    }
    if (method == null || (version < 2 && method != Method.KMEANS)) {
      throw bad(file, null, "group '" + name + "' uses method '" + methodName
          + "' that this reader does not know (it knows " + (version < 2 ? "kmeans" : "kmeans, uniform, gmm, vq")
          + " in format version " + version + "); use a newer Sparticle");
    }
    boolean vq = method == Method.VQ;
    if (bits < 1 || (vq ? (dim != 2 && dim != 4 && dim != 8) || bits * dim > 16 : bits > 8 || dim != 1)
        || k != (1 << (bits * dim))) {
      throw bad(file, null, "group '" + name + "' has bits " + bits + ", k " + k + ", dim " + dim
          + ": format version " + version + " has bits 1..8, k = 2^bits, dim 1"
          + (vq ? "; vq has dim 2, 4 or 8 and k = 2^(bits x dim), at most 65536" : ""));
    }
    Scope scope = Scope.GROUP;
    int blockSize = 0;
    if (version >= 2) {
      String scopeName = textField(file, null, g, "scope");
      scope = null;
      for (Scope s : Scope.values()) {
        if (s.key().equals(scopeName)) {
          scope = s;
        }
      }
      if (scope == null) {
        throw bad(file, null, "group '" + name + "' has scope '" + scopeName
            + "' that this reader does not know (it knows group, tensor, channel, block); use a newer Sparticle");
      }
      if (scope == Scope.BLOCK) {
        blockSize = intField(file, null, g, "block_size");
      }
    }
    CodebookPrecision precision = CodebookPrecision.F32;
    ScalePrecision scalePrecision = ScalePrecision.F16;
    boolean perTensorScale = false;
    String codebook = null;
    try {
      if (method != Method.UNIFORM) {
        String p = textField(file, null, g, "codebook_precision");
        if (p.equals("step") && version >= 2) {
          JsonNode q = g.path("codebook_step");
          if (!q.isNumber()) {
            throw bad(file, null, "group '" + name + "': 'codebook_step' must be a number");
          }
          precision = CodebookPrecision.step(q.floatValue());
        } else if (p.equals("F32") || p.equals("F16") || p.equals("BF16")) {
          precision = CodebookPrecision.parse(p);
        } else {
          throw bad(file, null, "group '" + name + "' has codebook_precision '" + p
              + "' that this reader does not know; use a newer Sparticle");
        }
        perTensorScale = g.path("per_tensor_scale").asBoolean(false);
        if (scope == Scope.GROUP || scope == Scope.BLOCK) {
          codebook = textField(file, null, g, "codebook");
        }
        if (scope == Scope.BLOCK) {
          scalePrecision = scalePrecision(file, g, name, true);
        }
      } else {
        scalePrecision = scalePrecision(file, g, name, false);
      }
      double outliers = 0;
      if (version >= 2 && g.has("outliers")) {
        JsonNode o = g.path("outliers");
        if (!o.isNumber()) {
          throw bad(file, null, "group '" + name + "': 'outliers' must be a number");
        }
        outliers = o.doubleValue();
      }
      double prune = 0;
      int zeroCode = -1;
      if (version >= 2 && g.has("prune")) {
        JsonNode o = g.path("prune");
        if (!o.isNumber()) {
          throw bad(file, null, "group '" + name + "': 'prune' must be a number");
        }
        prune = o.doubleValue();
        if (g.has("zero_code")) {
          zeroCode = intField(file, null, g, "zero_code");
          if (zeroCode < 0 || zeroCode >= k) {
            throw bad(file, null, "group '" + name + "': zero_code " + zeroCode + " is not a code");
          }
        }
      }
      EncodingSpec.Entropy entropy = EncodingSpec.Entropy.NONE;
      int segmentCodes = 0;
      if (version >= 2 && g.has("entropy")) {
        String e = textField(file, null, g, "entropy");
        if (!e.equals("huffman") && !e.equals("rans")) {
          throw bad(file, null, "group '" + name + "' has entropy '" + e
              + "' that this reader does not know (it knows huffman, rans); use a newer Sparticle");
        }
        entropy = EncodingSpec.Entropy.parse(e);
        segmentCodes = intField(file, null, g, "segment_codes");
        if (segmentCodes < 1) {
          throw bad(file, null, "group '" + name + "': segment_codes must be positive");
        }
      }
      // The spec first: a combination it refuses is named as such, before its fields' shapes.
      EncodingSpec spec = new EncodingSpec(method, bits, scope, blockSize, precision,
          scalePrecision, perTensorScale, outliers, vq ? dim : 1, prune, entropy);
      Mixture mixture = null;
      if (method == Method.GMM) {
        JsonNode m = g.path("mixture");
        double[][] cols = new double[3][];
        String[] keys = {"weights", "means", "variances"};
        // One component per code, but the zero that pruning reserves.
        int components = prune > 0 ? k - 1 : k;
        for (int i = 0; i < 3; i++) {
          JsonNode a = m.path(keys[i]);
          if (!a.isArray() || a.size() != components) {
            throw bad(file, null, "group '" + name + "': mixture." + keys[i] + " must be "
                + components + " numbers");
          }
          cols[i] = new double[components];
          for (int j = 0; j < components; j++) {
            if (!a.get(j).isNumber() || !Double.isFinite(a.get(j).doubleValue())) {
              throw bad(file, null, "group '" + name + "': mixture." + keys[i] + " holds a non-number");
            }
            cols[i][j] = a.get(j).doubleValue();
          }
        }
        mixture = new Mixture(cols[0], cols[1], cols[2]);
      }
      return new GroupEntry(name, spec, codebook,
          version >= 2 && g.path("importance").asBoolean(false), mixture, zeroCode, segmentCodes);
    } catch (IllegalArgumentException e) {
      throw bad(file, null, "group '" + name + "': " + e.getMessage());
    }
  }

  private static ScalePrecision scalePrecision(String file, JsonNode g, String name,
      boolean ladders) throws CheckpointFormatException {
    String p = textField(file, null, g, "scale_precision");
    for (ScalePrecision v : ScalePrecision.values()) {
      if (v.name().equals(p) && (ladders || !v.ladder())) {
        return v;
      }
    }
    throw bad(file, null, "group '" + name + "' has scale_precision '" + p
        + "' that this reader does not know; use a newer Sparticle");
  }

  private static List<FileEntry> readFiles(String file, JsonNode parent)
      throws CheckpointFormatException {
    List<FileEntry> out = new ArrayList<>();
    for (JsonNode f : array(file, parent, "files")) {
      String name = textField(file, null, f, "name");
      JsonNode size = f.path("size");
      if (!size.isIntegralNumber() || !size.canConvertToLong() || size.longValue() < 0) {
        throw bad(file, null, "file '" + name + "' has an invalid size " + size);
      }
      String crc = textField(file, null, f, "crc32c");
      if (!crc.matches("[0-9a-f]{8}")) {
        throw bad(file, null, "file '" + name + "' has an invalid crc32c '" + crc + "'");
      }
      out.add(new FileEntry(name, size.longValue(), crc));
    }
    return out;
  }

  private static void checkPlainName(String file, String name) throws CheckpointFormatException {
    if (name.isEmpty() || name.contains("/") || name.contains("\\") || name.equals(".")
        || name.equals("..") || name.indexOf('\0') >= 0) {
      throw bad(file, null, "file name '" + name + "' is not a plain file name");
    }
  }

  private static Iterable<JsonNode> array(String file, JsonNode parent, String key)
      throws CheckpointFormatException {
    JsonNode a = parent.path(key);
    if (!a.isArray()) {
      throw bad(file, null, "'" + key + "' must be an array");
    }
    return a;
  }

  private static String textField(String file, String tensor, JsonNode o, String key)
      throws CheckpointFormatException {
    JsonNode v = o.path(key);
    if (!v.isTextual()) {
      throw bad(file, tensor, "'" + key + "' must be a string");
    }
    return v.asText();
  }

  private static int intField(String file, String tensor, JsonNode o, String key)
      throws CheckpointFormatException {
    JsonNode v = o.path(key);
    if (!v.isIntegralNumber() || !v.canConvertToInt()) {
      throw bad(file, tensor, "'" + key + "' must be an integer");
    }
    return v.intValue();
  }

  private static CheckpointFormatException bad(String file, String tensor, String detail) {
    return new CheckpointFormatException(
        CheckpointFormatException.Reason.INVALID_COMPRESSED, file, tensor, detail);
  }
}
