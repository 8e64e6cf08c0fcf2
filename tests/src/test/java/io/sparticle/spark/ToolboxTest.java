package io.sparticle.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sparticle.cli.ExitCode;
import io.sparticle.cli.SparticleCli;
import io.sparticle.format.CheckpointFormatException;
import io.sparticle.format.DType;
import io.sparticle.format.Manifest;
import io.sparticle.format.SafetensorsHeader;
import io.sparticle.format.SafetensorsLayout;
import io.sparticle.format.SafetensorsReader;
import io.sparticle.format.TensorInfo;
import io.sparticle.io.LocalInputFile;
import io.sparticle.plan.JobConfig;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.synth.SyntheticCheckpoint;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The toolbox end to end on a generated Llama-shaped checkpoint (the {@code tiny} preset, BF16):
 * vq, gmm, magnitude pruning and entropy coding each compressed, verified against the input,
 * decompressed, and the report held to what decompress writes and what the directory stores.
 * Then the bars, a tampered entropy-coded segment, and a vq-dim the planner refuses.
 */
class ToolboxTest {
  @TempDir static Path tmp;
  static Path model;
  static Map<String, Checkpoints.Tensor> original;
  /** SQNR of each case, for the bars. */
  static final Map<String, Double> SQNR = new java.util.concurrent.ConcurrentHashMap<>();

  /** Each case's report, so the bars and failure tests reuse its output instead of compressing again. */
  static final Map<String, CompressReport> REPORTS = new java.util.concurrent.ConcurrentHashMap<>();

  private static final ObjectMapper JSON = new ObjectMapper();

  @BeforeAll
  static void generate() throws Exception {
    model = tmp.resolve("tiny");
    SyntheticCheckpoint.write(SyntheticCheckpoint.preset("tiny"), DType.BF16, 1L << 20, 7,
        model.toString(), new Configuration());
    original = Checkpoints.readAll(model);
  }

  /**
   * One group for every Linear-shaped tensor (per-tensor scales): one fit instead of nine, for
   * the methods whose fits cost seconds (MLlib's GaussianMixture, k = 256 vq).
   */
  static final String ONE_GROUP = """
      rules:
        - match: '.*_proj\\.weight|model\\.embed_tokens\\.weight|lm_head\\.weight'
          group: all
          per-tensor-scale: true
      """;

  /** MLlib's GaussianMixture costs seconds per iteration here: fewer than the default 100. */
  static final String GMM_ITERATIONS = "kmeans:\n  max-iterations: 20\n";

  /** Name, extra YAML, options, and the least SQNR (dB) it must reach on this checkpoint. */
  static Stream<Arguments> cases() {
    return Stream.of(
        Arguments.of("vq-2b-d4", "", Map.of("method", "vq", "bits", "2", "vq-dim", "4"), 9.0),
        Arguments.of("vq-4b-d2", ONE_GROUP, Map.of("method", "vq", "bits", "4", "vq-dim", "2"), 17.0),
        Arguments.of("vq-1b-d8", ONE_GROUP, Map.of("method", "vq", "bits", "1", "vq-dim", "8"), 4.0),
        // gmm has no SQNR bar: on heavy-tailed weights its most probable component is a wide one
        // centred near 0 (README, "Gaussian mixtures"); it must decode, verify and load as kmeans.
        Arguments.of("gmm-3b", ONE_GROUP + GMM_ITERATIONS, Map.of("method", "gmm", "bits", "3"),
            Double.NEGATIVE_INFINITY),
        Arguments.of("kmeans-4b-prune0.5-rans", "", Map.of("bits", "4", "prune", "0.5", "entropy", "rans"), 11.0),
        Arguments.of("kmeans-4b-prune0.3-huffman", "", Map.of("bits", "4", "prune", "0.3", "entropy", "huffman"), 13.0),
        Arguments.of("uniform-4b-prune0.5-rans", "", Map.of("method", "uniform", "bits", "4", "prune", "0.5", "entropy", "rans"), 12.0),
        Arguments.of("kmeans-channel-4b-prune0.3", "", Map.of("scope", "channel", "bits", "4", "prune", "0.3"), 18.0),
        Arguments.of("vq-2b-huffman", ONE_GROUP, Map.of("method", "vq", "bits", "2", "entropy", "huffman"), 9.0),
        Arguments.of("kmeans-block-rans", "", Map.of("scope", "block", "bits", "4", "entropy", "rans"), 19.0));
  }

