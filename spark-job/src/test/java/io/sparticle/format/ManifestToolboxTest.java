package io.sparticle.format;

import static io.sparticle.format.CheckpointFormatException.Reason.INVALID_COMPRESSED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sparticle.format.Manifest.FileEntry;
import io.sparticle.format.Manifest.GroupEntry;
import io.sparticle.format.Manifest.Mixture;
import io.sparticle.format.Manifest.Source;
import io.sparticle.format.Manifest.SourceFileEntry;
import io.sparticle.format.Manifest.TensorEntry;
import io.sparticle.quant.CodebookPrecision;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.EncodingSpec.Entropy;
import io.sparticle.quant.EncodingSpec.Method;
import io.sparticle.quant.EncodingSpec.ScalePrecision;
import io.sparticle.quant.EncodingSpec.Scope;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/** The toolbox's manifest fields (FORMAT.md 2.9-2.12): gmm, vq, pruning, entropy coding. */
class ManifestToolboxTest {
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final String FILE = "out/manifest.json";
  private static final String SRC = "model.safetensors";
  private static final String PART = "part-00001-of-00001.safetensors";

  static final Mixture MIXTURE = new Mixture(
      new double[] {0.05, 0.1, 0.15, 0.2, 0.2, 0.15, 0.1, 0.05},
      new double[] {-0.5, -0.25, -0.1, -0.02, 0.02, 0.1, 0.25, 0.5},
      new double[] {0.01, 0.005, 0.002, 0.001, 0.001, 0.002, 0.005, 0.01});

  /** Group 0 gmm 3b, 1 vq 2b d4 huffman, 2 kmeans 4b prune rans, 3 uniform channel prune. */
  static Manifest example() {
    EncodingSpec gmm = new EncodingSpec(Method.GMM, 3, Scope.GROUP, 0, CodebookPrecision.F32,
        ScalePrecision.F16, false, 0, 1, 0, Entropy.NONE);
    EncodingSpec vq = new EncodingSpec(Method.VQ, 2, Scope.GROUP, 0, CodebookPrecision.F16,
        ScalePrecision.F16, false, 0, 4, 0, Entropy.HUFFMAN);
    EncodingSpec pruned = EncodingSpec.kmeansGroup(4, CodebookPrecision.F32, true).withPrune(0.5)
        .withEntropy(Entropy.RANS);
    EncodingSpec uniform = new EncodingSpec(Method.UNIFORM, 4, Scope.CHANNEL, 0,
        CodebookPrecision.F32, ScalePrecision.F16, false, 0, 1, 0.25, Entropy.NONE);
    return new Manifest(2, List.of(), "sparticle 0.1.0",
        new Source("safetensors", List.of(new SourceFileEntry(SRC, 1000, Map.of())), false, null),
        "codebooks.safetensors",
        List.of(new FileEntry("codebooks.safetensors", 100, "0a1b2c3d"),
            new FileEntry(PART, 500, "deadbeef")),
        List.of(new GroupEntry("mlp", gmm, "group.00000", false, MIXTURE, -1, 0),
            new GroupEntry("attn", vq, "group.00001", false, null, -1, vq.segmentCodes()),
            new GroupEntry("embed", pruned, "group.00002", false, null, 7, pruned.segmentCodes()),
            new GroupEntry("head", uniform, null)),
        List.of(
            new TensorEntry("a", "BF16", new long[] {4, 8}, SRC, "codes", 0, 3, 1f, "lsb", PART, "a"),
            new TensorEntry("b", "F32", new long[] {8, 16}, SRC, "codes", 1, 2, 0.5f, "huffman",
                PART, "b", 1, null, null, null, null, null, null, "b::segments"),
            new TensorEntry("c", "F16", new long[] {100, 3}, SRC, "codes", 2, 4, 0.25f, "rans",
                PART, "c", -1, null, null, null, null, null, new Manifest.Pruned(150, 0.0078125f),
                "c::segments"),
            new TensorEntry("d", "BF16", new long[] {3, 5}, SRC, "codes", 3, 4, 1f, "lsb", PART,
                "d", 0, null, "d::scale", "d::zero", null, null, new Manifest.Pruned(0, -1f), null),
            new TensorEntry("n", "F32", new long[] {8}, SRC, "dense", -1, 0, 1f, null, PART, "n")));
  }

  private static ObjectNode group(ObjectNode root, int i) {
    return (ObjectNode) root.get("groups").get(i);
  }

