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
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What a compress run did and how well: the {@code report.json} of the output and the summary the
 * CLI prints. Totals, one row per compressed tensor, one per group, and the tensors the config
 * meant to compress that were kept dense instead (NaN or Inf weights), with why.
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
    BitAllocator.Result allocation) {

  /** @param storedBytes packed codes plus per-tensor parameters (codebooks, scales, zeros) */
  public record TensorRow(String name, String group, int bits, long numel, long storedBytes,
      ErrorStats error) {
    public double bitsPerWeight() {
      return 8.0 * storedBytes / numel;
    }
  }

  /**
   * @param codebook the shared codebook, or null when the method has none
   * @param storedBytes every stored byte of the group's tensors: codes with padding, the shared
   *     codebook, per-tensor codebooks, scales and zero points
   */
  public record GroupRow(String name, EncodingSpec spec, long params, long storedBytes,
      List<String> tensors, float[] codebook, int iterations, int points, double initSeconds,
      double mllibSeconds, ErrorStats error) {
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

  static CompressReport of(CompressionPlan plan, long inputBytes, long outputBytes,
      float[][] codebooks, Particleizer.Fit[] fits, Map<Integer, ErrorStats> errors,
      CompressJob.Timer timer, String output, long readBytes, long readRequests,
      BitAllocator.Result allocation) {
    ErrorStats total = new ErrorStats();
    List<TensorRow> tensors = new java.util.ArrayList<>();
    long codeBytes = 0;
    for (Tensor t : plan.tensors()) {
      if (!t.compressed()) {
        continue;
      }
      ErrorStats e = errors.get(t.index());
      if (e == null) {
        throw new IllegalStateException("No error measured for tensor " + t.name());
      }
      total.merge(e);
      long stored = t.outputBytes() + plan.paramBytes(t);
      codeBytes += stored;
      tensors.add(new TensorRow(t.name(), plan.groups().get(t.group()).name(), t.bits(), t.numel(),
          stored, e));
    }
    List<GroupRow> groups = new java.util.ArrayList<>();
    long codebookBytes = 0;
    for (Group g : plan.groups()) {
      ErrorStats ge = new ErrorStats();
      List<String> names = new java.util.ArrayList<>();
      long params = 0;
      long stored = 0;
      for (int t : g.tensors()) {
        Tensor tensor = plan.tensors().get(t);
        ge.merge(errors.get(t));
        names.add(tensor.name());
        params += tensor.numel();
        stored += tensor.outputBytes() + plan.paramBytes(tensor);
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
          fit == null ? 0 : fit.initSeconds(), fit == null ? 0 : fit.mllibSeconds(), ge));
    }
    return new CompressReport(output, plan.totalParams(), plan.compressedParams(), inputBytes,
        outputBytes, codeBytes, codebookBytes, total, timer.total(), Map.copyOf(timer.phases),
        readBytes, readRequests, tensors, groups, plan.warnings(), plan.keptDense(), allocation);
  }

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
    ObjectNode ph = t.putObject("phase_seconds");
    for (String p : phaseSeconds.containsKey("allocation")
        ? List.of("plan", "histogram", "allocation", "particleization", "encode", "commit")
        : List.of("plan", "histogram", "particleization", "encode", "commit")) {
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
      o.put("group", r.group());
      o.put("bits", r.bits());
      o.put("numel", r.numel());
      o.put("bits_per_weight", r.bitsPerWeight());
      o.put("mse", r.error().mse());
      putDb(o, "sqnr_db", r.error().sqnrDb());
      o.put("max_abs_err", r.error().maxAbsError());
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
      if (g.spec().method() == EncodingSpec.Method.KMEANS) {
        params.put("codebook_precision", g.spec().codebookPrecision().name());
        params.put("per_tensor_scale", g.spec().perTensorScale());
        if (g.spec().blockScaled()) {
          params.put("scale_precision", g.spec().scalePrecision().name());
        }
      } else {
        params.put("scale_precision", g.spec().scalePrecision().name());
      }
      o.put("params", g.params());
      o.put("stored_bytes", g.storedBytes());
      o.put("bits_per_weight", g.bitsPerWeight());
      ArrayNode names = o.putArray("tensors");
      g.tensors().forEach(names::add);
      if (g.codebook() != null) {
        ArrayNode cb = o.putArray("codebook");
        for (float c : g.codebook()) {
          cb.add(c);
        }
      }
      o.put("kmeans_iterations", g.iterations());
      o.put("histogram_points", g.points());
      o.put("init_seconds", g.initSeconds());
      o.put("mllib_seconds", g.mllibSeconds());
      putDb(o, "sqnr_db", g.error().sqnrDb());
    }
    // Sensitivity: which tensors hold the error, largest share first.
    ArrayNode sens = root.putArray("sensitivity");
    double totalSse = squaredError();
    for (TensorRow r : sensitivity()) {
      double sse = r.error().mse() * r.numel();
      ObjectNode o = sens.addObject();
      o.put("name", r.name());
      o.put("squared_error", sse);
      o.put("share", totalSse > 0 ? sse / totalSse : 0);
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
   * The tensors by the squared error they contribute to the weights (MSE times weights),
   * largest first: the layers that lose most (without calibration data, error in the weights
   * stands in for error in the model's output).
   */
  public List<TensorRow> sensitivity() {
    List<TensorRow> rows = new java.util.ArrayList<>(tensors);
    rows.sort((a, b) -> Double.compare(b.error().mse() * b.numel(), a.error().mse() * a.numel()));
    return rows;
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
    StringBuilder phases = new StringBuilder();
    for (String p : phaseSeconds.containsKey("allocation")
        ? List.of("plan", "histogram", "allocation", "particleization", "encode", "commit")
        : List.of("plan", "histogram", "particleization", "encode", "commit")) {
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
      s.append(String.format(Locale.ROOT, "  worst   %s  %.2f dB%n", worst.name(), worst.error().sqnrDb()));
      double totalSse = squaredError();
      List<TensorRow> top = sensitivity();
      if (totalSse > 0) {
        StringBuilder most = new StringBuilder();
        for (int i = 0; i < Math.min(3, top.size()); i++) {
          most.append(String.format(Locale.ROOT, "%s%s %.0f%%", i == 0 ? "" : ", ", top.get(i).name(),
              100 * top.get(i).error().mse() * top.get(i).numel() / totalSse));
        }
        s.append("  error share  ").append(most).append(String.format(Locale.ROOT,
            " (report.json: sensitivity)%n"));
      }
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
