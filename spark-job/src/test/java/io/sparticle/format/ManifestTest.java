package io.sparticle.format;

import static io.sparticle.format.CheckpointFormatException.Reason.INVALID_COMPRESSED;
import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sparticle.format.Manifest.FileEntry;
import io.sparticle.format.Manifest.GroupEntry;
import io.sparticle.format.Manifest.Source;
import io.sparticle.format.Manifest.SourceFileEntry;
import io.sparticle.format.Manifest.TensorEntry;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

class ManifestTest {
  private static final String FILE = "out/manifest.json";
  private static final String CODEBOOKS = "codebooks.safetensors";
  private static final String PART = "part-00001-of-00001.safetensors";
  private static final String SRC = "model.safetensors";
  private static final ObjectMapper MAPPER = new ObjectMapper();

  private static Manifest example() {
    Map<String, String> meta = new LinkedHashMap<>();
    meta.put("format", "pt");
    meta.put("note", "ünïcode");
    return new Manifest(1, List.of(), "sparticle 0.1.0",
        new Source("safetensors", List.of(new SourceFileEntry(SRC, 123456, meta)), false, null),
        CODEBOOKS,
        List.of(new FileEntry(CODEBOOKS, 1000, "0a1b2c3d"), new FileEntry(PART, 5000, "deadbeef")),
        List.of(new GroupEntry("layers.0.mlp", "kmeans", 4, 16, 1, "F32", "group.0", true),
            new GroupEntry("lm_head", "kmeans", 2, 4, 1, "BF16", "group.1", false)),
        List.of(
            new TensorEntry("w", "BF16", new long[] {4, 8}, SRC, "codebook", 0, 4, 0.3f, "lsb",
                PART, "w"),
            new TensorEntry("b", "F32", new long[] {8}, SRC, "dense", -1, 0, 1f, null, PART, "b"),
            new TensorEntry("h", "F16", new long[] {2, 0}, SRC, "codebook", 1, 2, 1f, "lsb",
                PART, "h"),
            new TensorEntry("ids", "I64", new long[] {}, SRC, "dense", -1, 0, 1f, null, PART,
                "ids")));
  }

  private static ObjectNode exampleTree() throws Exception {
    return (ObjectNode) MAPPER.readTree(example().toJson());
  }

  private static ObjectNode tensor(ObjectNode root, int i) {
    return (ObjectNode) root.get("tensors").get(i);
  }

  private static CheckpointFormatException fails(String tensor, byte[] json) {
    CheckpointFormatException e =
        assertThrows(CheckpointFormatException.class, () -> Manifest.parse(FILE, json));
    assertEquals(INVALID_COMPRESSED, e.reason(), e.getMessage());
    assertEquals(FILE, e.file());
    assertEquals(tensor, e.tensor(), e.getMessage());
    return e;
  }

  /** Parses the example changed by {@code edit}, expecting exactly {@code message}. */
  private static void rejects(String tensor, String message, Consumer<ObjectNode> edit)
      throws Exception {
    ObjectNode root = exampleTree();
    edit.accept(root);
    CheckpointFormatException e = fails(tensor, MAPPER.writeValueAsBytes(root));
    String prefix = tensor == null ? FILE + ": " : FILE + ": tensor '" + tensor + "': ";
    assertEquals(prefix + message, e.getMessage());
  }

  private static void rejectsText(String messageStart, String json) {
    CheckpointFormatException e = fails(null, json.getBytes(StandardCharsets.UTF_8));
    assertTrue(e.getMessage().startsWith(FILE + ": " + messageStart), e.getMessage());
  }

  @Test
  void roundTrip() throws Exception {
    Manifest m = example();
    Manifest back = Manifest.parse(FILE, m.toJson());
    assertEquals(m, back);
    assertEquals(0.3f, back.tensors().get(0).scale());
    assertEquals("ünïcode", back.source().files().get(0).metadata().get("note"));
    assertEquals(List.of("format", "note"),
        List.copyOf(back.source().files().get(0).metadata().keySet()));
    assertEquals(32, back.tensors().get(0).numel());
    assertEquals(0, back.tensors().get(2).numel());
    assertEquals(1, back.tensors().get(3).numel());
    assertArrayEquals(m.toJson(), back.toJson());
  }