  private static ObjectNode tensor(ObjectNode root, int i) {
    return (ObjectNode) root.get("tensors").get(i);
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

  // ---- hand-made example ----

  @Test
  void writesEachNewField() throws Exception {
    ObjectNode root = (ObjectNode) MAPPER.readTree(example().toJson());
    assertEquals("{\"name\":\"mlp\",\"method\":\"gmm\",\"bits\":3,\"k\":8,\"dim\":1,"
        + "\"scope\":\"group\",\"mixture\":{\"weights\":[0.05,0.1,0.15,0.2,0.2,0.15,0.1,0.05],"
        + "\"means\":[-0.5,-0.25,-0.1,-0.02,0.02,0.1,0.25,0.5],"
        + "\"variances\":[0.01,0.005,0.002,0.001,0.001,0.002,0.005,0.01]},"
        + "\"codebook_precision\":\"F32\",\"codebook\":\"group.00000\",\"per_tensor_scale\":false}",
        group(root, 0).toString());
    assertEquals("{\"name\":\"attn\",\"method\":\"vq\",\"bits\":2,\"k\":256,\"dim\":4,"
        + "\"scope\":\"group\",\"entropy\":\"huffman\",\"segment_codes\":1048576,"
        + "\"codebook_precision\":\"F16\",\"codebook\":\"group.00001\",\"per_tensor_scale\":false}",
        group(root, 1).toString());
    assertEquals("{\"name\":\"embed\",\"method\":\"kmeans\",\"bits\":4,\"k\":16,\"dim\":1,"
        + "\"scope\":\"group\",\"prune\":0.5,\"zero_code\":7,\"entropy\":\"rans\","
        + "\"segment_codes\":1048576,\"codebook_precision\":\"F32\",\"codebook\":\"group.00002\","
        + "\"per_tensor_scale\":true}", group(root, 2).toString());
    assertEquals("{\"name\":\"head\",\"method\":\"uniform\",\"bits\":4,\"k\":16,\"dim\":1,"
        + "\"scope\":\"channel\",\"prune\":0.25,\"scale_precision\":\"F16\"}",
        group(root, 3).toString());
    assertEquals("{\"name\":\"b\",\"dtype\":\"F32\",\"shape\":[8,16],\"source_file\":\"model.safetensors\","
        + "\"encoding\":\"codes\",\"group\":1,\"bits\":2,\"scale\":0.5,\"packing\":\"huffman\","
        + "\"axis\":1,\"file\":\"part-00001-of-00001.safetensors\",\"key\":\"b\","
        + "\"segments_key\":\"b::segments\"}", tensor(root, 1).toString());
    assertEquals("{\"name\":\"c\",\"dtype\":\"F16\",\"shape\":[100,3],\"source_file\":\"model.safetensors\","
        + "\"encoding\":\"codes\",\"group\":2,\"bits\":4,\"scale\":0.25,\"packing\":\"rans\","
        + "\"file\":\"part-00001-of-00001.safetensors\",\"key\":\"c\","
        + "\"prune\":{\"count\":150,\"threshold\":0.0078125},\"segments_key\":\"c::segments\"}",
        tensor(root, 2).toString());
    // No new feature is required: readers that predate them refuse the methods and packings.
    assertEquals(List.of(), Manifest.requiredFeatures(example().groups()));
  }

  @Test
  void roundTrip() throws Exception {
    Manifest m = example();
    Manifest back = Manifest.parse(FILE, m.toJson());
    assertArrayEquals(m.toJson(), back.toJson());
    assertEquals(m.tensors(), back.tensors());
    for (int g = 0; g < m.groups().size(); g++) {
      GroupEntry a = m.groups().get(g);
      GroupEntry b = back.groups().get(g);
      assertEquals(a.spec(), b.spec(), a.name());
      assertEquals(a.name(), b.name());
      assertEquals(a.codebook(), b.codebook());
      assertEquals(a.zeroCode(), b.zeroCode(), a.name());
      assertEquals(a.segmentCodes(), b.segmentCodes(), a.name());
    }
    Mixture mix = back.groups().get(0).mixture();
    assertArrayEquals(MIXTURE.weights(), mix.weights());
    assertArrayEquals(MIXTURE.means(), mix.means());
    assertArrayEquals(MIXTURE.variances(), mix.variances());
    assertNull(back.groups().get(1).mixture());
    assertEquals(4, back.groups().get(1).spec().dim());
    assertEquals(Entropy.HUFFMAN, back.groups().get(1).spec().entropy());
    assertEquals(0.5, back.groups().get(2).spec().prune());
    assertEquals(new Manifest.Pruned(150, 0.0078125f), back.tensors().get(2).pruned());
    // "Nothing pruned" round-trips as a negative threshold.
    assertEquals(new Manifest.Pruned(0, -1f), back.tensors().get(3).pruned());
    assertEquals(1, back.tensors().get(1).axis());
    // Without a zero_code (a group that prunes but reports no reserved code), -1.
    ObjectNode root = (ObjectNode) MAPPER.readTree(m.toJson());
    group(root, 2).remove("zero_code");
    assertEquals(-1, Manifest.parse(FILE, MAPPER.writeValueAsBytes(root)).groups().get(2).zeroCode());
  }

  /** Records compare their components; a gmm manifest read back should equal the one written. */
  @Test
  void aGmmManifestEqualsItselfReadBack() throws Exception {
    Manifest m = example();
    assertEquals(m, Manifest.parse(FILE, m.toJson()));
  }

  // ---- group rules ----

  @Test
  void vqGroupShape() throws Exception {
    rejects(null, "group 'attn' has bits 2, k 256, dim 3: format version 2 has bits 1..8, "
        + "k = 2^bits, dim 1; vq has dim 2, 4 or 8 and k = 2^(bits x dim), at most 65536",
        r -> group(r, 1).put("dim", 3));
    rejects(null, "group 'attn' has bits 2, k 16, dim 4: format version 2 has bits 1..8, "
        + "k = 2^bits, dim 1; vq has dim 2, 4 or 8 and k = 2^(bits x dim), at most 65536",
        r -> group(r, 1).put("k", 16));
    rejects(null, "group 'attn' has bits 5, k 1048576, dim 4: format version 2 has bits 1..8, "
        + "k = 2^bits, dim 1; vq has dim 2, 4 or 8 and k = 2^(bits x dim), at most 65536", r -> {
          group(r, 1).put("bits", 5);
          group(r, 1).put("k", 1 << 20);
        });
    rejects(null, "group 'embed' has bits 4, k 16, dim 2: format version 2 has bits 1..8, "
        + "k = 2^bits, dim 1", r -> group(r, 2).put("dim", 2));
    rejects(null, "group 'mlp' has bits 3, k 8, dim 4: format version 2 has bits 1..8, "
        + "k = 2^bits, dim 1", r -> group(r, 0).put("dim", 4));
    rejects(null, "'dim' must be an integer", r -> group(r, 1).remove("dim"));
    rejects(null, "group 'attn': Cannot use scope channel with method vq: it takes group only",
        r -> group(r, 1).put("scope", "channel"));
    rejects(null, "group 'mlp': Cannot use scope block with method gmm: it takes group only",
        r -> group(r, 0).put("scope", "block").put("block_size", 32).put("scale_precision", "F16"));
  }

  @Test
  void entropyFields() throws Exception {
    rejects(null, "group 'attn' has entropy 'zstd' that this reader does not know (it knows "
        + "huffman, rans); use a newer Sparticle", r -> group(r, 1).put("entropy", "zstd"));
    rejects(null, "group 'attn' has entropy 'HUFFMAN' that this reader does not know (it knows "
        + "huffman, rans); use a newer Sparticle", r -> group(r, 1).put("entropy", "HUFFMAN"));
    rejects(null, "'entropy' must be a string", r -> group(r, 1).put("entropy", 1));
    rejects(null, "group 'attn': segment_codes must be positive", r -> group(r, 1).put("segment_codes", 0));
    rejects(null, "'segment_codes' must be an integer", r -> group(r, 1).remove("segment_codes"));
  }

  @Test
  void pruneFields() throws Exception {
    rejects(null, "group 'embed': zero_code 16 is not a code", r -> group(r, 2).put("zero_code", 16));
    rejects(null, "group 'embed': zero_code -1 is not a code", r -> group(r, 2).put("zero_code", -1));
    rejects(null, "group 'embed': 'prune' must be a number", r -> group(r, 2).put("prune", "0.5"));
    rejects(null, "group 'embed': Cannot set prune to 1.5: must be a fraction between 0 and 0.99",
        r -> group(r, 2).put("prune", 1.5));
    rejects(null, "group 'attn': Cannot prune with method vq: a pruned weight has no reserved "
        + "code inside a sub-vector's code; prune applies to kmeans, gmm and uniform",
        r -> group(r, 1).put("prune", 0.1));
    rejects(null, "group 'mlp': Cannot prune at 1 bit: the reserved zero code would leave no "
        + "code for the surviving weights", r -> group(r, 0).put("prune", 0.1).put("bits", 1)
            .put("k", 2).set("mixture", MAPPER.createObjectNode()
                .<ObjectNode>set("weights", MAPPER.createArrayNode().add(0.5).add(0.5))
                .<ObjectNode>set("means", MAPPER.createArrayNode().add(-1).add(1))
                .set("variances", MAPPER.createArrayNode().add(1).add(1))));
    String tensorPrune = "'prune' must hold a non-negative integer 'count' and a finite "
        + "'threshold' (negative: nothing pruned)";
    rejects("c", tensorPrune, r -> tensor(r, 2).remove("prune"));
    rejects("c", tensorPrune, r -> ((ObjectNode) tensor(r, 2).get("prune")).put("count", -1));
    rejects("c", tensorPrune, r -> ((ObjectNode) tensor(r, 2).get("prune")).put("count", 1.5));
    rejects("c", tensorPrune, r -> ((ObjectNode) tensor(r, 2).get("prune")).remove("threshold"));
    rejects("c", tensorPrune, r -> ((ObjectNode) tensor(r, 2).get("prune")).put("threshold", "NaN"));
    rejects("d", tensorPrune, r -> tensor(r, 3).remove("prune"));
  }

  @Test
  void mixtureFields() throws Exception {
    rejects(null, "group 'mlp': mixture.weights must be 8 numbers", r -> group(r, 0).remove("mixture"));
    rejects(null, "group 'mlp': mixture.means must be 8 numbers",
        r -> ((ArrayNode) group(r, 0).get("mixture").get("means")).remove(7));
    rejects(null, "group 'mlp': mixture.variances must be 8 numbers",
        r -> ((ArrayNode) group(r, 0).get("mixture").get("variances")).add(0.1));
    rejects(null, "group 'mlp': mixture.variances holds a non-number",
        r -> ((ArrayNode) group(r, 0).get("mixture").get("variances")).set(3, MAPPER.getNodeFactory().textNode("x")));
    rejects(null, "group 'mlp': mixture.weights must be 8 numbers",
        r -> ((ObjectNode) group(r, 0).get("mixture")).put("weights", 1));
  }

  // ---- tensor rules ----

  @Test
  void packingMustMatchTheGroup() throws Exception {
    rejects("b", "packing 'lsb' does not match its group's entropy 'huffman'",
        r -> tensor(r, 1).put("packing", "lsb"));
    rejects("c", "packing 'huffman' does not match its group's entropy 'rans'",
        r -> tensor(r, 2).put("packing", "huffman"));
    rejects("a", "packing 'rans' does not match its group's entropy 'none'",
        r -> tensor(r, 0).put("packing", "rans"));
    rejects("a", "packing 'zstd' is unknown (this reader knows lsb, huffman, rans)",
        r -> tensor(r, 0).put("packing", "zstd"));
    rejects("a", "'packing' must be a string", r -> tensor(r, 0).remove("packing"));
    rejects("b", "'segments_key' must be a string", r -> tensor(r, 1).remove("segments_key"));
    rejects("c", "'segments_key' must be a string", r -> tensor(r, 2).put("segments_key", 3));
  }

  @Test
  void vqAxis() throws Exception {
    rejects("b", "'axis' must be an integer", r -> tensor(r, 1).remove("axis"));
    rejects("b", "vq axis 2 of a rank-2 tensor must be 0 or 1", r -> tensor(r, 1).put("axis", 2));
    rejects("b", "vq axis -1 of a rank-2 tensor must be 0 or 1", r -> tensor(r, 1).put("axis", -1));
    rejects("b", "vq axis 1 of a rank-3 tensor must be 0 or 2", r -> {
      ArrayNode shape = tensor(r, 1).putArray("shape");
      shape.add(2).add(4).add(16);
    });
    rejects("b", "vq axis 1 of shape [8, 6] is not a multiple of dim 4",
        r -> ((ArrayNode) tensor(r, 1).get("shape")).set(1, MAPPER.getNodeFactory().numberNode(6)));
    rejects("b", "vq axis 0 of shape [6, 16] is not a multiple of dim 4", r -> {
      tensor(r, 1).put("axis", 0);
      ((ArrayNode) tensor(r, 1).get("shape")).set(0, MAPPER.getNodeFactory().numberNode(6));
    });
    // Along axis 0 (ONNX [in, out]) when that dimension divides.
    ObjectNode root = (ObjectNode) MAPPER.readTree(example().toJson());
    tensor(root, 1).put("axis", 0);
    assertEquals(0, Manifest.parse(FILE, MAPPER.writeValueAsBytes(root)).tensors().get(1).axis());
    // A rank-1 vq tensor runs along axis 0.
    ObjectNode flat = (ObjectNode) MAPPER.readTree(example().toJson());
    tensor(flat, 1).put("axis", 0).putArray("shape").add(128);
    assertEquals(0, Manifest.parse(FILE, MAPPER.writeValueAsBytes(flat)).tensors().get(1).axis());
    rejects("b", "vq axis 0 of shape [] is not a multiple of dim 4",
        r -> tensor(r, 1).put("axis", 0).putArray("shape"));
  }

  @Test
  void theScaleOfAGmmOrVqTensorIsRequired() throws Exception {
    rejects("a", "'scale' must be a positive finite number", r -> tensor(r, 0).remove("scale"));
    rejects("b", "'scale' must be a positive finite number", r -> tensor(r, 1).put("scale", 0));
  }
}
