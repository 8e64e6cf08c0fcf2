package io.sparticle.format;

import static io.sparticle.format.CheckpointFormatException.Reason.*;
import static io.sparticle.format.SafetensorsReaderTest.assertNamed;
import static org.junit.jupiter.api.Assertions.*;

import io.sparticle.format.CheckpointFormatException.Reason;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ShardIndexTest {
  private static final String FILE = "ckpt/model.safetensors.index.json";
  private static final String S1 = "model-00001-of-00002.safetensors";
  private static final String S2 = "model-00002-of-00002.safetensors";

  private static ShardIndex parse(String json) throws CheckpointFormatException {
    return ShardIndex.parse(FILE, json.getBytes(StandardCharsets.UTF_8));
  }

  private static CheckpointFormatException fails(Reason reason, String tensor, String json) {
    return fails(reason, tensor, json.getBytes(StandardCharsets.UTF_8));
  }

  private static CheckpointFormatException fails(Reason reason, String tensor, byte[] json) {
    CheckpointFormatException e =
        assertThrows(CheckpointFormatException.class, () -> ShardIndex.parse(FILE, json));
    assertNamed(e, reason, FILE, tensor);
    return e;
  }

  /** The header of a shard named {@code shard} holding one U8 tensor per name. */
  private static SafetensorsHeader shard(String shard, String... tensors) throws CheckpointFormatException {
    SafetensorsLayout.Builder b = SafetensorsLayout.builder();
    for (String t : tensors) {
      b.add(t, DType.U8, new long[] {1});
    }
    SafetensorsLayout layout = b.build();
    byte[] bytes = layout.headerBytes();
    long n = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
    return SafetensorsReader.parse("ckpt/" + shard, layout.fileLength(), n, Arrays.copyOfRange(bytes, 8, bytes.length));
  }

  private static final String EXAMPLE =
      "{\n  \"metadata\": {\"total_size\": 123, \"note\": [1.50, {\"x\": null}]},\n"
          + "  \"weight_map\": {\n"
          + "    \"b.weight\": \"" + S2 + "\",\n"
          + "    \"a.weight\": \"" + S1 + "\",\n"
          + "    \"c.weight\": \"" + S2 + "\"\n"
          + "  }\n}\n";

  @Test
  void handMadeExample() throws Exception {
    ShardIndex index = parse(EXAMPLE);
    assertEquals(FILE, index.file());
    assertEquals(List.of("b.weight", "a.weight", "c.weight"), List.copyOf(index.weightMap().keySet()));
    assertEquals(S1, index.weightMap().get("a.weight"));
    assertEquals(List.of(S2, S1), index.shardFiles());
    assertEquals("{\"total_size\":123,\"note\":[1.50,{\"x\":null}]}", index.metadataJson());
    assertThrows(UnsupportedOperationException.class, () -> index.weightMap().clear());
  }

  @Test
  void toJsonIsPrettyAndRoundTrips() throws Exception {
    ShardIndex index = parse(EXAMPLE);
    String json = new String(index.toJson(), StandardCharsets.UTF_8);
    assertEquals(
        "{\n"
            + "  \"metadata\": {\n"
            + "    \"total_size\": 123,\n"
            + "    \"note\": [\n"
            + "      1.50,\n"
            + "      {\n"
            + "        \"x\": null\n"
            + "      }\n"
            + "    ]\n"
            + "  },\n"
            + "  \"weight_map\": {\n"
            + "    \"b.weight\": \"" + S2 + "\",\n"
            + "    \"a.weight\": \"" + S1 + "\",\n"
            + "    \"c.weight\": \"" + S2 + "\"\n"
            + "  }\n"
            + "}\n",
        json);
    ShardIndex again = ShardIndex.parse(FILE, index.toJson());
    assertEquals(index.weightMap(), again.weightMap());
    assertEquals(index.metadataJson(), again.metadataJson());
    assertArrayEquals(index.toJson(), again.toJson());
  }

  @Test
  void ofBuildsAnIndexForWriting() throws Exception {
    Map<String, String> map = new LinkedHashMap<>();
    map.put("z", S1);
    map.put("y", S2);
    ShardIndex index = ShardIndex.of(map, "{ \"total_size\" : 7 }");
    map.clear(); // copied
    assertEquals(ShardIndex.FILE_NAME, index.file());
    assertEquals("{\"total_size\":7}", index.metadataJson());
    assertEquals(
        "{\n  \"metadata\": {\n    \"total_size\": 7\n  },\n  \"weight_map\": {\n    \"z\": \"" + S1
            + "\",\n    \"y\": \"" + S2 + "\"\n  }\n}\n",
        new String(index.toJson(), StandardCharsets.UTF_8));
    ShardIndex bare = ShardIndex.of(Map.of(), null);
    assertNull(bare.metadataJson());
    assertEquals("{\n  \"weight_map\": {}\n}\n", new String(bare.toJson(), StandardCharsets.UTF_8));
    assertTrue(parse(new String(bare.toJson(), StandardCharsets.UTF_8)).weightMap().isEmpty());

    assertThrows(IllegalArgumentException.class, () -> ShardIndex.of(Map.of("t", "../x"), null));
    assertThrows(IllegalArgumentException.class, () -> ShardIndex.of(Map.of("t", S1), "[1]"));
    assertThrows(IllegalArgumentException.class, () -> ShardIndex.of(Map.of("t", S1), "{} {}"));
    assertThrows(IllegalArgumentException.class, () -> ShardIndex.of(Map.of("t", S1), "{\"a\":1,\"a\":2}"));
  }

  @Test
  void invalidIndex() {
    fails(INVALID_INDEX, null, new byte[] {'{', (byte) 0xFF, '}'});
    fails(INVALID_INDEX, null, "");
    fails(INVALID_INDEX, null, "{\"weight_map\":");
    fails(INVALID_INDEX, null, "[]");
    fails(INVALID_INDEX, null, "{}");
    fails(INVALID_INDEX, null, "{\"weight_map\":[]}");
    fails(INVALID_INDEX, null, "{\"weight_map\":{}} {}");
    fails(INVALID_INDEX, null, "{\"metadata\":3,\"weight_map\":{}}");
    CheckpointFormatException e = fails(INVALID_INDEX, null, "{\"weight_map\":{},\"extra\":1}");
    assertTrue(e.getMessage().contains("'extra'"), e.getMessage());
    fails(INVALID_INDEX, "t", "{\"weight_map\":{\"t\":1}}");
  }

  @Test
  void duplicateKeys() {
    CheckpointFormatException e =
        fails(DUPLICATE_KEY, "t", "{\"weight_map\":{\"t\":\"" + S1 + "\",\"t\":\"" + S2 + "\"}}");
    assertEquals(FILE + ": tensor 't': appears twice in weight_map", e.getMessage());
    fails(DUPLICATE_KEY, null, "{\"weight_map\":{},\"weight_map\":{}}");
    e = fails(DUPLICATE_KEY, null, "{\"metadata\":{\"n\":{\"k\":1,\"k\":2}},\"weight_map\":{}}");
    assertTrue(e.getMessage().contains("'k'"), e.getMessage());
  }

  @Test
  void invalidShardName() {
    for (String bad : new String[] {"", ".", "..", "../" + S1, "sub/" + S1, "c:\\" + S1, "a\u0000b"}) {
      String json = "{\"weight_map\":{\"layers.0.w\":\"" + bad.replace("\\", "\\\\").replace("\0", "\\u0000") + "\"}}";
      CheckpointFormatException e = fails(INVALID_SHARD_NAME, "layers.0.w", json);
      assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
    }
  }

  // ---- checkAgainstShards ----

  private static ShardIndex twoShards() {
    Map<String, String> map = new LinkedHashMap<>();
    map.put("a", S1);
    map.put("b", S1);
    map.put("c", S2);
    return ShardIndex.of(map, null);
  }

  private static CheckpointFormatException checkFails(
      Reason reason, String file, String tensor, Map<String, SafetensorsHeader> headers) {
    CheckpointFormatException e =
        assertThrows(CheckpointFormatException.class, () -> ShardIndex.checkAgainstShards(twoShards(), headers));
    assertNamed(e, reason, file, tensor);
    return e;
  }

  @Test
  void consistentShardsPass() throws Exception {
    Map<String, SafetensorsHeader> headers = new HashMap<>();
    headers.put(S1, shard(S1, "b", "a"));
    headers.put(S2, shard(S2, "c"));
    ShardIndex.checkAgainstShards(twoShards(), headers);
  }

  @Test
  void missingShard() throws Exception {
    CheckpointFormatException e =
        checkFails(MISSING_SHARD, ShardIndex.FILE_NAME, "c", Map.of(S1, shard(S1, "a", "b")));
    assertTrue(e.getMessage().contains("'" + S2 + "'"), e.getMessage());
  }

  @Test
  void tensorInTwoShards() throws Exception {
    CheckpointFormatException e =
        checkFails(TENSOR_IN_TWO_SHARDS, "ckpt/" + S2, "a", Map.of(S1, shard(S1, "a", "b"), S2, shard(S2, "c", "a")));
    assertTrue(e.getMessage().contains("'" + S1 + "'"), e.getMessage());
  }

  @Test
  void indexedTensorMissingFromShard() throws Exception {
    CheckpointFormatException e =
        checkFails(TENSOR_NOT_IN_SHARD, ShardIndex.FILE_NAME, "b", Map.of(S1, shard(S1, "a"), S2, shard(S2, "c")));
    assertTrue(e.getMessage().contains("'" + S1 + "'"), e.getMessage());
    // In the other shard than the index says.
    checkFails(TENSOR_NOT_IN_SHARD, ShardIndex.FILE_NAME, "b", Map.of(S1, shard(S1, "a"), S2, shard(S2, "c", "b")));
  }

  @Test
  void shardTensorMissingFromIndex() throws Exception {
    checkFails(
        TENSOR_NOT_IN_SHARD, "ckpt/" + S2, "extra", Map.of(S1, shard(S1, "a", "b"), S2, shard(S2, "c", "extra")));
    // A shard the index never names still counts when the caller passes it.
    checkFails(
        TENSOR_NOT_IN_SHARD, "ckpt/stray.safetensors", "d",
        Map.of(S1, shard(S1, "a", "b"), S2, shard(S2, "c"), "stray.safetensors", shard("stray.safetensors", "d")));
  }
}
