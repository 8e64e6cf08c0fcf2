package io.sparticle.format;

import static io.sparticle.format.CheckpointFormatException.Reason.INVALID_COMPRESSED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sparticle.format.Manifest.FileEntry;
import io.sparticle.format.Manifest.GroupEntry;
import io.sparticle.format.Manifest.Source;
import io.sparticle.format.Manifest.SourceFileEntry;
import io.sparticle.format.Manifest.TensorEntry;
import io.sparticle.quant.CodebookPrecision;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.EncodingSpec.Method;
import io.sparticle.quant.EncodingSpec.ScalePrecision;
import io.sparticle.quant.EncodingSpec.Scope;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/** Format version 2: every method's group and tensor fields, written and read back; errors. */
class ManifestV2Test {
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final String FILE = "out/manifest.json";
  private static final String SRC = "model.safetensors";
  private static final String PART = "part-00001-of-00001.safetensors";

  static Manifest example() {
    EncodingSpec shared = EncodingSpec.kmeansGroup(4, CodebookPrecision.step(0.015625f), true);
    EncodingSpec channel = new EncodingSpec(Method.KMEANS, 3, Scope.CHANNEL, 0,
        CodebookPrecision.F16, ScalePrecision.F16, false);
    EncodingSpec block = new EncodingSpec(Method.UNIFORM, 4, Scope.BLOCK, 64,
        CodebookPrecision.F32, ScalePrecision.F16, false);
    EncodingSpec rows = new EncodingSpec(Method.UNIFORM, 8, Scope.CHANNEL, 0,
        CodebookPrecision.F32, ScalePrecision.F32, false);
    return new Manifest(2, List.of(), "sparticle 0.1.0",
        new Source("safetensors", List.of(new SourceFileEntry(SRC, 1000, Map.of())), false, null),
        "codebooks.safetensors",
        List.of(new FileEntry("codebooks.safetensors", 100, "0a1b2c3d"), new FileEntry(PART, 500, "deadbeef")),
        List.of(new GroupEntry("mlp", shared, "group.00000"), new GroupEntry("attn", channel, null),
            new GroupEntry("embed", block, null), new GroupEntry("head", rows, null)),
        List.of(
            new TensorEntry("a", "BF16", new long[] {4, 8}, SRC, "codes", 0, 4, 0.25f, "lsb", PART, "a"),
            new TensorEntry("b", "F32", new long[] {8, 16}, SRC, "codes", 1, 3, 1f, "lsb", PART, "b",
                1, "b::codebook", null, null),
            new TensorEntry("c", "F16", new long[] {100}, SRC, "codes", 2, 4, 1f, "lsb", PART, "c",
                -1, null, "c::scale", "c::zero"),
            new TensorEntry("d", "BF16", new long[] {3, 5}, SRC, "codes", 3, 8, 1f, "lsb", PART, "d",
                0, null, "d::scale", "d::zero"),
            new TensorEntry("n", "F32", new long[] {8}, SRC, "dense", -1, 0, 1f, null, PART, "n")));
  }

  @Test
  void roundTrip() throws Exception {
    Manifest m = example();
    Manifest back = Manifest.parse(FILE, m.toJson());
    assertEquals(m, back);
    assertArrayEquals(m.toJson(), back.toJson());
    assertEquals(0.015625f, back.groups().get(0).codebookPrecision().step());
    assertEquals(64, back.groups().get(2).spec().blockSize());
    assertEquals(ScalePrecision.F32, back.groups().get(3).spec().scalePrecision());
  }

  @Test
  void writesEachMethodsFields() throws Exception {
    ObjectNode root = (ObjectNode) MAPPER.readTree(example().toJson());
    assertEquals("{\"name\":\"mlp\",\"method\":\"kmeans\",\"bits\":4,\"k\":16,\"dim\":1,"
        + "\"scope\":\"group\",\"codebook_precision\":\"step\",\"codebook_step\":0.015625,"
        + "\"codebook\":\"group.00000\",\"per_tensor_scale\":true}", root.get("groups").get(0).toString());
    assertEquals("{\"name\":\"embed\",\"method\":\"uniform\",\"bits\":4,\"k\":16,\"dim\":1,"
        + "\"scope\":\"block\",\"block_size\":64,\"scale_precision\":\"F16\"}",
        root.get("groups").get(2).toString());
    assertEquals("{\"name\":\"b\",\"dtype\":\"F32\",\"shape\":[8,16],\"source_file\":\"model.safetensors\","
        + "\"encoding\":\"codes\",\"group\":1,\"bits\":3,\"packing\":\"lsb\",\"axis\":1,"
        + "\"file\":\"part-00001-of-00001.safetensors\",\"key\":\"b\",\"codebook_key\":\"b::codebook\"}",
        root.get("tensors").get(1).toString());
  }

