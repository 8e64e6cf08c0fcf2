package io.sparticle.plan;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sparticle.quant.CodebookPrecision;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.EncodingSpec.Method;
import io.sparticle.quant.EncodingSpec.ScalePrecision;
import io.sparticle.quant.EncodingSpec.Scope;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The validated job configuration: which tensors are compressed, into which codebook groups, at
 * how many bits. Every key, its meaning and its default is listed here and in the README.
 *
 * <pre>{@code
 * JobConfig config = JobConfig.fromYaml(Files.readString(Path.of("conf/llama-per-mlp.yaml")))
 *     .withBits(3);
 * }</pre>
 *
 * <p>YAML keys: {@code bits} (default 4), {@code codebook-precision} (F32|F16|BF16|step:Q, default
 * F32), {@code method} (kmeans|uniform, default kmeans), {@code scope} (kmeans: group|channel,
 * default group; uniform: tensor|channel|block, default block), {@code block-size} (default 64),
 * {@code scale-precision} (uniform scales, F16|F32, default F16),
 * {@code min-elements} (default 4096), {@code min-rank} (default 2), {@code chunk-bytes} (default
 * 64 MiB), {@code output-shard-bytes} (input bytes per output file, default 512 MiB),
 * {@code grouping} (module|tensor, see {@link Grouping}, default module), {@code non-finite}
 * (error|keep-dense, see {@link NonFinite}, default error), {@code calibration}, {@code tokenizer}
 * and {@code importance} (see {@link Calibration}, default none),
 * {@code kmeans: {max-iterations, tolerance, seed, fit-threads}}, and {@code rules}: a list of
 * {@code {match, group, bits, keep-dense, per-tensor-scale, method, scope, block-size,
 * codebook-precision, scale-precision}}. {@link #fromYaml(String, Map)} applies options given as
 * strings under the same keys (the CLI's flags, the Python API's keyword arguments), so every
 * entry point shares this one key table. Tensors no rule matches are
 * compressed at {@code bits}, grouped by {@code grouping}, if they are F32/F16/BF16 with rank >=
 * {@code min-rank} and >= {@code min-elements} elements; otherwise they are kept dense.
 */
public record JobConfig(
    int bits,
    CodebookPrecision codebookPrecision,
    long minElements,
    int minRank,
    long chunkBytes,
    long outputShardBytes,
    int maxIterations,
    double tolerance,
    long seed,
    int fitThreads,
    List<GroupRule> rules,
    Grouping grouping,
    NonFinite nonFinite,
    Encoding encoding,
    Calibration calibration)
    implements Serializable {

  /**
   * Where each weight's importance comes from, if anywhere (all null: every weight counts the
   * same). {@code sentences}: a UTF-8 file, one sentence a line, that an ONNX source model is run
   * on ({@code calibration}), tokenized by {@code tokenizer} (default: {@code tokenizer.json} next
   * to the model). {@code importance}: a safetensors file of per-input-channel importance vectors
   * keyed by tensor name ({@code importance}). Paths are local or Hadoop paths, read by the driver.
   */
  public record Calibration(String sentences, String tokenizer, String importance)
      implements Serializable {
    public static final Calibration NONE = new Calibration(null, null, null);

    public Calibration {
      if (sentences != null && importance != null) {
        throw new IllegalArgumentException(
            "Cannot set both calibration and importance: calibration measures the importance");
      }
      if (tokenizer != null && sentences == null) {
        throw new IllegalArgumentException(
            "Cannot set tokenizer without calibration: it tokenizes the calibration sentences");
      }
    }

    /** Whether weights get an importance. */
    public boolean any() {
      return sentences != null || importance != null;
    }
  }

  /** The constructor of configs without calibration keys. */
  public JobConfig(int bits, CodebookPrecision codebookPrecision, long minElements, int minRank,
      long chunkBytes, long outputShardBytes, int maxIterations, double tolerance, long seed,
      int fitThreads, List<GroupRule> rules, Grouping grouping, NonFinite nonFinite,
      Encoding encoding) {
    this(bits, codebookPrecision, minElements, minRank, chunkBytes, outputShardBytes,
        maxIterations, tolerance, seed, fitThreads, rules, grouping, nonFinite, encoding,
        Calibration.NONE);
  }

  /**
   * The encoding of tensors that no rule gives another: method, scope (null: the method's
   * default, group for kmeans and block for uniform), block size and scale precision (null: the
   * default of the method and scope, see {@link JobConfig#spec}), the outlier fraction, and
   * {@code targetBits}: when set, the code width of every kmeans group (scope group or block) is
   * chosen after the histogram pass to minimize the total squared error with the average
   * bits/weight, all overhead counted, at most this (null: every group at its configured bits).
   */
  public record Encoding(Method method, Scope scope, Integer blockSize, ScalePrecision scalePrecision,
      double outliers, Double targetBits, Integer vqDim, double prune, EncodingSpec.Entropy entropy,
      int vqSample)
      implements Serializable {
    public static final Encoding DEFAULT = new Encoding(Method.KMEANS, null, null, null, 0, null);
    /**
     * Sub-vectors a vq group's codebook is fitted on (drawn evenly from every tensor of the
     * group by the histogram pass), and at least 16 per codeword: more adds fit time and little
     * SQNR (README, measured).
     */
    public static final int DEFAULT_VQ_SAMPLE = 1 << 16;

    /** An encoding without vq, pruning or entropy coding keys. */
    public Encoding(Method method, Scope scope, Integer blockSize, ScalePrecision scalePrecision,
        double outliers, Double targetBits) {
      this(method, scope, blockSize, scalePrecision, outliers, targetBits, null, 0,
          EncodingSpec.Entropy.NONE, DEFAULT_VQ_SAMPLE);
    }

    public Encoding {
      if (method == null) {
        throw new IllegalArgumentException("method must be set");
      }
      if (entropy == null) {
        entropy = EncodingSpec.Entropy.NONE;
      }
      if (vqSample < 1024 || vqSample > (1 << 24)) {
        throw new IllegalArgumentException(
            "Cannot set vq-sample to " + vqSample + ": must be between 1024 and 16777216");
      }
      if (targetBits != null && !(targetBits >= 1 && targetBits <= 16)) {
        throw new IllegalArgumentException(
            "Cannot set target-bits to " + targetBits + ": must be between 1 and 16");
      }
    }

    /** The scope a method takes when none is given. */
    public static Scope defaultScope(Method method) {
      return method == Method.UNIFORM ? Scope.BLOCK : Scope.GROUP;
    }
  }

  /** The constructor of configs without encoding keys: kmeans, one codebook per group. */
  public JobConfig(int bits, CodebookPrecision codebookPrecision, long minElements, int minRank,
      long chunkBytes, long outputShardBytes, int maxIterations, double tolerance, long seed,
      int fitThreads, List<GroupRule> rules, Grouping grouping, NonFinite nonFinite) {
    this(bits, codebookPrecision, minElements, minRank, chunkBytes, outputShardBytes,
        maxIterations, tolerance, seed, fitThreads, rules, grouping, nonFinite, Encoding.DEFAULT);
  }

  /**
   * How tensors that no rule matches are grouped. {@code TENSOR}: one codebook per tensor.
   * {@code MODULE}: one codebook per module type across layers: tensors whose names differ only
   * in numeric path segments ({@code model.layers.3.mlp.up_proj.weight} and
   * {@code model.layers.7.mlp.up_proj.weight}) share a codebook fitted on RMS-normalized values,
   * each keeping its own scale.
   */
  public enum Grouping {
    TENSOR,
    MODULE
  }

  /**
   * What to do with a tensor to compress that holds NaN or infinite weights, which k-means
   * cannot place. {@code ERROR} (YAML {@code error}): the job fails, exit 3, naming the tensor.
   * {@code KEEP_DENSE} ({@code keep-dense}): the tensor is stored dense, byte for byte, and the
   * report says so; the other tensors are compressed as planned.
   */
  public enum NonFinite {
    ERROR,
    KEEP_DENSE;

    /** The YAML and CLI spelling: {@code error}, {@code keep-dense}. */
    public String key() {
      return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** Parses {@code error} or {@code keep-dense} (case-insensitive, '_' for '-' accepted). */
    public static NonFinite parse(String s) {
      for (NonFinite v : values()) {
        if (v.key().equalsIgnoreCase(s.replace('_', '-'))) {
          return v;
        }
      }
      throw new IllegalArgumentException(
          "Cannot set non-finite to " + s + ": must be one of error, keep-dense");
    }
  }

  /** The constructor of configs without a grouping key: the default grouping, MODULE. */
  public JobConfig(int bits, CodebookPrecision codebookPrecision, long minElements, int minRank,
      long chunkBytes, long outputShardBytes, int maxIterations, double tolerance, long seed,
      int fitThreads, List<GroupRule> rules) {
    this(bits, codebookPrecision, minElements, minRank, chunkBytes, outputShardBytes,
        maxIterations, tolerance, seed, fitThreads, rules, Grouping.MODULE);
  }

  /** The constructor of configs without a non-finite key: the default, ERROR. */
  public JobConfig(int bits, CodebookPrecision codebookPrecision, long minElements, int minRank,
      long chunkBytes, long outputShardBytes, int maxIterations, double tolerance, long seed,
      int fitThreads, List<GroupRule> rules, Grouping grouping) {
    this(bits, codebookPrecision, minElements, minRank, chunkBytes, outputShardBytes,
        maxIterations, tolerance, seed, fitThreads, rules, grouping, NonFinite.ERROR);
  }

  public static final int DEFAULT_BITS = 4;
  public static final long DEFAULT_MIN_ELEMENTS = 4096;
  public static final int DEFAULT_MIN_RANK = 2;
  public static final long DEFAULT_CHUNK_BYTES = 64L << 20;
  public static final long DEFAULT_OUTPUT_SHARD_BYTES = 512L << 20;
  /** Lloyd iterations are cheap once the init is good; this is a cap, not the usual count. */
  public static final int DEFAULT_MAX_ITERATIONS = 100;
  /** Largest centre move (in standardized units) at which MLlib stops: far tighter than 1e-4. */
  public static final double DEFAULT_TOLERANCE = 1e-6;
  public static final long DEFAULT_SEED = 42;
  public static final int DEFAULT_FIT_THREADS = 4;

  public JobConfig {
    checkBits(bits);
    if (codebookPrecision == null) {
      throw new IllegalArgumentException("codebook-precision must be one of F32, F16, BF16");
    }
    checkRange("min-elements", minElements, 1, Long.MAX_VALUE);
    checkRange("min-rank", minRank, 0, 64);
    // Chunks hold whole bytes of packed codes and fit in one Java array.
    checkRange("chunk-bytes", chunkBytes, 1024, 1L << 30);
    checkRange("output-shard-bytes", outputShardBytes, 1, Long.MAX_VALUE);
    checkRange("kmeans.max-iterations", maxIterations, 1, 10_000);
    if (!(tolerance > 0 && tolerance < 1)) {
      throw new IllegalArgumentException(
          "Cannot set kmeans.tolerance to " + tolerance + ": must be > 0 and < 1");
    }
    checkRange("kmeans.fit-threads", fitThreads, 1, 256);
    rules = List.copyOf(rules);
    if (grouping == null) {
      throw new IllegalArgumentException("grouping must be one of tensor, module");
    }
    if (nonFinite == null) {
      throw new IllegalArgumentException("non-finite must be one of error, keep-dense");
    }
    if (encoding == null) {
      encoding = Encoding.DEFAULT;
    }
    if (calibration == null) {
      calibration = Calibration.NONE;
    }
    // The default encoding must be a valid spec at the default bits: reject e.g. uniform at 1 bit
    // or kmeans with scope block before any work starts.
    spec(bits, encoding.method(), encoding.scope(), encoding.blockSize(), codebookPrecision,
        encoding.scalePrecision(), false, encoding.outliers(), encoding.vqDim(), encoding.prune(),
        encoding.entropy());
  }

  /**
   * The spec of a group: the method's default scope where none is given; per-tensor scales only
   * for kmeans with scope group.
   */
  static EncodingSpec spec(int bits, Method method, Scope scope, Integer blockSize,
      CodebookPrecision precision, ScalePrecision scalePrecision, boolean perTensorScale,
      double outliers, Integer vqDim, double prune, EncodingSpec.Entropy entropy) {
    if (vqDim != null && method != Method.VQ) {
      throw new IllegalArgumentException("vq-dim applies to method vq only");
    }
    Scope s = scope != null ? scope : Encoding.defaultScope(method);
    boolean kmeansBlocks = method == Method.KMEANS && s == Scope.BLOCK;
    int block = blockSize != null ? blockSize
        : kmeansBlocks ? EncodingSpec.DEFAULT_KMEANS_BLOCK_SIZE : EncodingSpec.DEFAULT_BLOCK_SIZE;
    ScalePrecision sp = scalePrecision != null ? scalePrecision
        : kmeansBlocks ? DEFAULT_BLOCK_SCALES : ScalePrecision.F16;
    return new EncodingSpec(method, bits, s, block, precision, sp,
        perTensorScale && method != Method.UNIFORM && s == Scope.GROUP, outliers,
        method == Method.VQ ? (vqDim != null ? vqDim : EncodingSpec.DEFAULT_VQ_DIM) : 1, prune,
        entropy);
  }

  /**
   * Block scales of kmeans with scope block when none is given: 7-bit codes into a per-tensor
   * ladder of 64 magnitudes, 0.22 bits per weight at blocks of 32.
   */
  public static final ScalePrecision DEFAULT_BLOCK_SCALES = ScalePrecision.Q7;

  public static JobConfig defaults() {
    return new JobConfig(
        DEFAULT_BITS,
        CodebookPrecision.F32,
        DEFAULT_MIN_ELEMENTS,
        DEFAULT_MIN_RANK,
        DEFAULT_CHUNK_BYTES,
        DEFAULT_OUTPUT_SHARD_BYTES,
        DEFAULT_MAX_ITERATIONS,
        DEFAULT_TOLERANCE,
        DEFAULT_SEED,
        DEFAULT_FIT_THREADS,
        List.of());
  }

  public JobConfig withBits(int newBits) {
    return new JobConfig(newBits, codebookPrecision, minElements, minRank, chunkBytes,
        outputShardBytes, maxIterations, tolerance, seed, fitThreads, rules, grouping, nonFinite, encoding,
        calibration);
  }

  public JobConfig withCodebookPrecision(CodebookPrecision p) {
    return new JobConfig(bits, p, minElements, minRank, chunkBytes,
        outputShardBytes, maxIterations, tolerance, seed, fitThreads, rules, grouping, nonFinite, encoding,
        calibration);
  }

  public JobConfig withChunkBytes(long newChunkBytes) {
    return new JobConfig(bits, codebookPrecision, minElements, minRank, newChunkBytes,
        outputShardBytes, maxIterations, tolerance, seed, fitThreads, rules, grouping, nonFinite, encoding,
        calibration);
  }

  public JobConfig withOutputShardBytes(long newOutputShardBytes) {
    return new JobConfig(bits, codebookPrecision, minElements, minRank, chunkBytes,
        newOutputShardBytes, maxIterations, tolerance, seed, fitThreads, rules, grouping, nonFinite, encoding,
        calibration);
  }

  public JobConfig withGrouping(Grouping g) {
    return new JobConfig(bits, codebookPrecision, minElements, minRank, chunkBytes,
        outputShardBytes, maxIterations, tolerance, seed, fitThreads, rules, g, nonFinite, encoding,
        calibration);
  }

  public JobConfig withNonFinite(NonFinite n) {
    return new JobConfig(bits, codebookPrecision, minElements, minRank, chunkBytes,
        outputShardBytes, maxIterations, tolerance, seed, fitThreads, rules, grouping, n, encoding,
        calibration);
  }

  public JobConfig withEncoding(Encoding e) {
    return new JobConfig(bits, codebookPrecision, minElements, minRank, chunkBytes,
        outputShardBytes, maxIterations, tolerance, seed, fitThreads, rules, grouping, nonFinite, e,
        calibration);
  }

  public JobConfig withCalibration(Calibration c) {
    return new JobConfig(bits, codebookPrecision, minElements, minRank, chunkBytes,
        outputShardBytes, maxIterations, tolerance, seed, fitThreads, rules, grouping, nonFinite,
        encoding, c);
  }

  static void checkBits(int bits) {
    checkRange("bits", bits, 1, 8);
  }

  private static void checkRange(String key, long value, long min, long max) {
    if (value < min || value > max) {
      throw new IllegalArgumentException(
          "Cannot set " + key + " to " + value + ": must be between " + min + " and " + max);
    }
  }

  private static final Set<String> TOP_KEYS = Set.of("bits", "codebook-precision", "min-elements",
      "min-rank", "chunk-bytes", "output-shard-bytes", "kmeans", "rules", "grouping",
      "non-finite", "method", "scope", "block-size", "scale-precision", "outliers", "target-bits",
      "calibration", "tokenizer", "importance", "vq-dim", "vq-sample", "prune", "entropy");
  private static final Set<String> KMEANS_KEYS =
      Set.of("max-iterations", "tolerance", "seed", "fit-threads");
  private static final Set<String> RULE_KEYS =
      Set.of("match", "group", "bits", "keep-dense", "per-tensor-scale", "method", "scope",
          "block-size", "codebook-precision", "scale-precision", "outliers", "vq-dim", "prune",
          "entropy");

  /**
   * Parses a YAML job config; unknown keys and out-of-range values are rejected with
   * IllegalArgumentException naming the key.
   */
  public static JobConfig fromYaml(String yaml) {
    return fromYaml(yaml, Map.of());
  }

  /**
   * As {@link #fromYaml(String)}, with {@code options} applied on top: each key is a config key
   * (nested ones dotted, {@code kmeans.tolerance}), each value text read as one JSON value where
   * it is one ({@code "4"}, {@code "1e-7"}, {@code "true"}, a JSON list of rules), else as a
   * string ({@code "F16"}, {@code "step:0.01"}); a null value leaves the default. {@code yaml} may
   * be null. The CLI's flags and the Python API's keyword arguments come this way, so they accept
   * exactly the config's keys and values.
   */
  public static JobConfig fromYaml(String yaml, Map<String, String> options) {
    ObjectMapper yamlMapper = new ObjectMapper(new YAMLFactory());
    JsonNode root;
    try {
      root = yaml == null ? null : yamlMapper.readTree(yaml);
    } catch (IOException e) {
      throw new IllegalArgumentException("Config is not valid YAML: " + e.getMessage(), e);
    }
    if (root == null || root.isMissingNode() || root.isNull()) {
      if (options.isEmpty()) {
        return defaults();
      }
      root = yamlMapper.createObjectNode();
    }
    if (!root.isObject()) {
      throw new IllegalArgumentException("Config must be a YAML mapping of keys to values");
    }
    ObjectMapper json = new ObjectMapper();
    for (Map.Entry<String, String> o : options.entrySet()) {
      String key = o.getKey();
      if (key == null || key.isEmpty() || key.startsWith(".") || key.endsWith(".")
          || key.contains("..")) {
        throw new IllegalArgumentException("Option key '" + key + "' is not a config key");
      }
      String[] path = key.split("\\.");
      ObjectNode parent = (ObjectNode) root;
      for (int i = 0; i < path.length - 1; i++) {
        JsonNode child = parent.get(path[i]);
        if (child == null || !child.isObject()) {
          child = parent.putObject(path[i]); // a scalar in the way: the option wins over the file
        }
        parent = (ObjectNode) child;
      }
      parent.set(path[path.length - 1], optionValue(json, o.getValue()));
    }
    return fromTree(root);
  }

  /**
   * An option's value: one JSON value when it is one ({@code 4}, {@code 1e-7}, {@code true},
   * {@code null}, a list of rules), else the text itself ({@code F16}, {@code 64MiB},
   * {@code step:0.01}); null stands for the default.
   */
  private static JsonNode optionValue(ObjectMapper json, String value) {
    if (value == null) {
      return com.fasterxml.jackson.databind.node.NullNode.getInstance();
    }
    try {
      JsonNode v = json.readTree(value);
      if (v != null && !v.isMissingNode()) {
        return v;
      }
    } catch (IOException e) {
      // not one JSON value: a plain string
    }
    return com.fasterxml.jackson.databind.node.TextNode.valueOf(value);
  }

  private static JobConfig fromTree(JsonNode root) {
    JobConfig d = defaults();
    checkKeys(root, TOP_KEYS, "");
    JsonNode km = root.path("kmeans");
    if (!km.isMissingNode()) {
      if (!km.isObject()) {
        throw new IllegalArgumentException("Config key 'kmeans' must be a mapping");
      }
      checkKeys(km, KMEANS_KEYS, "kmeans.");
    }
    List<GroupRule> rules = new ArrayList<>();
    JsonNode rs = root.path("rules");
    if (!rs.isMissingNode()) {
      if (!rs.isArray()) {
        throw new IllegalArgumentException("Config key 'rules' must be a list");
      }
      for (int i = 0; i < rs.size(); i++) {
        rules.add(parseRule(rs.get(i), i));
      }
    }
    CodebookPrecision p = CodebookPrecision.parse(
        text(root, "codebook-precision", d.codebookPrecision().name()));
    String scope = text(root, "scope", null);
    String scalePrecision = text(root, "scale-precision", null);
    Encoding encoding = new Encoding(
        Method.parse(text(root, "method", Encoding.DEFAULT.method().key())),
        scope == null ? null : Scope.parse(scope),
        root.get("block-size") == null ? null : int32(root, "block-size", "block-size", 0),
        scalePrecision == null ? null : ScalePrecision.parse(scalePrecision),
        fraction(root, "outliers"), targetBits(root),
        root.get("vq-dim") == null || root.get("vq-dim").isNull() ? null
            : int32(root, "vq-dim", "vq-dim", 0),
        prune(root), entropy(root),
        int32(root, "vq-sample", "vq-sample", Encoding.DEFAULT_VQ_SAMPLE));
    String grouping = text(root, "grouping", d.grouping().name());
    Grouping g;
    try {
      g = Grouping.valueOf(grouping.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "Cannot set grouping to " + grouping + ": must be one of tensor, module");
    }
    NonFinite nonFinite = NonFinite.parse(text(root, "non-finite", d.nonFinite().key()));
    return new JobConfig(
        int32(root, "bits", "bits", d.bits()),
        p,
        integer(root, "min-elements", d.minElements()),
        int32(root, "min-rank", "min-rank", d.minRank()),
        bytes(root, "chunk-bytes", d.chunkBytes()),
        bytes(root, "output-shard-bytes", d.outputShardBytes()),
        int32(km, "max-iterations", "kmeans.max-iterations", d.maxIterations()),
        number(km, "tolerance", d.tolerance()),
        integer(km, "seed", d.seed()),
        int32(km, "fit-threads", "kmeans.fit-threads", d.fitThreads()),
        rules,
        g,
        nonFinite,
        encoding,
        new Calibration(text(root, "calibration", null), text(root, "tokenizer", null),
            text(root, "importance", null)));
  }

  private static GroupRule parseRule(JsonNode r, int index) {
    String where = "rules[" + index + "]";
    if (!r.isObject()) {
      throw new IllegalArgumentException("Config " + where + " must be a mapping");
    }
    checkKeys(r, RULE_KEYS, where + ".");
    String match = text(r, "match", null);
    if (match == null) {
      throw new IllegalArgumentException("Config " + where + " needs 'match' (a regex on tensor names)");
    }
    Pattern pattern;
    try {
      pattern = Pattern.compile(match);
    } catch (PatternSyntaxException e) {
      throw new IllegalArgumentException(
          "Config " + where + ".match is not a valid regex: " + e.getDescription(), e);
    }
    JsonNode bits = r.get("bits");
    try {
      String method = text(r, "method", null);
      String scope = text(r, "scope", null);
      String precision = text(r, "codebook-precision", null);
      String scalePrecision = text(r, "scale-precision", null);
      return new GroupRule(
          pattern,
          text(r, "group", null),
          bits == null ? null : int32(r, "bits", "bits", 0),
          bool(r, "keep-dense"),
          bool(r, "per-tensor-scale"),
          method == null ? null : Method.parse(method),
          scope == null ? null : Scope.parse(scope),
          r.get("block-size") == null ? null : int32(r, "block-size", "block-size", 0),
          precision == null ? null : CodebookPrecision.parse(precision),
          scalePrecision == null ? null : ScalePrecision.parse(scalePrecision),
          r.get("outliers") == null ? null : fraction(r, "outliers"),
          r.get("vq-dim") == null || r.get("vq-dim").isNull() ? null
              : int32(r, "vq-dim", "vq-dim", 0),
          r.get("prune") == null ? null : prune(r),
          r.get("entropy") == null ? null : entropy(r));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("Config " + where + ": " + e.getMessage(), e);
    }
  }

  private static Double targetBits(JsonNode root) {
    JsonNode v = root.get("target-bits");
    if (v == null || v.isNull()) {
      return null;
    }
    try {
      return v.isNumber() ? v.doubleValue() : Double.parseDouble(v.asText().trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("Cannot set target-bits to " + v.asText() + ": must be a number");
    }
  }

  /** An optional pruned fraction in [0, EncodingSpec.MAX_PRUNE]; 0 when absent. */
  private static double prune(JsonNode node) {
    JsonNode v = node.get("prune");
    if (v == null || v.isNull()) {
      return 0;
    }
    double f;
    try {
      f = v.isNumber() ? v.doubleValue() : Double.parseDouble(v.asText().trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("Cannot set prune to " + v.asText() + ": must be a number");
    }
    if (!(f >= 0 && f <= EncodingSpec.MAX_PRUNE)) {
      throw new IllegalArgumentException(
          "Cannot set prune to " + f + ": must be a fraction between 0 and " + EncodingSpec.MAX_PRUNE);
    }
    return f;
  }

  private static EncodingSpec.Entropy entropy(JsonNode node) {
    String e = text(node, "entropy", null);
    return e == null ? EncodingSpec.Entropy.NONE : EncodingSpec.Entropy.parse(e);
  }

  /** An optional fraction in [0, EncodingSpec.MAX_OUTLIERS]; 0 when absent. */
  private static double fraction(JsonNode node, String key) {
    JsonNode v = node.get(key);
    if (v == null || v.isNull()) {
      return 0;
    }
    double f;
    if (v.isNumber()) {
      f = v.doubleValue();
    } else {
      try {
        f = Double.parseDouble(v.asText().trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("Cannot set " + key + " to " + v.asText() + ": must be a number");
      }
    }
    if (!(f >= 0 && f <= EncodingSpec.MAX_OUTLIERS)) {
      throw new IllegalArgumentException("Cannot set " + key + " to " + f
          + ": must be a fraction between 0 and " + EncodingSpec.MAX_OUTLIERS);
    }
    return f;
  }

  private static void checkKeys(JsonNode node, Set<String> allowed, String prefix) {
    for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
      String key = it.next().getKey();
      if (!allowed.contains(key)) {
        throw new IllegalArgumentException(
            "Unknown config key '" + prefix + key + "'; known keys: " + String.join(", ", allowed.stream().sorted().toList()));
      }
    }
  }

  private static String text(JsonNode node, String key, String dflt) {
    JsonNode v = node.get(key);
    if (v == null || v.isNull()) {
      return dflt;
    }
    if (!v.isTextual()) {
      throw new IllegalArgumentException("Config key '" + key + "' must be a string, got " + v);
    }
    return v.asText();
  }

  private static boolean bool(JsonNode node, String key) {
    JsonNode v = node.get(key);
    if (v == null || v.isNull()) {
      return false;
    }
    if (!v.isBoolean()) {
      throw new IllegalArgumentException("Config key '" + key + "' must be true or false, got " + v);
    }
    return v.booleanValue();
  }

  private static long integer(JsonNode node, String key, long dflt) {
    JsonNode v = node.get(key);
    if (v == null || v.isNull()) {
      return dflt;
    }
    if (!v.isIntegralNumber() || !v.canConvertToLong()) {
      throw new IllegalArgumentException("Config key '" + key + "' must be an integer, got " + v);
    }
    return v.longValue();
  }

  /** An int-valued key; a long beyond int range is rejected rather than wrapped. */
  private static int int32(JsonNode node, String key, String fullKey, int dflt) {
    long v = integer(node, key, dflt);
    if (v != (int) v) {
      throw new IllegalArgumentException("Cannot set " + fullKey + " to " + v + ": out of range");
    }
    return (int) v;
  }

  private static double number(JsonNode node, String key, double dflt) {
    JsonNode v = node.get(key);
    if (v == null || v.isNull()) {
      return dflt;
    }
    if (!v.isNumber()) {
      throw new IllegalArgumentException("Config key '" + key + "' must be a number, got " + v);
    }
    return v.doubleValue();
  }

  /** A byte count: an integer, or a string like "64MiB", "512 MB", "1g". */
  private static long bytes(JsonNode node, String key, long dflt) {
    JsonNode v = node.get(key);
    if (v == null || v.isNull()) {
      return dflt;
    }
    if (v.isIntegralNumber()) {
      return v.longValue();
    }
    if (v.isTextual()) {
      try {
        return parseBytes(v.asText());
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("Config key '" + key + "': " + e.getMessage(), e);
      }
    }
    throw new IllegalArgumentException("Config key '" + key + "' must be a byte count, got " + v);
  }

  /** Parses "1048576", "64MiB", "64m", "1 GiB"; units are binary (KiB=1024). */
  public static long parseBytes(String s) {
    String t = s.trim().toLowerCase(Locale.ROOT).replace(" ", "");
    int i = 0;
    while (i < t.length() && Character.isDigit(t.charAt(i))) {
      i++;
    }
    if (i == 0) {
      throw new IllegalArgumentException("'" + s + "' is not a byte count like 67108864 or 64MiB");
    }
    String unit = t.substring(i);
    long mult = switch (unit) {
      case "", "b" -> 1L;
      case "k", "kb", "kib" -> 1L << 10;
      case "m", "mb", "mib" -> 1L << 20;
      case "g", "gb", "gib" -> 1L << 30;
      case "t", "tb", "tib" -> 1L << 40;
      default -> throw new IllegalArgumentException(
          "'" + s + "' has an unknown unit '" + unit + "' (use KiB, MiB, GiB or TiB)");
    };
    try {
      return Math.multiplyExact(Long.parseLong(t.substring(0, i)), mult);
    } catch (ArithmeticException | NumberFormatException e) {
      throw new IllegalArgumentException("'" + s + "' is too large: must be at most " + Long.MAX_VALUE + " bytes", e);
    }
  }
}