  @Test
  void roundTripWithIndexMetadataAndFeaturesList() throws Exception {
    Manifest base = example();
    Manifest m = new Manifest(1, List.of(), "x",
        new Source("safetensors", List.of(new SourceFileEntry("a.safetensors", 1, Map.of()),
            new SourceFileEntry("b.safetensors", 2, Map.of())), true,
            "{\"total_size\":123,\"nested\":[1.5,{\"x\":null}]}"),
        CODEBOOKS, base.files(), base.groups(),
        List.of(new TensorEntry("t", "F32", new long[] {3}, "b.safetensors", "dense", -1, 0, 1f,
            null, PART, "t")));
    Manifest back = Manifest.parse(FILE, m.toJson());
    assertEquals(m, back);
    assertTrue(back.source().sharded());
    assertEquals("{\"total_size\":123,\"nested\":[1.5,{\"x\":null}]}",
        back.source().indexMetadataJson());
  }

  @Test
  void toJsonIsDeterministic() throws Exception {
    byte[] a = example().toJson();
    byte[] b = example().toJson();
    assertArrayEquals(a, b);
    String json = new String(a, StandardCharsets.UTF_8);
    assertTrue(json.endsWith("}\n"), json);
    // Key order is fixed.
    List<String> keys = List.copyOf(iterable(MAPPER.readTree(a).fieldNames()));
    assertEquals(List.of("format", "format_version", "required_features", "created_by", "source",
        "codebooks_file", "files", "groups", "tensors"), keys);
    // Dense tensors carry no codebook fields.
    JsonNode dense = MAPPER.readTree(a).get("tensors").get(1);
    assertEquals(List.of("name", "dtype", "shape", "source_file", "encoding", "file", "key"),
        List.copyOf(iterable(dense.fieldNames())));
    JsonNode coded = MAPPER.readTree(a).get("tensors").get(0);
    assertEquals(List.of("name", "dtype", "shape", "source_file", "encoding", "group", "bits",
        "scale", "packing", "file", "key"), List.copyOf(iterable(coded.fieldNames())));
  }

  private static <T> List<T> iterable(java.util.Iterator<T> it) {
    List<T> out = new java.util.ArrayList<>();
    it.forEachRemaining(out::add);
    return out;
  }

  @Test
  void unknownKeysAreIgnored() throws Exception {
    ObjectNode root = exampleTree();
    root.put("future_note", "x");
    tensor(root, 0).put("future_stat", 1.5);
    assertEquals(example(), Manifest.parse(FILE, MAPPER.writeValueAsBytes(root)));
  }

  @Test
  void notJson() {
    rejectsText("not valid JSON: ", "{");
    rejectsText("not valid JSON: ", "{\"format\": \"sparticle\", \"format\": \"sparticle\"}");
  }

  /** Makes the example an ONNX source whose model file has {@code holes}. */
  private static void onnx(ObjectNode root, ObjectNode... holes) {
    ObjectNode onnx = ((ObjectNode) root.get("source")).putObject("onnx");
    onnx.put("model_file", SRC);
    onnx.put("skeleton_file", PART);
    onnx.putArray("holes").addAll(List.of(holes));
  }

  private static ObjectNode hole(String name, long offset, long length) {
    ObjectNode h = MAPPER.createObjectNode();
    h.put("name", name);
    h.put("offset", offset);
    h.put("length", length);
    return h;
  }

  @Test
  void onnxHoles() throws Exception {
    ObjectNode root = exampleTree();
    onnx(root, hole("w", 100, 64), hole("b", 164, 32));
    assertEquals(List.of(new Manifest.Hole("w", 100, 64), new Manifest.Hole("b", 164, 32)),
        Manifest.parse(FILE, MAPPER.writeValueAsBytes(root)).source().onnx().holes());

    String overlap = "ONNX hole has an invalid or overlapping range";
    rejects("b", overlap, r -> onnx(r, hole("w", 100, 64), hole("b", 163, 32)));
    rejects("w", overlap, r -> onnx(r, hole("w", -1, 64)));
    rejects("w", overlap, r -> onnx(r, hole("w", 100, -1)));
    rejects("w", overlap, r -> onnx(r, hole("w", 100, 64).put("offset", 100.5)));
    // Found writing the manifest fuzz test: the end wrapped negative past 2^63, after which a
    // hole could start anywhere, even before the first.
    rejects("w", "ONNX hole at offset 9223372036854775807 of length 1 ends past 9223372036854775807",
        r -> onnx(r, hole("w", Long.MAX_VALUE, 1), hole("b", 0, 32)));
  }