  /** Extras (the report's tables) round-trip, are written only when there are some, and are checked. */
  @Test
  void extrasRoundTripAndAreChecked() throws Exception {
    List<Manifest.Extra> extras = List.of(new Manifest.Extra("report/tensors.parquet", "parquet"),
        new Manifest.Extra("report/groups.parquet", "parquet"));
    Manifest m = example().withExtras(extras);
    assertEquals(extras, Manifest.parse(FILE, m.toJson()).extras());
    assertEquals(false, MAPPER.readTree(example().toJson()).has("extras"));
    assertEquals(List.of(), Manifest.parse(FILE, example().toJson()).extras());

    Consumer<ObjectNode> base = r -> r.set("extras", MAPPER.valueToTree(List.of(
        Map.of("name", "report/tensors.parquet", "format", "parquet"))));
    rejects(null, "extra file 'a/b/c.parquet' is more than one directory deep",
        base.andThen(r -> ((ObjectNode) r.get("extras").get(0)).put("name", "a/b/c.parquet")));
    rejects(null, "file name '..' is not a plain file name",
        base.andThen(r -> ((ObjectNode) r.get("extras").get(0)).put("name", "../x.parquet")));
    rejects(null, "extra file '" + PART + "' is listed twice",
        base.andThen(r -> ((ObjectNode) r.get("extras").get(0)).put("name", PART)));
    rejects(null, "extra file 'report/tensors.parquet' has format 'orc' that this reader does not "
        + "know (it knows parquet)",
        base.andThen(r -> ((ObjectNode) r.get("extras").get(0)).put("format", "orc")));
  }

  private static void rejects(String tensor, String message, Consumer<ObjectNode> edit) throws Exception {
    ObjectNode root = (ObjectNode) MAPPER.readTree(example().toJson());
    edit.accept(root);
    CheckpointFormatException e = assertThrows(CheckpointFormatException.class,
        () -> Manifest.parse(FILE, MAPPER.writeValueAsBytes(root)));
    assertEquals(INVALID_COMPRESSED, e.reason());
    assertEquals(tensor, e.tensor(), e.getMessage());
    String prefix = tensor == null ? FILE + ": " : FILE + ": tensor '" + tensor + "': ";
    assertEquals(prefix + message, e.getMessage());
  }

  private static ObjectNode group(ObjectNode root, int i) {
    return (ObjectNode) root.get("groups").get(i);
  }

  private static ObjectNode tensor(ObjectNode root, int i) {
    return (ObjectNode) root.get("tensors").get(i);
  }

  /** A kmeans block group with a Q7 ladder and outliers, and its tensor. */
  static Manifest withFeatures() {
    Manifest m = example();
    EncodingSpec blocks = new EncodingSpec(Method.KMEANS, 4, Scope.BLOCK, 32, CodebookPrecision.F32,
        ScalePrecision.Q7, false, 0.005);
    List<GroupEntry> groups = new java.util.ArrayList<>(m.groups());
    groups.add(new GroupEntry("blocks", blocks, "group.00004"));
    List<TensorEntry> tensors = new java.util.ArrayList<>(m.tensors());
    tensors.add(new TensorEntry("e", "BF16", new long[] {4, 64}, SRC, "codes", 4, 4, 1f, "lsb", PART,
        "e", -1, null, "e::scale", null, "e::ladder", new Manifest.Outliers(1, 0.0625f,
            "e::outlier_counts", "e::outlier_index", "e::outlier_values")));
    return new Manifest(2, Manifest.requiredFeatures(groups), m.createdBy(), m.source(),
        m.codebooksFile(), m.files(), groups, tensors);
  }

