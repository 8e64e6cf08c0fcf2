package io.sparticle.spark;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sparticle.plan.CompressionPlan;
import io.sparticle.plan.CompressionPlan.Group;
import io.sparticle.plan.CompressionPlan.Tensor;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.ErrorStats;
import io.sparticle.quant.WeightHistogram;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What a compress run did and how well: the {@code report.json} of the output and the summary the
 * CLI prints. Totals, one row per compressed tensor, one per group, and the tensors the config
 * meant to compress that were kept dense instead (NaN or Inf weights), with why. Tensors are
 * named as in the checkpoint; an ONNX tensor named after its node (see
 * {@link io.sparticle.plan.CompressionPlanner}) also shows that name ({@code node} in JSON).
 */
public record CompressReport(
    String output,
    long params,
    long compressedParams,
    long inputBytes,
    long outputBytes,
    long codeBytes,
    long codebookBytes,
    ErrorStats total,
    double seconds,
    Map<String, Double> phaseSeconds,
    long readBytes,
    long readRequests,
    List<TensorRow> tensors,
    List<GroupRow> groups,
    List<String> warnings,
    Map<String, String> keptDense,
    BitAllocator.Result allocation,
    ImportanceLoader.Loaded calibration,
    SizeBreakdown sizes) {

  /**
   * Where the output's bytes go. {@code codes}: packed or entropy-coded codes (with segment
   * indexes); {@code codebooks}: shared codebooks and per-channel codebooks; {@code scales}:
   * block scales and their ladders, uniform scales and zero points; {@code outliers}: the sparse
   * outliers kept exact; {@code dense}: tensors stored as they were; {@code other}: the rest of
   * the output's bytes (file headers, manifest.json, an ONNX model's skeleton).
   */
  public record SizeBreakdown(long codes, long codebooks, long scales, long outliers, long dense,
      long other) {}

  /**
   * @param storedBytes packed codes plus per-tensor parameters (codebooks, scales, zeros)
   * @param calibrated whether the tensor's weights had an importance
   * @param outputScale the tensor's mean importance over that of all calibrated weights (1 if none)
   * @param node ONNX: the name of the node that uses the tensor, null if none
   */
  public record TensorRow(String name, String group, int bits, long numel, long storedBytes,
      ErrorStats error, boolean calibrated, double outputScale, long pruned, String node) {
    /** A row of a tensor without a node name. */
    public TensorRow(String name, String group, int bits, long numel, long storedBytes,
        ErrorStats error, boolean calibrated, double outputScale, long pruned) {
      this(name, group, bits, numel, storedBytes, error, calibrated, outputScale, pruned, null);
    }

    /** The name, and the node name after it in parentheses when there is one. */
    public String label() {
      return node == null ? name : name + " (" + node + ")";
    }

    /** Fraction of the tensor's weights pruned to exactly 0. */
    public double sparsity() {
      return numel == 0 ? 0 : (double) pruned / numel;
    }

    public double bitsPerWeight() {
      return 8.0 * storedBytes / numel;
    }

    /** Squared error summed over the tensor's weights. */
    public double squaredError() {
      return error.mse() * numel;
    }

    /**
     * The error the layer's output sees: importance (mean squared activation, over its mean
     * over all calibrated weights) times squared error, summed over the weights, when the tensor
     * had an importance; its squared error (importance 1, the mean) when not.
     */
    public double outputError() {
      return calibrated ? error.outputError() * outputScale : squaredError();
    }
  }

  /** Whether weights had an importance (calibration or an importance file). */
  public boolean calibrated() {
    return calibration != null && calibration.source() != null;
  }

  /** The phases timed, in order. */
  private List<String> phaseNames() {
    List<String> p = new java.util.ArrayList<>(List.of("plan"));
    if (phaseSeconds.containsKey("calibration")) {
      p.add("calibration");
    }
    p.add("histogram");
    if (phaseSeconds.containsKey("allocation")) {
      p.add("allocation");
    }
    p.addAll(List.of("particleization", "encode", "commit"));
    return p;
  }

  /**
   * @param codebook the shared codebook, or null when the method has none
   * @param storedBytes every stored byte of the group's tensors: codes with padding, the shared
   *     codebook, per-tensor codebooks, scales and zero points
   */
  /**
   * @param codeCounts entropy-coded groups: how often each code occurs over the group's tensors
   *     (else null), from which {@link #codeEntropyBits} is computed
   * @param codedBytes entropy-coded groups: the bytes of their codes with segment indexes
   */
  /**
   * @param histogram the group's weights binned ({@link #histogramOf}), in the codebook's units;
   *     null for groups without one
   */
  public record GroupRow(String name, EncodingSpec spec, long params, long storedBytes,
      List<String> tensors, float[] codebook, int iterations, int points, double initSeconds,
      double mllibSeconds, ErrorStats error, long[] codeCounts, long codedBytes,
      io.sparticle.format.Manifest.Mixture mixture, WeightHistogram histogram) {
    /** The order-0 empirical entropy of the group's codes, bits per code (NaN if not counted). */
    public double codeEntropyBits() {
      return codeCounts == null ? Double.NaN
          : io.sparticle.packing.EntropyCoder.entropyBits(codeCounts);
    }

    /** Codes of the group: one per weight, one per sub-vector for vq. */
    public long codes() {
      return params / spec.dim();
    }

    public int k() {
      return spec.k();
    }

    public int bits() {
      return spec.bits();
    }

    public double bitsPerWeight() {
      return params == 0 ? 0 : 8.0 * storedBytes / params;
    }
  }

  /** Input bytes over output bytes (all files of the output directory). */
  public double ratio() {
    return (double) inputBytes / outputBytes;
  }

  /**
   * Bits per compressed weight, all overhead counted: packed codes (with padding), shared
   * codebooks, per-tensor codebooks, scales and zero points.
   */
  public double bitsPerWeight() {
    return compressedParams == 0 ? 0 : 8.0 * (codeBytes + codebookBytes) / compressedParams;
  }

  /**
   * The report of a run of {@code plan}; {@code nodes} holds the node names of the tensors that
   * have one, by tensor name ({@link io.sparticle.plan.SourceCheckpoint#nodeNames()}).
   */
  static CompressReport of(CompressionPlan plan, Map<String, String> nodes, long inputBytes,
      long outputBytes, float[][] codebooks, Particleizer.Fit[] fits,
      Map<Integer, io.sparticle.format.CheckpointWriter.TensorError> results,
      CompressJob.Timer timer, String output, long readBytes, long readRequests,
      BitAllocator.Result allocation, ImportanceLoader.Loaded calibration,
      HistogramPass.Result histograms) {
    Map<Integer, ErrorStats> errors = new java.util.HashMap<>();
    results.forEach((t, r) -> errors.put(t, r.stats()));
    ErrorStats total = new ErrorStats();
    List<TensorRow> tensors = new java.util.ArrayList<>();
    long codeBytes = 0;
    long[] parts = new long[4]; // codes, per-channel codebooks, scales, outliers
    long dense = 0;
    for (Tensor t : plan.tensors()) {
      if (!t.compressed()) {
        dense += t.outputBytes();
        continue;
      }
      ErrorStats e = errors.get(t.index());
      if (e == null) {
        throw new IllegalStateException("No error measured for tensor " + t.name());
      }
      total.merge(e);
      long codes = storedCodes(plan, t, results.get(t.index()));
      long stored = codes + plan.paramBytes(t);
      codeBytes += stored;
      EncodingSpec spec = plan.spec(t);
      long outlierBytes = spec.outliers() > 0
          ? io.sparticle.format.SparseOutliers.bytes(t.numel(), t.outliers().count(), t.dtype()) : 0;
      parts[0] += codes;
      parts[spec.perChannelCodebooks() ? 1 : 2] += stored - codes - outlierBytes;
      parts[3] += outlierBytes;
      tensors.add(new TensorRow(t.name(), plan.groups().get(t.group()).name(), t.bits(), t.numel(),
          stored, e, calibration.byTensor().containsKey(t.index()),
          calibration.outputScale().getOrDefault(t.index(), 1.0), t.pruned().count(),
          nodes.get(t.name())));
    }
    List<GroupRow> groups = new java.util.ArrayList<>();
    java.util.Set<Integer> histogrammed = histogrammed(plan, histograms);
    long codebookBytes = 0;
    for (Group g : plan.groups()) {
      ErrorStats ge = new ErrorStats();
      List<String> names = new java.util.ArrayList<>();
      long params = 0;
      long stored = 0;
      long coded = 0;
      long[] counts = null;
      for (int t : g.tensors()) {
        Tensor tensor = plan.tensors().get(t);
        ge.merge(errors.get(t));
        names.add(tensor.name());
        params += tensor.numel();
        io.sparticle.format.CheckpointWriter.TensorError r = results.get(t);
        long codes = storedCodes(plan, tensor, r);
        stored += codes + plan.paramBytes(tensor);
        if (r != null && r.codeCounts() != null) {
          coded += codes;
          if (counts == null) {
            counts = new long[r.codeCounts().length];
          }
          for (int c = 0; c < counts.length; c++) {
            counts[c] += r.codeCounts()[c];
          }
        }
      }
      float[] book = codebooks[g.index()];
      Particleizer.Fit fit = fits[g.index()];
      if (book != null) {
        long bytes = (long) book.length * g.spec().codebookPrecision().byteSize();
        codebookBytes += bytes;
        stored += bytes;
      }
      groups.add(new GroupRow(g.name(), g.spec(), params, stored, names, book,
          fit == null ? 0 : fit.iterations(), fit == null ? 0 : fit.points(),
          fit == null ? 0 : fit.initSeconds(), fit == null ? 0 : fit.mllibSeconds(), ge, counts,
          coded, fit == null ? null : fit.mixture(),
          histogramOf(g, book, histograms, histogrammed.contains(g.index()))));
    }
    long books = codebookBytes + parts[1];
    SizeBreakdown sizes = new SizeBreakdown(parts[0], books, parts[2], parts[3], dense,
        outputBytes - parts[0] - books - parts[2] - parts[3] - dense);
    return new CompressReport(output, plan.totalParams(), plan.compressedParams(), inputBytes,
        outputBytes, codeBytes, codebookBytes, total, timer.total(), Map.copyOf(timer.phases),
        readBytes, readRequests, tensors, groups, plan.warnings(), plan.keptDense(), allocation,
        calibration, sizes);
  }

  /** Bins of a group's weight histogram in report.json. */
  static final int HISTOGRAM_BINS = 128;

  /**
   * Groups whose weight histogram report.json holds, the largest first: enough for any grouping
   * by module, and bounded (a few kilobytes each) when every tensor is a group of its own.
   */
  static final int MAX_HISTOGRAMS = 256;

  /**
   * The groups that get a histogram: those fitted on the histogram pass's points (scalar kmeans
   * and gmm with a shared codebook) that have points, at most {@link #MAX_HISTOGRAMS}, the most
   * params first.
   */
  private static java.util.Set<Integer> histogrammed(CompressionPlan plan,
      HistogramPass.Result histograms) {
    List<Group> eligible = new java.util.ArrayList<>();
    long[] params = new long[plan.groups().size()];
    for (Group g : plan.groups()) {
      if (histograms != null && histograms.points().containsKey(g.name())) {
        eligible.add(g);
        for (int t : g.tensors()) {
          params[g.index()] += plan.tensors().get(t).numel();
        }
      }
    }
    eligible.sort((a, b) -> Long.compare(params[b.index()], params[a.index()]));
    java.util.Set<Integer> chosen = new java.util.HashSet<>();
    for (Group g : eligible.subList(0, Math.min(MAX_HISTOGRAMS, eligible.size()))) {
      chosen.add(g.index());
    }
    return chosen;
  }

  /**
   * The group's weights as its codebook was fitted on them: the histogram pass's points (divided
   * by each tensor's scale where the group scales per tensor, without outliers and pruned
   * weights), binned; null when the group is not {@code chosen} or has no codebook.
   */
  private static WeightHistogram histogramOf(Group g, float[] codebook,
      HistogramPass.Result histograms, boolean chosen) {
    if (!chosen || codebook == null) {
      return null;
    }
    io.sparticle.quant.GroupPoints p = histograms.points(g);
    return WeightHistogram.of(p.values(), p.weights(false), HISTOGRAM_BINS, codebook);
  }

  /** Bytes of a tensor's codes: as written when entropy-coded, else bit-packed as planned. */
  private static long storedCodes(CompressionPlan plan, Tensor t,
      io.sparticle.format.CheckpointWriter.TensorError r) {
    return plan.spec(t).entropy() != EncodingSpec.Entropy.NONE && r != null && r.codeBytes() >= 0
        ? r.codeBytes() : t.outputBytes();
  }

  /** The largest codebook report.json lists (a 16-bit vq codebook would be megabytes of JSON). */
  static final int MAX_LISTED_CENTROIDS = 4096;

  private static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  public byte[] toJson() {
    ObjectNode root = MAPPER.createObjectNode();
    ObjectNode t = root.putObject("totals");
    t.put("params", params);
    t.put("compressed_params", compressedParams);
    t.put("input_bytes", inputBytes);
    t.put("output_bytes", outputBytes);
    t.put("ratio", ratio());
    t.put("bits_per_weight", bitsPerWeight());
    putDb(t, "sqnr_db", total.sqnrDb());
    t.put("mse", total.mse());
    t.put("max_abs_err", total.maxAbsError());
    t.put("seconds", seconds);
    ObjectNode sb = t.putObject("size_breakdown");
    sb.put("codes", sizes.codes());
    sb.put("codebooks", sizes.codebooks());
    sb.put("scales", sizes.scales());
    sb.put("outliers", sizes.outliers());
    sb.put("dense", sizes.dense());
    sb.put("other", sizes.other());
    ObjectNode ph = t.putObject("phase_seconds");
    for (String p : phaseNames()) {
      ph.put(p, phaseSeconds.getOrDefault(p, 0.0));
    }
    ObjectNode io = t.putObject("io");
    io.put("bytes_read", readBytes);
    if (readRequests >= 0) {
      io.put("read_requests", readRequests);
      io.put("read_requests_per_gib", readRequestsPerGiB());
    }
    ArrayNode ts = root.putArray("tensors");
    for (TensorRow r : tensors) {
      ObjectNode o = ts.addObject();
      o.put("name", r.name());
      if (r.node() != null) {
        o.put("node", r.node());
      }
      o.put("group", r.group());
      o.put("bits", r.bits());
      o.put("numel", r.numel());
      o.put("bits_per_weight", r.bitsPerWeight());
      o.put("mse", r.error().mse());
      putDb(o, "sqnr_db", r.error().sqnrDb());
      o.put("max_abs_err", r.error().maxAbsError());
      if (r.pruned() > 0) {
        o.put("pruned", r.pruned());
        o.put("sparsity", r.sparsity());
      }
    }
    Map<String, String> nodes = new java.util.HashMap<>();
    for (TensorRow r : tensors) {
      if (r.node() != null) {
        nodes.put(r.name(), r.node());
      }
    }
    ArrayNode gs = root.putArray("groups");
    for (GroupRow g : groups) {
      ObjectNode o = gs.addObject();
      o.put("name", g.name());
      o.put("method", g.spec().method().key());
      o.put("scope", g.spec().scope().key());
      o.put("k", g.k());
      o.put("bits", g.bits());
      ObjectNode params = o.putObject("parameters");
      if (g.spec().outliers() > 0) {
        params.put("outliers", g.spec().outliers());
      }
      if (g.spec().scope() == EncodingSpec.Scope.BLOCK) {
        params.put("block_size", g.spec().blockSize());
      }
      if (g.spec().method() != EncodingSpec.Method.UNIFORM) {
        params.put("codebook_precision", g.spec().codebookPrecision().name());
        params.put("per_tensor_scale", g.spec().perTensorScale());
        if (g.spec().blockScaled()) {
          params.put("scale_precision", g.spec().scalePrecision().name());
        }
      } else {
        params.put("scale_precision", g.spec().scalePrecision().name());
      }
      if (g.spec().vector()) {
        params.put("vq_dim", g.spec().dim());
        params.put("code_bits", g.spec().codeBits());
      }
      if (g.spec().prune() > 0) {
        params.put("prune", g.spec().prune());
      }
      if (g.spec().entropy() != EncodingSpec.Entropy.NONE) {
        params.put("entropy", g.spec().entropy().key());
        params.put("segment_codes", g.spec().segmentCodes());
      }
      o.put("params", g.params());
      o.put("stored_bytes", g.storedBytes());
      o.put("bits_per_weight", g.bitsPerWeight());
      if (g.codeCounts() != null) {
        // The entropy coder against its bound: the codes' order-0 entropy (counted exactly).
        ObjectNode en = o.putObject("entropy");
        double h = g.codeEntropyBits();
        en.put("code_entropy_bits", h);
        en.put("entropy_bytes", h * g.codes() / 8);
        en.put("coded_bytes", g.codedBytes());
        en.put("coded_bits_per_code", g.codes() == 0 ? 0 : 8.0 * g.codedBytes() / g.codes());
        en.put("overhead", h > 0 ? 8.0 * g.codedBytes() / (h * g.codes()) - 1 : 0);
      }
      if (g.mixture() != null) {
        g.mixture().writeTo(o.putObject("mixture"));
      }
      ArrayNode names = o.putArray("tensors");
      g.tensors().forEach(names::add);
      if (g.tensors().stream().anyMatch(nodes::containsKey)) {
        // Parallel to "tensors": each one's node name, null where it has none.
        ArrayNode byNode = o.putArray("nodes");
        g.tensors().forEach(n -> byNode.add(nodes.get(n)));
      }
      if (g.codebook() != null && g.codebook().length <= MAX_LISTED_CENTROIDS) {
        ArrayNode cb = o.putArray("codebook");
        for (float c : g.codebook()) {
          cb.add(c);
        }
      }
      if (g.histogram() != null) {
        WeightHistogram h = g.histogram();
        ObjectNode ho = o.putObject("histogram");
        ho.put("scaled", g.spec().perTensorScale());
        ho.put("lo", h.lo());
        ho.put("hi", h.hi());
        ho.put("below", h.below());
        ho.put("above", h.above());
        ho.put("min", h.min());
        ho.put("max", h.max());
        // On one line: one number per line would make the bins most of the file.
        StringBuilder bins = new StringBuilder("[");
        for (int i = 0; i < h.counts().length; i++) {
          bins.append(i == 0 ? "" : ",").append(h.counts()[i]);
        }
        ho.putRawValue("counts", new com.fasterxml.jackson.databind.util.RawValue(bins.append(']').toString()));
      }
      o.put("kmeans_iterations", g.iterations());
      o.put("histogram_points", g.points());
      o.put("init_seconds", g.initSeconds());
      o.put("mllib_seconds", g.mllibSeconds());
      putDb(o, "sqnr_db", g.error().sqnrDb());
    }
    if (calibrated()) {
      ObjectNode c = root.putObject("calibration");
      c.put("source", calibration.source());
      c.put("path", calibration.path());
      if (calibration.source().equals("calibration")) {
        c.put("sentences", calibration.sentences());
        c.put("tokens", calibration.tokens());
      }
      c.put("seconds", calibration.seconds());
      c.put("tensors", calibration.byTensor().size());
      ArrayNode sk = c.putArray("without_importance");
      calibration.skipped().forEach((name, why) -> sk.addObject().put("name", name).put("reason", why));
    }
    // Sensitivity: which tensors hold the error, largest share first: of the error the layers'
    // outputs see with calibration, of the weights' squared error without.
    ArrayNode sens = root.putArray("sensitivity");
    double totalSse = squaredError();
    double totalOut = outputError();
    for (TensorRow r : sensitivity()) {
      ObjectNode o = sens.addObject();
      o.put("name", r.name());
      if (r.node() != null) {
        o.put("node", r.node());
      }
      o.put("squared_error", r.squaredError());
      if (calibrated()) {
        o.put("output_error", r.outputError());
        o.put("share", totalOut > 0 ? r.outputError() / totalOut : 0);
        o.put("calibrated", r.calibrated());
      } else {
        o.put("share", totalSse > 0 ? r.squaredError() / totalSse : 0);
      }
      putDb(o, "sqnr_db", r.error().sqnrDb());
    }
    if (allocation != null) {
      ObjectNode a = root.putObject("allocation");
      a.put("target_bits", allocation.targetBits());
      a.put("planned_bits_per_weight", allocation.bitsPerWeight());
      ArrayNode ag = a.putArray("groups");
      for (BitAllocator.Curve c : allocation.curves()) {
        ObjectNode o = ag.addObject();
        o.put("name", c.group());
        o.put("bits", c.chosen());
        o.put("allocated", c.allocated());
        if (c.allocated()) {
          ArrayNode curve = o.putArray("curve");
          for (int b = BitAllocator.MIN_BITS; b <= BitAllocator.MAX_BITS; b++) {
            curve.addObject().put("bits", b).put("stored_bits", c.storedBits()[b])
                .put("estimated_squared_error", c.sse()[b]);
          }
        }
      }
    }
    ArrayNode kd = root.putArray("kept_dense");
    keptDense.forEach((name, reason) -> kd.addObject().put("name", name).put("reason", reason));
    ArrayNode w = root.putArray("warnings");
    warnings.forEach(w::add);
    try {
      return (MAPPER.writeValueAsString(root) + "\n").getBytes(StandardCharsets.UTF_8);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * The tensors by the error they contribute, largest first: the layers that lose most. With
   * calibration, the error their outputs see ({@link TensorRow#outputError}); without, error in
   * the weights (MSE times weights) stands in for it.
   */
  public List<TensorRow> sensitivity() {
    List<TensorRow> rows = new java.util.ArrayList<>(tensors);
    boolean out = calibrated();
    rows.sort((a, b) -> out ? Double.compare(b.outputError(), a.outputError())
        : Double.compare(b.squaredError(), a.squaredError()));
    return rows;
  }

  /** {@link TensorRow#outputError} summed over every compressed tensor. */
  public double outputError() {
    double e = 0;
    for (TensorRow r : tensors) {
      e += r.outputError();
    }
    return e;
  }

  /** The squared error summed over every compressed weight. */
  public double squaredError() {
    double sse = 0;
    for (TensorRow r : tensors) {
      sse += r.error().mse() * r.numel();
    }
    return sse;
  }

  /** Storage requests per GiB read, both passes together; NaN when the store did not say. */
  public double readRequestsPerGiB() {
    return readRequests < 0 || readBytes == 0 ? Double.NaN
        : readRequests / (readBytes / (double) (1L << 30));
  }

  /** JSON has no Infinity: a lossless tensor's SQNR is written as null. */
  private static void putDb(ObjectNode o, String key, double db) {
    if (Double.isFinite(db)) {
      o.put(key, db);
    } else {
      o.putNull(key);
    }
  }

  /** The short human summary printed at the end of a run. */
  public String summary() {
    StringBuilder s = new StringBuilder();
    s.append(String.format(Locale.ROOT, "Compressed %,d of %,d params in %d groups (%d tensors)%n",
        compressedParams, params, groups.size(), tensors.size()));
    s.append(String.format(Locale.ROOT, "  size    %,d -> %,d bytes  ratio %.2fx  %.3f bits/weight%n",
        inputBytes, outputBytes, ratio(), bitsPerWeight()));
    java.util.Map<String, long[]> methods = new java.util.TreeMap<>();
    for (GroupRow g : groups) {
      long[] m = methods.computeIfAbsent(g.spec().describe(), k -> new long[3]);
      m[0]++;
      m[1] += g.params();
      m[2] += g.storedBytes();
    }
    methods.forEach((m, v) -> s.append(String.format(Locale.ROOT,
        "  method  %s: %d group(s), %.3f bits/weight%n", m, v[0], 8.0 * v[2] / Math.max(1, v[1]))));
    s.append(String.format(Locale.ROOT, "  error   SQNR %.2f dB  MSE %.3e  max |err| %.3e%n",
        total.sqnrDb(), total.mse(), total.maxAbsError()));
    long codes = 0;
    long coded = 0;
    double entropyBits = 0;
    for (GroupRow g : groups) {
      if (g.codeCounts() != null) {
        codes += g.codes();
        coded += g.codedBytes();
        entropyBits += g.codeEntropyBits() * g.codes();
      }
    }
    if (codes > 0) {
      s.append(String.format(Locale.ROOT,
          "  entropy codes %.3f bits each, %.1f%% over their order-0 entropy of %.3f (report.json: groups[].entropy)%n",
          8.0 * coded / codes, entropyBits > 0 ? 100 * (8.0 * coded / entropyBits - 1) : 0,
          entropyBits / codes));
    }
    long pruned = 0;
    long prunable = 0;
    for (TensorRow r : tensors) {
      pruned += r.pruned();
      prunable += r.pruned() > 0 ? r.numel() : 0;
    }
    if (pruned > 0) {
      s.append(String.format(Locale.ROOT, "  pruned  %,d weights set to 0 (%.1f%% of their tensors)%n",
          pruned, 100.0 * pruned / prunable));
    }
    StringBuilder phases = new StringBuilder();
    for (String p : phaseNames()) {
      phases.append(String.format(Locale.ROOT, " %s %.1f", p, phaseSeconds.getOrDefault(p, 0.0)));
    }
    s.append(String.format(Locale.ROOT, "  time    %.1f s (%s )  %.1fM params/s%n", seconds,
        phases.toString().trim(), params / seconds / 1e6));
    if (readRequests >= 0) {
      s.append(String.format(Locale.ROOT, "  reads   %,d bytes in %,d requests (%.0f per GiB)%n",
          readBytes, readRequests, readRequestsPerGiB()));
    }
    TensorRow worst = null;
    for (TensorRow r : tensors) {
      if (worst == null || r.error().sqnrDb() < worst.error().sqnrDb()) {
        worst = r;
      }
    }
    if (worst != null) {
      s.append(String.format(Locale.ROOT, "  worst   %s  %.2f dB%n", worst.label(), worst.error().sqnrDb()));
      boolean out = calibrated();
      double totalErr = out ? outputError() : squaredError();
      List<TensorRow> top = sensitivity();
      if (totalErr > 0) {
        StringBuilder most = new StringBuilder();
        for (int i = 0; i < Math.min(3, top.size()); i++) {
          TensorRow r = top.get(i);
          most.append(String.format(Locale.ROOT, "%s%s %.0f%%", i == 0 ? "" : ", ", r.label(),
              100 * (out ? r.outputError() : r.squaredError()) / totalErr));
        }
        s.append(out ? "  output error share  " : "  error share  ").append(most)
            .append(String.format(Locale.ROOT, " (report.json: sensitivity)%n"));
      }
    }
    if (calibrated()) {
      s.append(calibration.source().equals("calibration")
          ? String.format(Locale.ROOT, "  calibration  %d sentences, %,d tokens, %d tensors weighted in %.1f s%n",
              calibration.sentences(), calibration.tokens(), calibration.byTensor().size(),
              calibration.seconds())
          : String.format(Locale.ROOT, "  importance  %d tensors weighted from %s%n",
              calibration.byTensor().size(), calibration.path()));
    }
    if (allocation != null) {
      java.util.Map<Integer, Integer> byBits = new java.util.TreeMap<>();
      for (BitAllocator.Curve c : allocation.curves()) {
        byBits.merge(c.chosen(), 1, Integer::sum);
      }
      List<String> widths = new java.util.ArrayList<>();
      byBits.forEach((b, n) -> widths.add(String.format(Locale.ROOT, "%d at %d bits", n, b)));
      s.append(String.format(Locale.ROOT, "  target  %.3f bits/weight: groups %s (report.json: allocation)%n",
          allocation.targetBits(), String.join(", ", widths)));
    }
    for (String w : warnings) {
      s.append("  warning ").append(w).append('\n');
    }
    s.append("  output  ").append(output).append('\n');
    return s.toString();
  }
}