  @Test
  void notAnObject() {
    rejectsText("not a JSON object", "[1, 2]");
    rejectsText("not a JSON object", "null");
    rejectsText("not a JSON object", "\"sparticle\"");
  }

  @Test
  void wrongFormat() throws Exception {
    rejects(null, "'format' is not \"sparticle\"", r -> r.put("format", "onnx"));
    rejects(null, "'format' is not \"sparticle\"", r -> r.remove("format"));
  }

  @Test
  void formatVersion() throws Exception {
    rejects(null, "format_version 3 is not supported (this reader knows 1..2); use a newer "
        + "Sparticle", r -> r.put("format_version", 3));
    rejects(null, "format_version 0 is not supported (this reader knows 1..2); use a newer "
        + "Sparticle", r -> r.put("format_version", 0));
    rejects(null, "'format_version' must be an integer", r -> r.put("format_version", "1"));
    rejects(null, "'format_version' must be an integer", r -> r.put("format_version", 1.0));
    rejects(null, "'format_version' must be an integer", r -> r.remove("format_version"));
  }

  @Test
  void unknownRequiredFeature() throws Exception {
    rejects(null, "requires feature 'entropy-coding' that this reader does not know; use a newer "
        + "Sparticle", r -> r.putArray("required_features").add("entropy-coding"));
    rejects(null, "'required_features' must be an array", r -> r.remove("required_features"));
  }

  @Test
  void missingOrInvalidTopLevelFields() throws Exception {
    rejects(null, "'source' must be an object", r -> r.remove("source"));
    rejects(null, "'source' must be an object", r -> r.put("source", "model.safetensors"));
    rejects(null, "'files' must be an array", r -> ((ObjectNode) r.get("source")).remove("files"));
    rejects(null, "'format' must be a string",
        r -> ((ObjectNode) r.get("source")).remove("format"));
    rejects(null, "'name' must be a string",
        r -> ((ObjectNode) r.get("source").get("files").get(0)).remove("name"));
    rejects(null, "source file 'model.safetensors' has a non-string metadata value",
        r -> ((ObjectNode) r.get("source").get("files").get(0).get("metadata")).put("n", 5));
    rejects(null, "'files' must be an array", r -> r.remove("files"));
    rejects(null, "'codebooks_file' must be a string", r -> r.remove("codebooks_file"));
    rejects(null, "'groups' must be an array", r -> r.put("groups", "none"));
    rejects(null, "'tensors' must be an array", r -> r.remove("tensors"));
    rejects(null, "'name' must be a string", r -> ((ObjectNode) r.get("files").get(1)).remove("name"));
    rejects(null, "file 'part-00001-of-00001.safetensors' has an invalid size -1",
        r -> ((ObjectNode) r.get("files").get(1)).put("size", -1));
    rejects(null, "file 'part-00001-of-00001.safetensors' has an invalid size \"5000\"",
        r -> ((ObjectNode) r.get("files").get(1)).put("size", "5000"));
    rejects(null, "file 'part-00001-of-00001.safetensors' has an invalid size 5000.5",
        r -> ((ObjectNode) r.get("files").get(1)).put("size", 5000.5));
  }

  @Test
  void missingOrInvalidGroupFields() throws Exception {
    rejects(null, "'name' must be a string", r -> ((ObjectNode) r.get("groups").get(0)).remove("name"));
    rejects(null, "'bits' must be an integer",
        r -> ((ObjectNode) r.get("groups").get(0)).remove("bits"));
    rejects(null, "'k' must be an integer", r -> ((ObjectNode) r.get("groups").get(0)).put("k", "16"));
    rejects(null, "'dim' must be an integer",
        r -> ((ObjectNode) r.get("groups").get(0)).remove("dim"));
    rejects(null, "'method' must be a string",
        r -> ((ObjectNode) r.get("groups").get(0)).remove("method"));
    rejects(null, "'codebook_precision' must be a string",
        r -> ((ObjectNode) r.get("groups").get(0)).remove("codebook_precision"));
    rejects(null, "'codebook' must be a string",
        r -> ((ObjectNode) r.get("groups").get(1)).remove("codebook"));
  }