  private static CompressReport compress(String name, Map<String, String> options) throws Exception {
    return compress(name, "", options);
  }

  private static CompressReport compress(String name, String yaml, Map<String, String> options)
      throws Exception {
    // Small chunks: codes, rows and sub-vector bands cross chunk boundaries.
    JobConfig config = JobConfig.fromYaml("chunk-bytes: 64KiB\n" + yaml, options);
    return Sparticle.compress(SharedSpark.get()).input(model.toString())
        .output(tmp.resolve(name).toString()).config(config).execute();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void compressVerifyDecompress(String name, String yaml, Map<String, String> options,
      double minSqnr) throws Exception {
    Path packed = tmp.resolve(name);
    Path restored = tmp.resolve(name + "-restored");
    CompressReport report = compress(name, yaml, options);
    REPORTS.put(name, report);
    System.out.printf(java.util.Locale.ROOT, "ToolboxTest %-28s %2d groups  %.3f bits/weight  %.2f dB%n",
        name, report.groups().size(), report.bitsPerWeight(), report.total().sqnrDb());
    assertTrue(report.total().sqnrDb() >= minSqnr, name + ": SQNR " + report.total().sqnrDb());
    SQNR.put(name, report.total().sqnrDb());

    // The checkpoint is what compressing the input gives, codes and parameters.
    VerifyJob.Result v = VerifyJob.verify(SharedSpark.get(), packed.toString(), model.toString());
    Manifest m = Manifest.parse("m", Files.readAllBytes(packed.resolve("manifest.json")));
    assertEquals(m.tensors().size(), v.tensors());
    EncodingSpec spec = m.groups().get(0).spec();
    for (Manifest.GroupEntry g : m.groups()) {
      assertEquals(spec.method(), g.spec().method(), name);
      assertEquals(spec.entropy(), g.spec().entropy(), name);
      assertEquals(spec.prune(), g.spec().prune(), name);
      assertEquals(spec.dim(), g.spec().dim(), name);
    }
    assertEquals(EncodingSpec.Method.parse(options.getOrDefault("method", "kmeans")), spec.method());

    Sparticle.decompress(SharedSpark.get()).input(packed.toString()).output(restored.toString())
        .execute();
    Map<String, Checkpoints.Tensor> back = Checkpoints.readAll(restored);
    assertEquals(original.keySet(), back.keySet());

    // The report's totals are what decompress writes: SQNR over every compressed weight.
    double signal = 0;
    double error = 0;
    JsonNode json = JSON.readTree(Files.readAllBytes(packed.resolve("report.json")));
    Map<String, JsonNode> rows = new HashMap<>();
    json.get("tensors").forEach(r -> rows.put(r.get("name").asText(), r));
    for (Manifest.TensorEntry t : m.tensors()) {
      Checkpoints.Tensor o = original.get(t.name());
      Checkpoints.Tensor r = back.get(t.name());
      assertEquals(o.info().dtype(), r.info().dtype());
      assertArrayEquals(o.info().shape(), r.info().shape());
      if (t.dense()) {
        assertArrayEquals(o.bytes(), r.bytes(), t.name());
        continue;
      }
      float[] a = o.floats();
      float[] b = r.floats();
      double se = 0;
      for (int i = 0; i < a.length; i++) {
        double d = (double) a[i] - b[i];
        se += d * d;
        signal += (double) a[i] * a[i];
      }
      error += se;
      assertEquals(rows.get(t.name()).get("mse").asDouble(), se / a.length,
          1e-12 * Math.max(1e-30, se / a.length), name + " " + t.name() + ": report mse");
      if (spec.prune() > 0) {
        checkPruned(name, t, spec, a, b, rows.get(t.name()));
      } else {
        assertFalse(rows.get(t.name()).has("pruned"), t.name());
      }
      if (spec.vector()) {
        // Sub-vectors run along the input dimension: the last axis of a safetensors [out, in].
        assertEquals(t.shape().length - 1, t.axis(), t.name());
      }
    }
    double sqnr = 10 * Math.log10(signal / error);
    assertEquals(sqnr, report.total().sqnrDb(), 1e-9 * Math.abs(sqnr), name + ": total SQNR");
    assertEquals(sqnr, json.get("totals").get("sqnr_db").asDouble(), 1e-9 * Math.abs(sqnr), name);

    // output_bytes is every stored byte: the manifest's files and the manifest itself.
    long stored = 0;
    for (Manifest.FileEntry f : m.files()) {
      assertEquals(f.size(), Files.size(packed.resolve(f.name())), f.name());
      stored += f.size();
    }
    stored += Files.size(packed.resolve("manifest.json"));
    assertEquals(stored, report.outputBytes(), name + ": output_bytes");
    assertEquals(stored, json.get("totals").get("output_bytes").asLong(), name);
    // Besides them only the report: report.json and its tables (listed as extras, not counted).
    assertEquals(Checkpoints.fileNames(packed).stream()
        .filter(f -> !f.equals("report.json") && !f.equals("report.html") && !f.equals("_SUCCESS")
            && !f.equals("report"))
        .toList(),
        Stream.concat(m.files().stream().map(Manifest.FileEntry::name), Stream.of("manifest.json"))
            .sorted().toList(), "nothing else stored");
    assertEquals(Checkpoints.fileNames(packed.resolve("report")).stream()
        .map(f -> "report/" + f).toList(),
        m.extras().stream().map(Manifest.Extra::name).sorted().toList(), "the report's tables");

    if (spec.entropy() != EncodingSpec.Entropy.NONE) {
      checkEntropy(name, packed, m, json);
    } else {
      for (JsonNode g : json.get("groups")) {
        assertFalse(g.has("entropy"), g.get("name").asText());
      }
    }
    if (spec.method() == EncodingSpec.Method.GMM) {
      for (Manifest.GroupEntry g : m.groups()) {
        assertNotNull(g.mixture(), g.name());
        assertEquals(g.spec().k(), g.mixture().means().length);
        double sum = 0;
        for (int c = 0; c < g.spec().k(); c++) {
          sum += g.mixture().weights()[c];
          assertTrue(g.mixture().variances()[c] > 0, g.name());
          if (c > 0) {
            assertTrue(g.mixture().means()[c] >= g.mixture().means()[c - 1], g.name() + " ascending");
          }
        }
        assertEquals(1.0, sum, 1e-6, g.name());
      }
    }
  }

  /**
   * A pruned tensor decodes at least {@code count} exact zeros; the count is the manifest's and
   * the report's, at most the fraction, and as many as ties allow.
   */
  private static void checkPruned(String name, Manifest.TensorEntry t, EncodingSpec spec,
      float[] a, float[] b, JsonNode row) {
    Manifest.Pruned p = t.pruned();
    assertNotNull(p, t.name());
    long max = (long) Math.floor(spec.prune() * a.length);
    long below = 0;
    long zeros = 0;
    float next = Float.POSITIVE_INFINITY;
    for (int i = 0; i < a.length; i++) {
      if (Math.abs(a[i]) <= p.threshold()) {
        below++;
        assertEquals(0f, b[i], t.name() + " pruned weight " + i + " = " + a[i]);
      } else {
        next = Math.min(next, Math.abs(a[i]));
      }
      if (b[i] == 0f) {
        zeros++;
      }
    }
    assertEquals(p.count(), below, name + " " + t.name() + ": the manifest's count");
    assertTrue(zeros >= p.count(), t.name() + ": " + zeros + " zeros < " + p.count());
    assertTrue(p.count() <= max, t.name() + ": " + p.count() + " > " + max);
    long tied = 0;
    for (float x : a) {
      if (Math.abs(x) == next) {
        tied++;
      }
    }
    assertTrue(p.count() + tied > max, name + " " + t.name() + ": " + p.count() + " pruned, "
        + tied + " more of magnitude " + next + " would fit in " + max);
    assertEquals(p.count(), row.get("pruned").asLong(), t.name());
    assertEquals((double) p.count() / a.length, row.get("sparsity").asDouble(), 1e-12, t.name());
    assertTrue(row.get("sparsity").asDouble() >= spec.prune() - (double) tied / a.length,
        t.name());
  }

  /**
   * Entropy-coded groups: codes are U8 vectors with a U64 segment index in the parts, the
   * report's coded bytes are those bytes, and the coder is within 3% of the codes' entropy.
   */
  private static void checkEntropy(String name, Path packed, Manifest m, JsonNode json)
      throws Exception {
    Map<String, TensorInfo> stored = new HashMap<>();
    try (Stream<Path> parts = Files.list(packed)) {
      for (Path p : parts.filter(f -> f.getFileName().toString().startsWith("part-")).toList()) {
        SafetensorsHeader h = SafetensorsReader.readHeader(new LocalInputFile(p));
        for (TensorInfo ti : h.tensors()) {
          stored.put(ti.name(), ti);
        }
      }
    }
    Map<String, Long> codedByGroup = new LinkedHashMap<>();
    for (Manifest.TensorEntry t : m.tensors()) {
      if (t.dense()) {
        continue;
      }
      EncodingSpec spec = m.groups().get(t.group()).spec();
      assertEquals(spec.entropy().key(), t.packing(), t.name());
      assertEquals(t.name() + "::segments", t.segmentsKey());
      TensorInfo codes = stored.get(t.key());
      TensorInfo index = stored.get(t.segmentsKey());
      assertEquals(DType.U8, codes.dtype());
      assertEquals(1, codes.shape().length);
      long numCodes = t.numel() / spec.dim();
      long segments = (numCodes + spec.segmentCodes() - 1) / spec.segmentCodes();
      assertEquals(DType.U64, index.dtype());
      assertArrayEquals(new long[] {segments}, index.shape(), t.name());
      // Entropy coding pays where the table is small beside the codes: fewer bytes than
      // bit-packing them. (A 4,096-code tensor of 256 symbols can take more: 4,147 bytes coded
      // against 4,096 packed for a k_proj under vq 2b huffman.)
      long packedBytes = (numCodes * spec.codeBits() + 7) / 8;
      if (numCodes >= 64L * spec.k()) {
        assertTrue(codes.byteLength() < packedBytes, name + " " + t.name() + ": "
            + codes.byteLength() + " coded bytes vs " + packedBytes + " packed");
      }
      codedByGroup.merge(m.groups().get(t.group()).name(), codes.byteLength() + index.byteLength(),
          Long::sum);
    }
    int checked = 0;
    for (JsonNode g : json.get("groups")) {
      JsonNode e = g.get("entropy");
      assertNotNull(e, name + " group " + g.get("name"));
      assertEquals(codedByGroup.get(g.get("name").asText()).longValue(),
          e.get("coded_bytes").asLong(), name + " group " + g.get("name") + ": coded_bytes");
      double overhead = e.get("overhead").asDouble();
      assertTrue(overhead < 0.03 && overhead > -1e-9, name + " group " + g.get("name")
          + ": overhead " + overhead + " (" + e + ")");
      assertTrue(e.get("code_entropy_bits").asDouble() > 0);
      checked++;
    }
    assertEquals(m.groups().size(), checked);
  }

  // ---- the bars ----

  @Test
  void vq2BitsBeatsScalar2BitKmeansByADecibel() throws Exception {
    double vq = SQNR.containsKey("vq-2b-d4") ? SQNR.get("vq-2b-d4")
        : compress("bar-vq-2b-d4", Map.of("method", "vq", "bits", "2", "vq-dim", "4")).total().sqnrDb();
    CompressReport scalar = compress("bar-kmeans-2b", Map.of("bits", "2"));
    System.out.printf(java.util.Locale.ROOT, "ToolboxTest bar: vq 2b d4 %.2f dB, kmeans 2b %.2f dB%n",
        vq, scalar.total().sqnrDb());
    assertTrue(vq >= scalar.total().sqnrDb() + 1.0,
        "vq 2b d4 " + vq + " dB vs kmeans 2b " + scalar.total().sqnrDb() + " dB");
  }

  @Test
  void prunedHalfAt4BitsWithRansIsUnder3BitsPerWeight() throws Exception {
    CompressReport r = REPORTS.containsKey("kmeans-4b-prune0.5-rans") ? REPORTS.get("kmeans-4b-prune0.5-rans")
        : compress("bar-prune-rans", Map.of("bits", "4", "prune", "0.5", "entropy", "rans"));
    System.out.printf(java.util.Locale.ROOT, "ToolboxTest bar: prune 0.5 kmeans 4b rans %.3f bits/weight%n",
        r.bitsPerWeight());
    assertTrue(r.bitsPerWeight() < 3.0, "bits/weight " + r.bitsPerWeight());
    // And it is the entropy coding that gets it there: the same pruning bit-packed is over 4.
    CompressReport packed = compress("bar-prune-lsb", Map.of("bits", "4", "prune", "0.5"));
    assertTrue(packed.bitsPerWeight() >= 4.0, "bits/weight " + packed.bitsPerWeight());
    assertEquals(packed.total().sqnrDb(), r.total().sqnrDb(), 1e-9,
        "entropy coding is lossless: the same codes");
  }

  // ---- failures ----

  /** A checkpoint's files, its report/ tables included. */
  private static Path copy(Path from, Path to) throws Exception {
    try (Stream<Path> s = Files.walk(from)) {
      for (Path p : s.toList()) {
        Files.copy(p, to.resolve(from.relativize(p).toString()));
      }
    }
    return to;
  }

  @Test
  void aTamperedEntropySegmentFailsVerify() throws Exception {
    Path good = tmp.resolve("kmeans-4b-prune0.5-rans");
    if (!REPORTS.containsKey("kmeans-4b-prune0.5-rans")) {
      good = tmp.resolve("tamper-source");
      compress("tamper-source", Map.of("bits", "4", "prune", "0.5", "entropy", "rans"));
    }
    Path bad = copy(good, tmp.resolve("tampered"));
    Manifest m = Manifest.parse("m", Files.readAllBytes(bad.resolve("manifest.json")));
    Manifest.TensorEntry victim = m.tensors().stream().filter(t -> !t.dense()).findFirst().orElseThrow();
    Path part = bad.resolve(victim.file());
    SafetensorsHeader h = SafetensorsReader.readHeader(new LocalInputFile(part));
    TensorInfo codes = h.tensor(victim.key());
    long at = h.absoluteOffset(codes) + codes.byteLength() / 2; // inside segment 0's stream
    try (RandomAccessFile f = new RandomAccessFile(part.toFile(), "rw")) {
      f.seek(at);
      int b = f.read();
      f.seek(at);
      f.write(b ^ 0x5A);
    }

    // As stored: the part's CRC-32C no longer matches.
    CheckpointFormatException crc = assertThrows(CheckpointFormatException.class,
        () -> VerifyJob.verify(SharedSpark.get(), bad.toString(), model.toString()));
    assertTrue(crc.getMessage().contains(victim.file() + " has CRC-32C "), crc.getMessage());
    assertTrue(crc.getMessage().contains(" but the manifest says "), crc.getMessage());

    // With the CRC rewritten to match, only decoding the segment can tell: it names the tensor.
    java.util.zip.CRC32C c = new java.util.zip.CRC32C();
    c.update(Files.readAllBytes(part));
    String newCrc = String.format("%08x", c.getValue());
    ObjectNode root = (ObjectNode) JSON.readTree(Files.readAllBytes(bad.resolve("manifest.json")));
    for (JsonNode f : root.get("files")) {
      if (f.get("name").asText().equals(victim.file())) {
        ((ObjectNode) f).put("crc32c", newCrc);
      }
    }
    Files.write(bad.resolve("manifest.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(root));
    Exception decode = assertThrows(Exception.class,
        () -> VerifyJob.verify(SharedSpark.get(), bad.toString(), model.toString()));
    assertEquals(ExitCode.BAD_INPUT, ExitCode.of(decode), decode.toString());
    String message = ExitCode.message(decode);
    assertTrue(message.contains("tensor '" + victim.name() + "'"), message);
    assertTrue(message.contains("segment 0 of its rans codes"), message);
    // Decompress refuses it too, writing nothing complete.
    Path out = tmp.resolve("tampered-restored");
    Exception d = assertThrows(Exception.class, () -> Sparticle.decompress(SharedSpark.get())
        .input(bad.toString()).output(out.toString()).execute());
    assertEquals(ExitCode.BAD_INPUT, ExitCode.of(d), d.toString());
    assertTrue(ExitCode.message(d).contains("tensor '" + victim.name() + "'"), ExitCode.message(d));
    assertFalse(Files.exists(out.resolve("_SUCCESS")));
  }

  @Test
  void aVqDimThatDoesNotDivideTheInputDimensionFailsBeforeWriting() throws Exception {
    // A [64, 100] F32 tensor: 100 weights per row, not a multiple of 8.
    Path src = tmp.resolve("odd");
    Files.createDirectories(src);
    SafetensorsLayout layout = SafetensorsLayout.builder().add("w", DType.F32, new long[] {64, 100})
        .add("ok", DType.F32, new long[] {64, 64}).build();
    ByteBuffer data = ByteBuffer.allocate((64 * 100 + 64 * 64) * 4).order(ByteOrder.LITTLE_ENDIAN);
    java.util.SplittableRandom r = new java.util.SplittableRandom(1);
    while (data.hasRemaining()) {
      data.putFloat((float) r.nextGaussian());
    }
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    bytes.write(layout.headerBytes());
    bytes.write(data.array());
    Files.write(src.resolve("model.safetensors"), bytes.toByteArray());
    String message = "Tensor 'w' F32[64, 100]: vq-dim 8 does not divide its input dimension "
        + "(axis 1, 100 weights); use a vq-dim that divides it, or a rule giving this tensor "
        + "another method or keep-dense";

    Path out = tmp.resolve("odd-out");
    JobConfig config = JobConfig.fromYaml(null, Map.of("method", "vq", "bits", "1", "vq-dim", "8",
        "min-elements", "16"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Sparticle.compress(SharedSpark.get()).input(src.toString()).output(out.toString())
            .config(config).execute());
    assertEquals(message, e.getMessage());
    assertFalse(Files.exists(out), "nothing written");

    // The CLI maps it to a usage error, with the same message.
    PrintStream oldOut = System.out;
    PrintStream oldErr = System.err;
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code;
    try {
      System.setOut(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      code = SparticleCli.run("compress", "--input", src.toString(), "--output", out.toString(),
          "--method", "vq", "--bits", "1", "--vq-dim", "8");
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
    String stderr = err.toString(StandardCharsets.UTF_8);
    assertEquals(ExitCode.USAGE.code, code, stderr);
    assertTrue(stderr.contains("vq-dim 8 does not divide its input dimension (axis 1, 100 weights)"),
        stderr);
    assertFalse(Files.exists(out), "nothing written");

    // A rule that keeps it dense gets past it.
    CompressReport ok = Sparticle.compress(SharedSpark.get()).input(src.toString())
        .output(out.toString()).config(JobConfig.fromYaml("rules:\n  - match: w\n    keep-dense: true\n",
            Map.of("method", "vq", "bits", "1", "vq-dim", "8", "min-elements", "16"))).execute();
    assertEquals(64 * 64, ok.compressedParams());
  }
}
