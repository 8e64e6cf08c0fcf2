package io.sparticle.fuzz;

import static org.junit.jupiter.api.Assertions.*;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.sparticle.format.CheckpointFormatException;
import io.sparticle.format.ShardIndex;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * Fuzzes the {@code model.safetensors.index.json} parser: each input is the file's bytes.
 *
 * <p>Contract: {@link ShardIndex#parse} returns an index whose shard names are plain file names,
 * or throws {@link CheckpointFormatException}; nothing else. An index that parses writes JSON that
 * parses back to an equal index and the same bytes.
 */
class ShardIndexFuzzTest {
  static final String FILE = "ckpt/model.safetensors.index.json";

  @FuzzTest
  @DictionaryEntries({"\"weight_map\"", "\"metadata\"", "\"total_size\"", ".safetensors", "..", "/"})
  void parse(byte[] json) throws CheckpointFormatException {
    ShardIndex index;
    try {
      index = ShardIndex.parse(FILE, json);
    } catch (CheckpointFormatException e) {
      assertEquals(FILE, e.file(), e.getMessage());
      return;
    }
    for (String shard : index.weightMap().values()) {
      assertFalse(
          shard.isEmpty() || shard.equals(".") || shard.equals("..") || shard.contains("/")
              || shard.contains("\\") || shard.contains("\0"),
          "not a plain file name: " + shard);
    }
    assertEquals(List.copyOf(new LinkedHashSet<>(index.weightMap().values())), index.shardFiles());

    byte[] written = index.toJson();
    ShardIndex back = ShardIndex.parse(FILE, written);
    assertEquals(List.copyOf(index.weightMap().entrySet()), List.copyOf(back.weightMap().entrySet()));
    assertEquals(index.metadataJson(), back.metadataJson());
    assertArrayEquals(written, back.toJson());
    // Building the same index for writing gives the same file.
    assertArrayEquals(written, ShardIndex.of(index.weightMap(), index.metadataJson()).toJson());
  }
}