  @Test
  void missingOrInvalidTensorFields() throws Exception {
    rejects(null, "'name' must be a string", r -> tensor(r, 1).remove("name"));
    rejects("b", "'dtype' must be a string", r -> tensor(r, 1).remove("dtype"));
    rejects("b", "'shape' must be an array", r -> tensor(r, 1).put("shape", 8));
    rejects("b", "'encoding' must be a string", r -> tensor(r, 1).remove("encoding"));
    rejects("b", "'file' must be a string", r -> tensor(r, 1).remove("file"));
    rejects("b", "'source_file' must be a string", r -> tensor(r, 1).remove("source_file"));
    rejects("b", "'key' must be a string", r -> tensor(r, 1).remove("key"));
    rejects("w", "'group' must be an integer", r -> tensor(r, 0).remove("group"));
    rejects("w", "'bits' must be an integer", r -> tensor(r, 0).put("bits", 4.5));
    rejects("w", "'packing' must be a string", r -> tensor(r, 0).remove("packing"));
    rejects("w", "'scale' must be a positive finite number", r -> tensor(r, 0).remove("scale"));
  }

  @Test
  void duplicateTensor() throws Exception {
    rejects("b", "listed twice", r -> tensor(r, 3).put("name", "b"));
  }

  @Test
  void duplicateFiles() throws Exception {
    rejects(null, "file 'codebooks.safetensors' is listed twice",
        r -> ((ObjectNode) r.get("files").get(1)).put("name", CODEBOOKS));
    rejects(null, "source file 'model.safetensors' is listed twice",
        r -> ((ArrayNode) r.get("source").get("files")).add(r.get("source").get("files").get(0)));
  }

  @Test
  void fileNamesMustBePlain() throws Exception {
    for (String bad : List.of("sub/part.safetensors", "..\\part.safetensors", "..", ".", "",
        "a\0b")) {
      rejects(null, "file name '" + bad + "' is not a plain file name",
          r -> ((ObjectNode) r.get("files").get(1)).put("name", bad));
    }
    rejects(null, "file name '../model.safetensors' is not a plain file name",
        r -> ((ObjectNode) r.get("source").get("files").get(0)).put("name", "../model.safetensors"));
  }

  @Test
  void codebooksFileMustBeListed() throws Exception {
    rejects(null, "codebooks_file 'cb.safetensors' is not among the files",
        r -> r.put("codebooks_file", "cb.safetensors"));
  }

  @Test
  void groupShape() throws Exception {
    rejects(null, "group 'layers.0.mlp' has bits 4, k 15, dim 1: format version 1 has bits 1..8, "
        + "k = 2^bits, dim 1", r -> ((ObjectNode) r.get("groups").get(0)).put("k", 15));
    rejects(null, "group 'layers.0.mlp' has bits 9, k 512, dim 1: format version 1 has bits 1..8, "
        + "k = 2^bits, dim 1",
        r -> ((ObjectNode) r.get("groups").get(0)).put("bits", 9).put("k", 512));
    rejects(null, "group 'layers.0.mlp' has bits 0, k 1, dim 1: format version 1 has bits 1..8, "
        + "k = 2^bits, dim 1",
        r -> ((ObjectNode) r.get("groups").get(0)).put("bits", 0).put("k", 1));
    rejects(null, "group 'lm_head' has bits 2, k 4, dim 2: format version 1 has bits 1..8, "
        + "k = 2^bits, dim 1", r -> ((ObjectNode) r.get("groups").get(1)).put("dim", 2));
  }

  @Test
  void unknownMethod() throws Exception {
    rejects(null, "group 'lm_head' uses method 'gptq' that this reader does not know (it knows "
        + "kmeans in format version 1); use a newer Sparticle",
        r -> ((ObjectNode) r.get("groups").get(1)).put("method", "gptq"));
  }

  @Test
  void unknownDtype() throws Exception {
    rejects("b", "unknown dtype 'F128'", r -> tensor(r, 1).put("dtype", "F128"));
    rejects("b", "unknown dtype 'f32'", r -> tensor(r, 1).put("dtype", "f32"));
  }

