package io.sparticle.synth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.format.DType;
import io.sparticle.format.SafetensorsReader;
import io.sparticle.io.LocalInputFile;
import io.sparticle.synth.SyntheticCheckpoint.Preset;
import io.sparticle.synth.SyntheticCheckpoint.Shape;
import io.sparticle.synth.SyntheticCheckpoint.Shard;
import io.sparticle.synth.SyntheticCheckpoint.Spec;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SyntheticCheckpointTest {
  @TempDir Path tmp;

  private static Spec spec(Shape s, String name) {
    return SyntheticCheckpoint.tensors(s).stream().filter(t -> t.name().equals(name)).findFirst()
        .orElseThrow(() -> new AssertionError("no tensor " + name));
  }

  @Test
  void llama7bHasLlama2sShapesAndParameterCount() {
    Shape s = Preset.of("llama-7b").shape();
    assertEquals(6_738_415_616L, SyntheticCheckpoint.params(s));
    assertEquals(1 + 32 * 9 + 2, SyntheticCheckpoint.tensorCount(s));
    assertArrayEquals(new long[] {32000, 4096}, spec(s, "model.embed_tokens.weight").shape());
    assertArrayEquals(new long[] {4096, 4096}, spec(s, "model.layers.0.self_attn.k_proj.weight").shape());
    assertArrayEquals(new long[] {4096, 4096}, spec(s, "model.layers.31.self_attn.v_proj.weight").shape());
    assertArrayEquals(new long[] {11008, 4096}, spec(s, "model.layers.5.mlp.gate_proj.weight").shape());
    assertArrayEquals(new long[] {4096, 11008}, spec(s, "model.layers.31.mlp.down_proj.weight").shape());
    assertArrayEquals(new long[] {4096}, spec(s, "model.norm.weight").shape());
    assertArrayEquals(new long[] {32000, 4096}, spec(s, "lm_head.weight").shape());
  }

  @Test
  void llama7bIsShardedAsHfShardsLlama2() {
    Preset p = Preset.of("llama-7b");
    assertEquals(10_000_000_000L, p.shardBytes());
    List<Shard> shards = SyntheticCheckpoint.shardPlan(p.shape(), DType.BF16, p.shardBytes());
    assertEquals(2, shards.size());
    assertEquals("model-00001-of-00002.safetensors", shards.get(0).file());
    assertEquals("model-00002-of-00002.safetensors", shards.get(1).file());
    // HF's first file is 9,976,576,152 bytes: the embedding and layers 0-23, its header, and 24
    // rotary buffers. Ours holds the same, and layer 24's input norm (8 KiB), which comes first
    // in our order and last in HF's.
    assertEquals(9_976_545_280L + 8192, shards.get(0).dataBytes());
    List<Spec> first = shards.get(0).tensors();
    assertEquals("model.embed_tokens.weight", first.get(0).name());
    assertEquals("model.layers.23.mlp.down_proj.weight", first.get(first.size() - 2).name());
    assertEquals("model.layers.24.input_layernorm.weight", first.get(first.size() - 1).name());
    assertEquals("model.layers.24.self_attn.q_proj.weight", shards.get(1).tensors().get(0).name());
    assertEquals(2 * 6_738_415_616L, shards.get(0).dataBytes() + shards.get(1).dataBytes());
  }

  private static final Pattern MIXTRAL = Pattern.compile("model\\.embed_tokens\\.weight|model\\.norm\\.weight"
      + "|lm_head\\.weight|model\\.layers\\.(\\d+)\\.(input_layernorm|post_attention_layernorm"
      + "|self_attn\\.[qkvo]_proj|block_sparse_moe\\.gate|block_sparse_moe\\.experts\\.(\\d+)\\.w[123])\\.weight");

  @Test
  void moeHasMixtralNamesAndManySmallExperts() {
    Shape s = Preset.of("moe").shape();
    List<Spec> tensors = SyntheticCheckpoint.tensors(s);
    assertTrue(tensors.size() >= 20_000, tensors.size() + " tensors");
    assertEquals(48 * (2 + 4 + 1 + 144 * 3) + 3, tensors.size());
    int experts = 0;
    for (Spec t : tensors) {
      var m = MIXTRAL.matcher(t.name());
      assertTrue(m.matches(), t.name());
      if (m.group(3) != null) {
        experts++;
        assertTrue(Integer.parseInt(m.group(1)) < 48 && Integer.parseInt(m.group(3)) < 144, t.name());
      }
    }
    assertEquals(48 * 144 * 3, experts);
    assertArrayEquals(new long[] {144, 256}, spec(s, "model.layers.47.block_sparse_moe.gate.weight").shape());
    assertArrayEquals(new long[] {64, 256}, spec(s, "model.layers.0.block_sparse_moe.experts.143.w1.weight").shape());
    assertArrayEquals(new long[] {256, 64}, spec(s, "model.layers.0.block_sparse_moe.experts.0.w2.weight").shape());
    assertArrayEquals(new long[] {64, 256}, spec(s, "model.layers.9.block_sparse_moe.experts.7.w3.weight").shape());
    assertEquals(367_354_112L, SyntheticCheckpoint.params(s));
    assertEquals(tensors.size(), tensors.stream().map(Spec::name).distinct().count(), "names are unique");
  }

  @Test
  void moeIsShardedIntoSeveralFiles() {
    Preset p = Preset.of("moe");
    List<Shard> shards = SyntheticCheckpoint.shardPlan(p.shape(), DType.BF16, p.shardBytes());
    assertEquals(6, shards.size());
    long bytes = 0;
    for (Shard sh : shards) {
      assertTrue(sh.dataBytes() <= p.shardBytes(), sh.file());
      bytes += sh.dataBytes();
    }
    assertEquals(734_708_224L, bytes);
  }

  @Test
  void presetsKeepTheirShapes() {
    assertEquals(new Shape(256, 64, 688, 2, 1024), SyntheticCheckpoint.preset("tiny"));
    assertEquals(new Shape(512, 128, 1376, 4, 4096), SyntheticCheckpoint.preset("SMALL"));
    assertEquals(1_104_218_112L, SyntheticCheckpoint.params(SyntheticCheckpoint.preset("llama-1b")));
    assertEquals(3, SyntheticCheckpoint.shardPlan(SyntheticCheckpoint.preset("llama-1b"), DType.BF16,
        Preset.of("llama-1b").shardBytes()).size());
  }

  @Test
  void rejectsUnknownPresetsAndInvalidShapes() {
    assertEquals("Unknown preset 'llama-70b': use tiny, small, llama-1b, llama-7b or moe",
        assertThrows(IllegalArgumentException.class, () -> Preset.of("llama-70b")).getMessage());
    assertEquals("Cannot set hidden to 0: must be positive",
        assertThrows(IllegalArgumentException.class, () -> new Shape(0, 64, 688, 2, 1024)).getMessage());
    assertEquals("Cannot set intermediate to 688 with experts: must be 0 (the experts are the MLP)",
        assertThrows(IllegalArgumentException.class, () -> new Shape(256, 64, 688, 2, 1024, 8, 64)).getMessage());
    assertEquals("Cannot set expertIntermediate to 0: must be positive",
        assertThrows(IllegalArgumentException.class, () -> Shape.moe(256, 64, 2, 1024, 8, 0)).getMessage());
    assertEquals("Cannot set experts to -1: must be 0 (dense) or more",
        assertThrows(IllegalArgumentException.class, () -> new Shape(256, 64, 688, 2, 1024, -1, 0)).getMessage());
    assertEquals("Cannot set the shard size to 0: must be positive",
        assertThrows(IllegalArgumentException.class,
            () -> SyntheticCheckpoint.shardPlan(SyntheticCheckpoint.preset("tiny"), DType.BF16, 0)).getMessage());
  }

  @Test
  void aTensorLargerThanAShardGetsOneOfItsOwn() {
    Shape tiny = SyntheticCheckpoint.preset("tiny");
    // The 1024 x 256 BF16 embedding is 512 KiB; q_proj 128 KiB.
    List<Shard> shards = SyntheticCheckpoint.shardPlan(tiny, DType.BF16, 200 << 10);
    assertEquals(List.of("model.embed_tokens.weight"), shards.get(0).tensors().stream().map(Spec::name).toList());
    assertEquals(512 << 10, shards.get(0).dataBytes());
    assertEquals("model.safetensors",
        SyntheticCheckpoint.shardPlan(tiny, DType.BF16, 1L << 30).get(0).file());
  }

  @Test
  void streamedAndInMemoryTensorsAreTheSameBytes() throws Exception {
    Spec t = spec(SyntheticCheckpoint.preset("tiny"), "model.layers.1.mlp.down_proj.weight");
    for (DType d : List.of(DType.BF16, DType.F16, DType.F32)) {
      ByteArrayOutputStream streamed = new ByteArrayOutputStream();
      new SyntheticCheckpoint.TensorSampler(t, d, 5).writeTo(streamed);
      assertArrayEquals(new SyntheticCheckpoint.TensorSampler(t, d, 5).bytes(), streamed.toByteArray(), d.name());
    }
  }

  /**
   * The bytes of {@code generate --preset tiny --shard-size 1MiB} as the one-threaded generator
   * wrote them before generation went parallel; the format v1 fixtures are verified against them.
   */
  @Test
  void generatesTheSameBytesAsEver() throws Exception {
    SyntheticCheckpoint.write(SyntheticCheckpoint.preset("tiny"), DType.BF16, 1L << 20, 1,
        tmp.resolve("bf16").toString(), new Configuration());
    assertEquals(Map.of(
        "model-00001-of-00005.safetensors", "bc21235927034ed765bebca8b2a1316a4186765b98babffa1e5664807f34abf1",
        "model-00002-of-00005.safetensors", "527099cd7b0bbc7f7f2c14818b906625300d4494e7b65f02e38333fab2f1cc6f",
        "model-00003-of-00005.safetensors", "6623b974b2cb345c77457c0c4f19d4d459b12fed45e9aa7110bfb188085885dc",
        "model-00004-of-00005.safetensors", "61b554c29c4305e172b618b2aa2558386d9e99cf2484c0365f1318e56babb44c",
        "model-00005-of-00005.safetensors", "14dfedf8df0f4449069e6f1b28e610b9c4d43afddea7f0c5ffc63bf6c8e3c501",
        "model.safetensors.index.json", "d0dfda809b4f87611e9b6bb456d053f7a24a9b2499558d708fa847b8a09dffcc"),
        sha256(tmp.resolve("bf16")));
    SyntheticCheckpoint.write(SyntheticCheckpoint.preset("tiny"), DType.F32, 1L << 20, 1,
        tmp.resolve("f32").toString(), new Configuration());
    Map<String, String> f32 = sha256(tmp.resolve("f32"));
    assertEquals(10, f32.size());
    assertEquals("58b323a327785748f8d907c7ff54bd0756e7fc974d542e63b4cd4ec9ea21c79c",
        f32.get("model-00001-of-00009.safetensors"));
    assertEquals("9a669aff7f0f17899b5dfe17a74acaede4cc13380a4e8dec70789baa051d6421",
        f32.get("model-00009-of-00009.safetensors"));
  }

  @Test
  void writesAnMoeCheckpointThatReadsBack() throws Exception {
    Shape s = Shape.moe(64, 32, 2, 128, 16, 8);
    long params = SyntheticCheckpoint.write(s, DType.BF16, 16 << 10, 3, tmp.resolve("moe").toString(),
        new Configuration());
    assertEquals(SyntheticCheckpoint.params(s), params);
    int tensors = 0;
    for (Shard sh : SyntheticCheckpoint.shardPlan(s, DType.BF16, 16 << 10)) {
      var header = SafetensorsReader.readHeader(
          new LocalInputFile(tmp.resolve("moe").resolve(sh.file())));
      assertEquals(sh.tensors().size(), header.tensors().size(), sh.file());
      tensors += header.tensors().size();
    }
    assertEquals(2 * (7 + 3 * 16) + 3, tensors);
    String index = Files.readString(tmp.resolve("moe").resolve("model.safetensors.index.json"));
    assertTrue(index.contains("\"model.layers.1.block_sparse_moe.experts.15.w3.weight\""), index);
  }

  private static Map<String, String> sha256(Path dir) throws Exception {
    Map<String, String> out = new TreeMap<>();
    try (Stream<Path> files = Files.list(dir)) {
      for (Path p : files.toList()) {
        MessageDigest d = MessageDigest.getInstance("SHA-256");
        out.put(p.getFileName().toString(), HexFormat.of().formatHex(d.digest(Files.readAllBytes(p))));
      }
    }
    return out;
  }
}