  @Test
  void blockScalesAndOutliersRoundTripAndAreRequired() throws Exception {
    Manifest m = withFeatures();
    assertEquals(List.of("block-scales", "outliers"), m.requiredFeatures());
    Manifest back = Manifest.parse(FILE, m.toJson());
    assertEquals(m, back);
    assertEquals(ScalePrecision.Q7, back.groups().get(4).spec().scalePrecision());
    assertEquals(0.005, back.groups().get(4).spec().outliers());
    assertEquals(0.0625f, back.tensors().get(5).outliers().threshold());
    ObjectNode root = (ObjectNode) MAPPER.readTree(m.toJson());
    root.putArray("required_features").add("block-scales");
    CheckpointFormatException e = assertThrows(CheckpointFormatException.class,
        () -> Manifest.parse(FILE, MAPPER.writeValueAsBytes(root)));
    assertEquals(FILE + ": its groups use 'outliers' but required_features does not list it",
        e.getMessage());
    ObjectNode noCount = (ObjectNode) MAPPER.readTree(m.toJson());
    ((ObjectNode) noCount.get("tensors").get(5).get("outliers")).remove("count");
    e = assertThrows(CheckpointFormatException.class,
        () -> Manifest.parse(FILE, MAPPER.writeValueAsBytes(noCount)));
    assertEquals(FILE + ": tensor 'e': 'outliers' must hold a non-negative integer 'count' and a "
        + "non-negative 'threshold'", e.getMessage());
  }

  @Test
  void refusesWhatItDoesNotKnow() throws Exception {
    rejects(null, "group 'attn' uses method 'aqlm' that this reader does not know (it knows kmeans, "
        + "uniform, gmm, vq in format version 2); use a newer Sparticle",
        r -> group(r, 1).put("method", "aqlm"));
    rejects(null, "group 'attn' has scope 'row' that this reader does not know (it knows group, "
        + "tensor, channel, block); use a newer Sparticle", r -> group(r, 1).put("scope", "row"));
    rejects(null, "group 'embed' has scale_precision 'BF16' that this reader does not know; use a "
        + "newer Sparticle", r -> group(r, 2).put("scale_precision", "BF16"));
    rejects(null, "group 'mlp' has codebook_precision 'F8' that this reader does not know; use a "
        + "newer Sparticle", r -> group(r, 0).put("codebook_precision", "F8"));
    rejects("c", "unknown encoding 'entropy'; this reader knows dense and codes",
        r -> tensor(r, 2).put("encoding", "entropy"));
    rejects(null, "'scope' must be a string", r -> group(r, 1).remove("scope"));
  }

  @Test
  void groupRulesAreChecked() throws Exception {
    rejects(null, "group 'mlp': 'codebook_step' must be a number", r -> group(r, 0).remove("codebook_step"));
    rejects(null, "group 'mlp': Cannot set codebook-precision to step:-1.0: the step must be finite "
        + "and positive", r -> group(r, 0).put("codebook_step", -1));
    rejects(null, "group 'embed': Cannot set block-size to 12: must be a multiple of 8 between 8 "
        + "and 1048576", r -> group(r, 2).put("block_size", 12));
    rejects(null, "group 'embed': Cannot set bits to 1: uniform takes 2 to 8", r -> {
      group(r, 2).put("bits", 1);
      group(r, 2).put("k", 2);
    });
    rejects(null, "'codebook' must be a string", r -> group(r, 0).remove("codebook"));
  }

  @Test
  void tensorFieldsOfEachMethodAreRequired() throws Exception {
    rejects("b", "'axis' must be an integer", r -> tensor(r, 1).remove("axis"));
    rejects("b", "channel axis 2 of a rank-2 tensor must be 0 or 1", r -> tensor(r, 1).put("axis", 2));
    rejects("b", "'codebook_key' must be a string", r -> tensor(r, 1).remove("codebook_key"));
    rejects("c", "'zero_key' must be a string", r -> tensor(r, 2).remove("zero_key"));
    rejects("a", "'scale' must be a positive finite number", r -> tensor(r, 0).remove("scale"));
    rejects("b", "encoding 'codebook' needs a kmeans group with a shared codebook",
        r -> tensor(r, 1).put("encoding", "codebook"));
  }

  @Test
  void versionOneKnowsOnlyKmeansAndCodebook() throws Exception {
    rejects(null, "group 'mlp' has codebook_precision 'step' that this reader does not know; use a "
        + "newer Sparticle", r -> r.put("format_version", 1));
    rejects(null, "group 'embed' uses method 'uniform' that this reader does not know (it knows "
        + "kmeans in format version 1); use a newer Sparticle", r -> {
          r.put("format_version", 1);
          group(r, 0).put("codebook_precision", "F32");
          group(r, 1).put("codebook", "group.00001");
        });
  }
}