  @Test
  void invalidDimensions() throws Exception {
    rejects("w", "shape has an invalid dimension -1",
        r -> tensor(r, 0).putArray("shape").add(4).add(-1));
    rejects("w", "shape has an invalid dimension 2.5",
        r -> tensor(r, 0).putArray("shape").add(4).add(2.5));
    rejects("w", "shape has an invalid dimension \"8\"",
        r -> tensor(r, 0).putArray("shape").add(4).add("8"));
    rejects("w", "shape [4294967296, 4294967296] overflows",
        r -> tensor(r, 0).putArray("shape").add(1L << 32).add(1L << 32));
    rejects("b", "shape [2305843009213693952] overflows",
        r -> tensor(r, 1).putArray("shape").add(1L << 61));
  }

  @Test
  void codebookEncodingNeedsAFloatDtype() throws Exception {
    rejects("w", "encoding 'codebook' needs dtype F32, F16 or BF16, not I32",
        r -> tensor(r, 0).put("dtype", "I32"));
    rejects("w", "encoding 'codebook' needs dtype F32, F16 or BF16, not F64",
        r -> tensor(r, 0).put("dtype", "F64"));
  }

  @Test
  void tensorGroupMustMatch() throws Exception {
    rejects("w", "group 2 with bits 4 does not match the manifest's groups",
        r -> tensor(r, 0).put("group", 2));
    rejects("w", "group -1 with bits 4 does not match the manifest's groups",
        r -> tensor(r, 0).put("group", -1));
    rejects("w", "group 0 with bits 3 does not match the manifest's groups",
        r -> tensor(r, 0).put("bits", 3));
  }

  @Test
  void scale() throws Exception {
    rejects("w", "'scale' must be a positive finite number", r -> tensor(r, 0).put("scale", 0));
    rejects("w", "'scale' must be a positive finite number", r -> tensor(r, 0).put("scale", -0.5));
    rejects("w", "'scale' must be a positive finite number", r -> tensor(r, 0).put("scale", 1e39));
    rejects("w", "'scale' must be a positive finite number", r -> tensor(r, 0).put("scale", 1e-50));
    rejects("w", "'scale' must be a positive finite number", r -> tensor(r, 0).put("scale", "0.5"));
  }

  @Test
  void unknownPacking() throws Exception {
    rejects("h", "packing 'msb' is unknown (this reader knows lsb, huffman, rans)",
        r -> tensor(r, 2).put("packing", "msb"));
  }

  @Test
  void unknownEncoding() throws Exception {
    rejects("b", "unknown encoding 'zstd'", r -> tensor(r, 1).put("encoding", "zstd"));
    rejects("b", "unknown encoding 'Dense'", r -> tensor(r, 1).put("encoding", "Dense"));
  }

  @Test
  void tensorFileMustBeListed() throws Exception {
    rejects("ids", "file 'part-00002-of-00002.safetensors' is not among the manifest's files",
        r -> tensor(r, 3).put("file", "part-00002-of-00002.safetensors"));
  }

  @Test
  void sourceFileMustBeListed() throws Exception {
    rejects("ids", "source_file 'other.safetensors' is not among the source files",
        r -> tensor(r, 3).put("source_file", "other.safetensors"));
    // A data file is not a source file.
    rejects("ids", "source_file 'part-00001-of-00001.safetensors' is not among the source files",
        r -> tensor(r, 3).put("source_file", PART));
  }

  @Test
  void badCrc32c() throws Exception {
    for (String bad : List.of("DEADBEEF", "deadbee", "deadbeef0", "0xdeadbe", "", "deadbeeg")) {
      rejects(null, "file 'part-00001-of-00001.safetensors' has an invalid crc32c '" + bad + "'",
          r -> ((ObjectNode) r.get("files").get(1)).put("crc32c", bad));
    }
    rejects(null, "'crc32c' must be a string",
        r -> ((ObjectNode) r.get("files").get(0)).remove("crc32c"));
    rejects(null, "'crc32c' must be a string",
        r -> ((ObjectNode) r.get("files").get(0)).put("crc32c", 12345678));
  }
}
