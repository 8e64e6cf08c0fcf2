package io.sparticle.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sparticle.format.DType;
import io.sparticle.format.SafetensorsHeader;
import io.sparticle.format.SafetensorsLayout;
import io.sparticle.format.SafetensorsReader;
import io.sparticle.format.TensorInfo;
import io.sparticle.io.LocalInputFile;
import io.sparticle.spark.SharedSpark;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Hostile input checkpoints given to {@code sparticle compress}, end to end through the CLI: each
 * exits 3 with a message naming the file (and the tensor, where the fault is in one) and leaves no
 * output behind. The parser rules themselves are unit-tested in SafetensorsReaderTest and
 * ShardIndexTest; this proves the CLI turns each into the documented outcome.
 */
class HostileInputTest {
  @TempDir Path tmp;

  @BeforeAll
  static void spark() {
    SharedSpark.get();
  }

  /** Writes the input into a directory and returns what to pass as --input. */
  interface Setup {
    Path write(Path dir) throws IOException;
  }

  /**
   * @param file the file name stderr must name
   * @param fragments further exact pieces of the message (the tensor, the fault)
   */
  record Case(String name, Setup setup, String file, List<String> fragments) {
    @Override
    public String toString() {
      return name;
    }
  }

  private static final String W = "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";

  static Stream<Case> headerCases() {
    return Stream.of(
        single("empty file", new byte[0],
            "file is 0 bytes, too short for the 8-byte header length"),
        single("file shorter than 8 bytes", new byte[] {1, 0, 0, 0, 0},
            "file is 5 bytes, too short for the 8-byte header length"),
        single("header length past the end of the file", concat(le64(1000), new byte[10]),
            "header length 1000 runs past the end of the file: 8 + 1000 > 18 bytes"),
        single("header length over 100,000,000", concat(le64(100_000_001L), new byte[16]),
            "header length 100000001 exceeds the limit of 100000000 bytes"),
        single("header length beyond 2^63", concat(le64(-1L), new byte[16]),
            "header length 18446744073709551615 exceeds the limit of 100000000 bytes"),
        single("non-UTF-8 header", file(concat("{\"w\u00ff".getBytes(StandardCharsets.ISO_8859_1),
            "\":1}".getBytes(StandardCharsets.UTF_8)), new byte[0]),
            "header is not valid UTF-8 at byte 3 of the header (file offset 11)"),
        single("header not JSON", file("{\"w\": nope}", new byte[0]),
            "header is not valid JSON (at char 10): Unrecognized token 'nope'"),
        single("header JSON not an object", file("[1, 2]", new byte[0]),
            "header is an array, not a JSON object"),
        single("duplicate tensor names", file("{" + W + "," + W + "}", new byte[8]),
            "tensor 'w': appears twice in the header"),
        single("__metadata__ value not a string",
            file("{\"__metadata__\":{\"format\":1}," + W + "}", new byte[8]),
            "__metadata__ value of 'format' is an integer, not a string"),
        single("unknown dtype",
            file("{\"w\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]),
            "tensor 'w': unknown dtype 'F33'"),
        single("negative dimension",
            file("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2,1],\"data_offsets\":[0,8]}}", new byte[8]),
            "tensor 'w': shape has negative value -2 at index 0"),
        single("dimensions whose product overflows",
            file("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}",
                new byte[8]),
            "tensor 'w': shape [4294967296, 4294967296] of F32 needs more bytes than fit in a long"),
        single("dimension beyond a long",
            file("{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}",
                new byte[8]),
            "tensor 'w': shape has value 99999999999999999999 at index 0, beyond the range of a long"),
        single("overlapping data_offsets", file("{" + W + "," + tensor("v", 4, 12) + "}", new byte[12]),
            "tensor 'v': data_offsets [4, 12] overlap tensor 'w' at [0, 8]"),
        single("gap between tensors", file("{" + W + "," + tensor("v", 12, 20) + "}", new byte[20]),
            "tensor 'v': data_offsets [12, 20] leave bytes [8, 12) unused after tensor 'w'"),
        single("data_offsets past the end", file("{" + W + "," + tensor("v", 8, 16) + "}", new byte[12]),
            "tensor 'v': data_offsets [8, 16] end past the data section, which holds 12 bytes"),
        single("tensors not covering the file", file("{" + W + "," + tensor("v", 8, 16) + "}", new byte[20]),
            "data section holds 20 bytes but the tensors cover only 16"),
        index("shard name with a slash", "{\"weight_map\":{\"w\":\"sub/a.safetensors\"}}",
            "tensor 'w': shard name 'sub/a.safetensors' contains a path separator"),
        index("shard name with ..", "{\"weight_map\":{\"w\":\"../a.safetensors\"}}",
            "tensor 'w': shard name '../a.safetensors' contains a path separator"),
        index("shard name ..", "{\"weight_map\":{\"w\":\"..\"}}",
            "tensor 'w': shard name '..' is not a file name"),
        index("missing shard",
            "{\"weight_map\":{\"w\":\"a.safetensors\",\"v\":\"b.safetensors\"}}",
            "tensor 'v': mapped to shard 'b.safetensors', which does not exist"),
        new Case("tensor in two shards", dir -> {
          Files.write(dir.resolve("a.safetensors"), file("{" + W + "}", new byte[8]));
          Files.write(dir.resolve("b.safetensors"),
              file("{" + W + "," + tensor("v", 8, 16) + "}", new byte[16]));
          Files.writeString(dir.resolve("model.safetensors.index.json"),
              "{\"weight_map\":{\"w\":\"a.safetensors\",\"v\":\"b.safetensors\"}}");
          return dir;
        }, "b.safetensors", List.of("tensor 'w': also in shard 'a.safetensors'")));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("headerCases")
  void compressRejectsWithExitThree(Case c) throws Exception {
    Path in = Files.createDirectories(tmp.resolve("in"));
    Path input = c.setup().write(in);
    Path out = tmp.resolve("out");
    CliTest.Run r = CliTest.run("compress", "--input", input.toString(), "--output", out.toString());
    assertEquals(3, r.code(), r.err());
    assertTrue(r.err().contains(c.file() + ": "), "names " + c.file() + ": " + r.err());
    for (String f : c.fragments()) {
      assertTrue(r.err().contains(f), "says \"" + f + "\": " + r.err());
    }
    assertNothingWritten(out);
  }

  /** A quiet NaN, +Inf and -Inf as little-endian F32 bytes. */
  static Stream<Arguments> nonFinite() {
    return Stream.of(Arguments.of("NaN", Float.NaN), Arguments.of("+Inf", Float.POSITIVE_INFINITY),
        Arguments.of("-Inf", Float.NEGATIVE_INFINITY));
  }

  /**
   * bias F32[64] (dense by min-rank), layers.0.w and layers.1.w F32[64, 64] (one module group),
   * with {@code bad} at element 17 of layers.0.w.
   */
  static byte[] model(float bad) {
    java.util.Random rnd = new java.util.Random(11);
    SafetensorsLayout layout = SafetensorsLayout.builder()
        .add("bias", DType.F32, new long[] {64})
        .add("layers.0.w", DType.F32, new long[] {64, 64})
        .add("layers.1.w", DType.F32, new long[] {64, 64})
        .build();
    ByteBuffer b = ByteBuffer.allocate((int) layout.fileLength()).order(ByteOrder.LITTLE_ENDIAN);
    b.put(layout.headerBytes());
    for (int i = 0; i < 64 + 2 * 4096; i++) {
      b.putFloat(i == 64 + 17 ? bad : (float) (rnd.nextGaussian() * 0.02));
    }
    return b.array();
  }

  private Path nonFiniteModel(float bad) throws IOException {
    Path f = Files.createDirectories(tmp.resolve("in")).resolve("model.safetensors");
    Files.write(f, model(bad));
    return f;
  }

  @ParameterizedTest(name = "{0} weight: exit 3 naming the tensor")
  @MethodSource("nonFinite")
  void nonFiniteWeightIsAnErrorByDefault(String name, float bad) throws Exception {
    Path in = nonFiniteModel(bad);
    Path out = tmp.resolve("out");
    CliTest.Run r = CliTest.run("compress", "--input", in.toString(), "--output", out.toString());
    assertEquals(3, r.code(), r.err());
    assertTrue(r.err().contains("model.safetensors: tensor 'layers.0.w': 1 of 4096 values are NaN "
        + "or infinite; such a tensor cannot be clustered"), r.err());
    assertTrue(r.err().contains("--non-finite keep-dense"), r.err());
    assertNothingWritten(out);
  }

  @ParameterizedTest(name = "{0} weight with --non-finite keep-dense: tensor kept byte for byte")
  @MethodSource("nonFinite")
  void nonFiniteTensorKeptDenseOnRequest(String name, float bad) throws Exception {
    Path in = nonFiniteModel(bad);
    Path out = tmp.resolve("out");
    CliTest.Run r = CliTest.run("compress", "--input", in.toString(), "--output", out.toString(),
        "--non-finite", "keep-dense");
    assertEquals(0, r.code(), r.err());
    String reason = "1 of 4096 values are NaN or infinite (non-finite: keep-dense)";
    assertTrue(r.out().contains("warning Tensor 'layers.0.w' kept dense: " + reason), r.out());

    JsonNode manifest = MAPPER.readTree(out.resolve("manifest.json").toFile());
    Map<String, String> encoding = new java.util.HashMap<>();
    manifest.get("tensors").forEach(t -> encoding.put(t.get("name").asText(), t.get("encoding").asText()));
    assertEquals(Map.of("bias", "dense", "layers.0.w", "dense", "layers.1.w", "codes"), encoding);
    JsonNode report = MAPPER.readTree(out.resolve("report.json").toFile());
    assertEquals(1, report.get("kept_dense").size());
    assertEquals("layers.0.w", report.get("kept_dense").get(0).get("name").asText());
    assertEquals(reason, report.get("kept_dense").get(0).get("reason").asText());

    Path dense = tmp.resolve("dense");
    assertEquals(0, CliTest.run("decompress", "--input", out.toString(), "--output", dense.toString()).code());
    SafetensorsHeader a = SafetensorsReader.readHeader(new LocalInputFile(in));
    SafetensorsHeader b = SafetensorsReader.readHeader(new LocalInputFile(dense.resolve("model.safetensors")));
    for (String t : List.of("bias", "layers.0.w")) {
      assertArrayEquals(bytes(in, a, t), bytes(dense.resolve("model.safetensors"), b, t), t);
    }
    assertFalse(java.util.Arrays.equals(bytes(in, a, "layers.1.w"),
        bytes(dense.resolve("model.safetensors"), b, "layers.1.w")), "layers.1.w was compressed");
    CliTest.Run v = CliTest.run("verify", "--input", out.toString(), "--against", in.toString());
    assertEquals(0, v.code(), v.err());
  }

  /**
   * A header of 1,000,000 one-element F16 tensors (72 MB, under the 100,000,000-byte header
   * limit) is refused while it is parsed, before any work: the most a checkpoint may hold is
   * SafetensorsReader.MAX_TENSORS. The timeout only guards against a hang.
   */
  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void millionTinyTensorsFailFast() throws Exception {
    int n = 1_000_000;
    java.io.ByteArrayOutputStream json = new java.io.ByteArrayOutputStream(72 << 20);
    json.write('{');
    for (int i = 0; i < n; i++) {
      String e = (i > 0 ? "," : "") + "\"t." + i + "\":{\"dtype\":\"F16\",\"shape\":[1],"
          + "\"data_offsets\":[" + 2L * i + "," + (2L * i + 2) + "]}";
      json.write(e.getBytes(StandardCharsets.US_ASCII));
    }
    json.write('}');
    Path f = Files.createDirectories(tmp.resolve("in")).resolve("model.safetensors");
    try (OutputStream o = new BufferedOutputStream(Files.newOutputStream(f), 1 << 20)) {
      o.write(le64(json.size()));
      json.writeTo(o);
      o.write(new byte[2 * n]);
    }
    json = null;
    Path out = tmp.resolve("out");
    long t0 = System.nanoTime();
    CliTest.Run r = CliTest.run("compress", "--input", f.toString(), "--output", out.toString());
    double seconds = (System.nanoTime() - t0) / 1e9;
    System.out.printf(java.util.Locale.ROOT, "1,000,000 tensors (%,d bytes): exit %d in %.1f s%n",
        Files.size(f), r.code(), seconds);
    assertEquals(3, r.code(), r.err());
    assertTrue(r.err().contains("model.safetensors: header lists more than 500000 tensors, the most "
        + "a checkpoint may hold"), r.err());
    assertNothingWritten(out);
  }

  /** A change to a copy of a good compressed checkpoint (bias dense, layers.{0,1}.w in one group). */
  interface Corruption {
    void apply(Path dir) throws IOException;
  }

  record Corrupt(String name, Corruption corruption, String file, List<String> fragments) {
    @Override
    public String toString() {
      return name;
    }
  }

  @TempDir static Path shared;
  private static Path packed;

  private static final String PART = "part-00001-of-00001.safetensors";

  private static Path packed() throws IOException {
    if (packed == null) {
      Path in = Files.createDirectories(shared.resolve("in")).resolve("model.safetensors");
      Files.write(in, model(0.5f));
      packed = shared.resolve("packed");
      CliTest.Run r = CliTest.run("compress", "--input", in.toString(), "--output", packed.toString());
      assertEquals(0, r.code(), r.err());
    }
    return packed;
  }

  static Stream<Corrupt> corruptCheckpoints() {
    return Stream.of(
        new Corrupt("manifest not JSON", d -> Files.writeString(d.resolve("manifest.json"), "{\"format\": spar"),
            "manifest.json", List.of("not valid JSON")),
        new Corrupt("manifest not an object", d -> Files.writeString(d.resolve("manifest.json"), "[]"),
            "manifest.json", List.of("not a JSON object")),
        new Corrupt("manifest without files", d -> editManifest(d, m -> m.remove("files")),
            "manifest.json", List.of("'files' must be an array")),
        new Corrupt("manifest tensor without dtype",
            d -> editManifest(d, m -> ((ObjectNode) m.get("tensors").get(1)).remove("dtype")),
            "manifest.json", List.of("tensor 'layers.0.w': 'dtype' must be a string")),
        new Corrupt("manifest format_version a string",
            d -> editManifest(d, m -> m.put("format_version", "1")),
            "manifest.json", List.of("'format_version' must be an integer")),
        new Corrupt("manifest shape not an array",
            d -> editManifest(d, m -> ((ObjectNode) m.get("tensors").get(2)).put("shape", "64x64")),
            "manifest.json", List.of("tensor 'layers.1.w': 'shape' must be an array")),
        new Corrupt("unknown format_version", d -> editManifest(d, m -> m.put("format_version", 3)),
            "manifest.json", List.of("format_version 3 is not supported (this reader knows 1..2); "
                + "use a newer Sparticle")),
        new Corrupt("unknown method",
            d -> editManifest(d, m -> ((ObjectNode) m.get("groups").get(0)).put("method", "aqlm")),
            "manifest.json", List.of("group 'layers.*.w' uses method 'aqlm' that this reader does "
                + "not know (it knows kmeans, uniform, gmm, vq in format version 2); use a newer "
                + "Sparticle")),
        new Corrupt("unknown scope",
            d -> editManifest(d, m -> ((ObjectNode) m.get("groups").get(0)).put("scope", "row")),
            "manifest.json", List.of("group 'layers.*.w' has scope 'row' that this reader does not "
                + "know (it knows group, tensor, channel, block); use a newer Sparticle")),
        new Corrupt("unknown codebook precision",
            d -> editManifest(d, m -> ((ObjectNode) m.get("groups").get(0)).put("codebook_precision", "F8")),
            "manifest.json", List.of("group 'layers.*.w' has codebook_precision 'F8' that this "
                + "reader does not know; use a newer Sparticle")),
        new Corrupt("part truncated", d -> truncate(d.resolve(PART), 1),
            PART, List.of("is " + (partSize() - 1) + " bytes but the manifest says " + partSize())),
        new Corrupt("part missing", d -> Files.delete(d.resolve(PART)),
            PART, List.of("listed in the manifest but missing")),
        new Corrupt("flipped byte in a part", d -> flip(d.resolve(PART), partSize() - 10),
            PART, List.of(" has CRC-32C ", " but the manifest says ")),
        new Corrupt("codebook of the wrong length", d -> {
          SafetensorsLayout l = SafetensorsLayout.builder()
              .add("group.00000", DType.F32, new long[] {8}).build();
          Files.write(d.resolve("codebooks.safetensors"), concat(l.headerBytes(), new byte[32]));
          relist(d, "codebooks.safetensors");
        }, "codebooks.safetensors", List.of("tensor 'group.00000': codebook of group 'layers.*.w' "
            + "must be a float tensor of shape [16]")),
        new Corrupt("tensor past the end of its part", d -> {
          truncate(d.resolve(PART), 8);
          relist(d, PART);
        }, PART, List.of("tensor 'layers.1.w': data_offsets [", "end past the data section")),
        new Corrupt("_SUCCESS missing", d -> Files.delete(d.resolve("_SUCCESS")),
            "packed", List.of("no _SUCCESS marker: the compressed checkpoint is incomplete")));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("corruptCheckpoints")
  void decompressRejectsWithExitThree(Corrupt c) throws Exception {
    Path dir = tmp.resolve("packed");
    copy(packed(), dir);
    c.corruption().apply(dir);
    Path out = tmp.resolve("dense");
    CliTest.Run r = CliTest.run("decompress", "--input", dir.toString(), "--output", out.toString());
    assertEquals(3, r.code(), r.err());
    assertTrue(r.err().contains(c.file()), "names " + c.file() + ": " + r.err());
    for (String f : c.fragments()) {
      assertTrue(r.err().contains(f), "says \"" + f + "\": " + r.err());
    }
    assertFalse(Files.exists(out), "decompress wrote " + out);
  }

  private static long partSize() {
    try {
      return Files.size(packed().resolve(PART));
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** A checkpoint's files, its report/ tables included. */
  private static void copy(Path from, Path to) throws IOException {
    try (Stream<Path> s = Files.walk(from)) {
      for (Path p : s.toList()) {
        Files.copy(p, to.resolve(from.relativize(p).toString()));
      }
    }
  }

  private static void editManifest(Path dir, java.util.function.Consumer<ObjectNode> edit) throws IOException {
    ObjectNode m = (ObjectNode) MAPPER.readTree(dir.resolve("manifest.json").toFile());
    edit.accept(m);
    MAPPER.writeValue(dir.resolve("manifest.json").toFile(), m);
  }

  /** Lists {@code file}'s new size and CRC-32C in the manifest, as if it had been written so. */
  private static void relist(Path dir, String file) throws IOException {
    byte[] b = Files.readAllBytes(dir.resolve(file));
    java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
    crc.update(b);
    editManifest(dir, m -> m.get("files").forEach(f -> {
      if (f.get("name").asText().equals(file)) {
        ((ObjectNode) f).put("size", b.length).put("crc32c", String.format("%08x", crc.getValue()));
      }
    }));
  }

  private static void truncate(Path f, long by) throws IOException {
    try (java.io.RandomAccessFile r = new java.io.RandomAccessFile(f.toFile(), "rw")) {
      r.setLength(r.length() - by);
    }
  }

  private static void flip(Path f, long at) throws IOException {
    try (java.io.RandomAccessFile r = new java.io.RandomAccessFile(f.toFile(), "rw")) {
      r.seek(at);
      int b = r.read();
      r.seek(at);
      r.write(b ^ 0x40);
    }
  }

  private static byte[] bytes(Path file, SafetensorsHeader h, String tensor) throws IOException {
    TensorInfo t = h.tensor(tensor);
    try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file)) {
      ByteBuffer b = ByteBuffer.allocate((int) t.byteLength());
      ch.read(b, h.absoluteOffset(t));
      return b.array();
    }
  }

  private static final ObjectMapper MAPPER = new ObjectMapper();

  private static Case single(String name, byte[] bytes, String fragment) {
    return new Case(name, dir -> {
      Path f = dir.resolve("model.safetensors");
      Files.write(f, bytes);
      return f;
    }, "model.safetensors", List.of(fragment));
  }

  /** A valid shard a.safetensors holding "w", and the given index. */
  private static Case index(String name, String indexJson, String fragment) {
    return new Case(name, dir -> {
      Files.write(dir.resolve("a.safetensors"), file("{" + W + "}", new byte[8]));
      Files.writeString(dir.resolve("model.safetensors.index.json"), indexJson);
      return dir;
    }, "model.safetensors.index.json", List.of(fragment));
  }

  private static String tensor(String name, long begin, long end) {
    return "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[" + (end - begin) / 4 + "],\"data_offsets\":["
        + begin + "," + end + "]}";
  }

  /** Asserts the output is absent, or an empty directory: nothing marked complete, nothing left. */
  static void assertNothingWritten(Path out) throws IOException {
    if (!Files.exists(out)) {
      return;
    }
    try (Stream<Path> s = Files.walk(out)) {
      assertEquals(List.of(out), s.toList(), "output left behind");
    }
  }

  static byte[] le64(long v) {
    return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
  }

  static byte[] concat(byte[] a, byte[] b) {
    byte[] c = new byte[a.length + b.length];
    System.arraycopy(a, 0, c, 0, a.length);
    System.arraycopy(b, 0, c, a.length, b.length);
    return c;
  }

  /** A safetensors file: the length prefix, the header as given, the data. */
  static byte[] file(String header, byte[] data) {
    return file(header.getBytes(StandardCharsets.UTF_8), data);
  }

  static byte[] file(byte[] header, byte[] data) {
    return concat(concat(le64(header.length), header), data);
  }
}
