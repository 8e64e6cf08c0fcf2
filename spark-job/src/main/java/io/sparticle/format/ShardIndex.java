package io.sparticle.format;

import static io.sparticle.format.CheckpointFormatException.Reason.*;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.cfg.JsonNodeFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.CharBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * The index of a sharded Hugging Face checkpoint ({@value #FILE_NAME}): which shard file holds
 * each tensor, plus a {@code metadata} object (usually {@code {"total_size": ...}}) kept as JSON
 * text so it can be written back. Immutable.
 *
 * <p>Shard names must be plain file names in the index's directory, so a hostile index cannot
 * point the job at {@code ../../etc/passwd} or another bucket. Top-level keys other than
 * {@code metadata} and {@code weight_map} are rejected rather than silently dropped on rewrite.
 *
 * <pre>{@code
 * ShardIndex index = ShardIndex.parse(path, Files.readAllBytes(path));
 * Map<String, SafetensorsHeader> headers = new HashMap<>();
 * for (String shard : index.shardFiles()) {
 *   headers.put(shard, SafetensorsReader.readHeader(new LocalInputFile(dir.resolve(shard))));
 * }
 * ShardIndex.checkAgainstShards(index, headers);
 * }</pre>
 */
public final class ShardIndex {
  public static final String FILE_NAME = "model.safetensors.index.json";

  // Keeps metadata numbers as written (no double rounding, no stripped zeros) when normalizing.
  private static final JsonMapper MAPPER =
      JsonMapper.builder(Json.FACTORY)
          .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
          .disable(JsonNodeFeature.STRIP_TRAILING_BIGDECIMAL_ZEROES)
          .build();

  private final String file;
  private final Map<String, String> weightMap;
  private final List<String> shardFiles;
  private final String metadataJson;

  private ShardIndex(String file, Map<String, String> weightMap, String metadataJson) {
    this.file = file;
    this.weightMap = Collections.unmodifiableMap(weightMap);
    this.shardFiles = List.copyOf(new LinkedHashSet<>(weightMap.values()));
    this.metadataJson = metadataJson;
  }

  /**
   * Parses an index file's bytes; {@code file} names it in messages.
   *
   * @throws CheckpointFormatException INVALID_INDEX, DUPLICATE_KEY or INVALID_SHARD_NAME
   */
  public static ShardIndex parse(String file, byte[] json) throws CheckpointFormatException {
    CharBuffer chars;
    try {
      chars = Json.decodeUtf8(json);
    } catch (Json.InvalidUtf8Exception e) {
      throw new CheckpointFormatException(INVALID_INDEX, file, null, "not valid UTF-8 at byte " + e.offset, e);
    }
    Map<String, String> weightMap = null;
    String metadataJson = null;
    try (JsonParser p = Json.parser(chars)) {
      JsonToken first = p.nextToken();
      if (first != JsonToken.START_OBJECT) {
        throw new CheckpointFormatException(
            INVALID_INDEX, file, "top level is " + Json.describe(first) + ", not a JSON object");
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String key = p.currentName();
        JsonToken value = p.nextToken();
        if (key.equals("weight_map")) {
          weightMap = readWeightMap(file, p, value);
        } else if (key.equals("metadata")) {
          if (value != JsonToken.START_OBJECT) {
            throw new CheckpointFormatException(
                INVALID_INDEX, file, "metadata is " + Json.describe(value) + ", not an object");
          }
          metadataJson = MAPPER.writeValueAsString(MAPPER.readTree(p));
        } else {
          throw new CheckpointFormatException(
              INVALID_INDEX, file, "unexpected top-level key '" + key + "' (expected metadata, weight_map)");
        }
      }
      JsonToken after = p.nextToken();
      if (after != null) {
        throw new CheckpointFormatException(
            INVALID_INDEX, file, "has " + Json.describe(after) + " after the JSON object");
      }
    } catch (CheckpointFormatException e) {
      throw e;
    } catch (JsonProcessingException e) {
      throw jsonError(file, e);
    } catch (IOException e) {
      throw new UncheckedIOException("I/O error parsing in-memory " + file, e);
    }
    if (weightMap == null) {
      throw new CheckpointFormatException(INVALID_INDEX, file, "has no weight_map");
    }
    return new ShardIndex(file, weightMap, metadataJson);
  }

  private static Map<String, String> readWeightMap(String file, JsonParser p, JsonToken value)
      throws IOException {
    if (value != JsonToken.START_OBJECT) {
      throw new CheckpointFormatException(
          INVALID_INDEX, file, "weight_map is " + Json.describe(value) + ", not an object");
    }
    Map<String, String> weightMap = new LinkedHashMap<>();
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String tensor = p.currentName();
      JsonToken v = p.nextToken();
      if (v != JsonToken.VALUE_STRING) {
        throw new CheckpointFormatException(
            INVALID_INDEX, file, tensor, "weight_map value is " + Json.describe(v) + ", not a shard file name");
      }
      String shard = p.getText();
      String problem = shardNameProblem(shard);
      if (problem != null) {
        throw new CheckpointFormatException(
            INVALID_SHARD_NAME, file, tensor, "shard name '" + shard + "' " + problem);
      }
      weightMap.put(tensor, shard);
      if (weightMap.size() > SafetensorsReader.MAX_TENSORS) {
        throw new CheckpointFormatException(
            TOO_MANY_TENSORS, file,
            "weight_map lists more than " + SafetensorsReader.MAX_TENSORS
                + " tensors, the most a checkpoint may hold");
      }
    }
    return weightMap;
  }

  private static CheckpointFormatException jsonError(String file, JsonProcessingException e) {
    if (Json.isDuplicateKey(e) && e.getProcessor() instanceof JsonParser p) {
      String key = Json.duplicateKey(p);
      String parent = Json.duplicateKeyParent(p);
      if ("weight_map".equals(parent) && p.getParsingContext().getParent().getParent().inRoot()) {
        return new CheckpointFormatException(DUPLICATE_KEY, file, key, "appears twice in weight_map", e);
      }
      return new CheckpointFormatException(
          DUPLICATE_KEY, file, null,
          (parent == null ? "top level" : "'" + parent + "'") + " has key '" + key + "' twice", e);
    }
    long offset = e.getLocation() == null ? -1 : e.getLocation().getCharOffset();
    return new CheckpointFormatException(
        INVALID_INDEX, file, null,
        "not valid JSON" + (offset >= 0 ? " (at char " + offset + ")" : "") + ": " + e.getOriginalMessage(), e);
  }

  /** Why {@code shard} is not a plain file name, or null if it is one. */
  static String shardNameProblem(String shard) {
    if (shard.isEmpty()) {
      return "is empty";
    }
    if (shard.equals(".") || shard.equals("..")) {
      return "is not a file name";
    }
    if (shard.indexOf('/') >= 0 || shard.indexOf('\\') >= 0) {
      return "contains a path separator; shards must be plain file names next to the index";
    }
    if (shard.indexOf('\0') >= 0) {
      return "contains a NUL character";
    }
    return null;
  }

  /**
   * An index for writing.
   *
   * @param weightMap tensor name to shard file name, in the order to write
   * @param metadataJson a JSON object, or null for none
   * @throws IllegalArgumentException if a shard name is not a plain file name or
   *     {@code metadataJson} is not one JSON object
   */
  public static ShardIndex of(Map<String, String> weightMap, String metadataJson) {
    Map<String, String> copy = new LinkedHashMap<>();
    for (Map.Entry<String, String> e : weightMap.entrySet()) {
      String tensor = Objects.requireNonNull(e.getKey(), "tensor name");
      String shard = Objects.requireNonNull(e.getValue(), "shard name");
      String problem = shardNameProblem(shard);
      if (problem != null) {
        throw new IllegalArgumentException(
            "Cannot map tensor '" + tensor + "' to shard '" + shard + "': shard name " + problem);
      }
      copy.put(tensor, shard);
    }
    String normalized = null;
    if (metadataJson != null) {
      JsonNode node;
      try {
        node = MAPPER.reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).readTree(metadataJson);
      } catch (JsonProcessingException e) {
        throw new IllegalArgumentException("Cannot use metadata: not valid JSON: " + e.getOriginalMessage(), e);
      }
      if (node == null || !node.isObject()) {
        throw new IllegalArgumentException("Cannot use metadata: must be a JSON object, got " + metadataJson);
      }
      try {
        normalized = MAPPER.writeValueAsString(node);
      } catch (JsonProcessingException e) {
        throw new UncheckedIOException("Cannot write metadata to memory", e);
      }
    }
    return new ShardIndex(FILE_NAME, copy, normalized);
  }

  /** The index file as the user named it, for messages; {@value #FILE_NAME} for {@link #of}. */
  public String file() {
    return file;
  }

  /** Tensor name to shard file name, in file order. */
  public Map<String, String> weightMap() {
    return weightMap;
  }

  /** The distinct shard file names, in order of first appearance in the weight map. */
  public List<String> shardFiles() {
    return shardFiles;
  }

  /** The {@code metadata} object as compact JSON, or null if the index has none. */
  public String metadataJson() {
    return metadataJson;
  }

  /**
   * The index as JSON: {@code metadata} (if any) then {@code weight_map}, keys in order, 2-space
   * indented like Python's {@code json.dumps(indent=2)}, ending in a newline. Deterministic.
   */
  public byte[] toJson() {
    DefaultIndenter indenter = new DefaultIndenter("  ", "\n");
    DefaultPrettyPrinter printer =
        new DefaultPrettyPrinter()
            .withSeparators(
                Separators.createDefaultInstance()
                    .withObjectFieldValueSpacing(Separators.Spacing.AFTER)
                    .withObjectEmptySeparator("")
                    .withArrayEmptySeparator(""));
    printer.indentObjectsWith(indenter);
    printer.indentArraysWith(indenter);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (JsonGenerator g = Json.FACTORY.createGenerator(out)) {
      g.setPrettyPrinter(printer);
      g.writeStartObject();
      if (metadataJson != null) {
        g.writeFieldName("metadata");
        MAPPER.writeTree(g, MAPPER.readTree(metadataJson));
      }
      g.writeObjectFieldStart("weight_map");
      for (Map.Entry<String, String> e : weightMap.entrySet()) {
        g.writeStringField(e.getKey(), e.getValue());
      }
      g.writeEndObject();
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException("I/O error writing to memory", e);
    }
    out.write('\n');
    return out.toByteArray();
  }

  /**
   * Checks that the index and the shards' headers agree exactly.
   *
   * @param headersByShardName the headers of the shard files that exist, by file name
   * @throws CheckpointFormatException MISSING_SHARD if the index names a shard not in the map;
   *     TENSOR_IN_TWO_SHARDS if two shards hold the same tensor name; TENSOR_NOT_IN_SHARD if a
   *     shard lacks a tensor the index maps to it, or holds one the index does not map to it
   */
  public static void checkAgainstShards(ShardIndex index, Map<String, SafetensorsHeader> headersByShardName)
      throws CheckpointFormatException {
    String indexFile = index.file();
    Map<String, String> firstTensorOfShard = new LinkedHashMap<>();
    for (Map.Entry<String, String> e : index.weightMap().entrySet()) {
      firstTensorOfShard.putIfAbsent(e.getValue(), e.getKey());
    }
    for (Map.Entry<String, String> e : firstTensorOfShard.entrySet()) {
      if (!headersByShardName.containsKey(e.getKey())) {
        throw new CheckpointFormatException(
            MISSING_SHARD, indexFile, e.getValue(), "mapped to shard '" + e.getKey() + "', which does not exist");
      }
    }

    // Deterministic order whatever map the caller passed: index order, then unindexed shards by name.
    List<String> shards = new ArrayList<>(index.shardFiles());
    Set<String> extra = new TreeSet<>(headersByShardName.keySet());
    shards.forEach(extra::remove);
    shards.addAll(extra);

    Map<String, String> shardOfTensor = new LinkedHashMap<>();
    for (String shard : shards) {
      SafetensorsHeader header = headersByShardName.get(shard);
      for (TensorInfo t : header.tensors()) {
        String other = shardOfTensor.putIfAbsent(t.name(), shard);
        if (other != null) {
          throw new CheckpointFormatException(
              TENSOR_IN_TWO_SHARDS, header.file(), t.name(), "also in shard '" + other + "'");
        }
      }
    }
    for (Map.Entry<String, String> e : index.weightMap().entrySet()) {
      String tensor = e.getKey();
      String shard = e.getValue();
      if (headersByShardName.get(shard).tensor(tensor) == null) {
        String actual = shardOfTensor.get(tensor);
        throw new CheckpointFormatException(
            TENSOR_NOT_IN_SHARD, indexFile, tensor,
            "mapped to shard '" + shard + "', which does not hold it"
                + (actual == null ? "" : " (shard '" + actual + "' does)"));
      }
    }
    for (String shard : shards) {
      SafetensorsHeader header = headersByShardName.get(shard);
      for (TensorInfo t : header.tensors()) {
        String mapped = index.weightMap().get(t.name());
        if (!shard.equals(mapped)) {
          throw new CheckpointFormatException(
              TENSOR_NOT_IN_SHARD, header.file(), t.name(),
              mapped == null
                  ? "not listed in " + indexFile
                  : "listed in " + indexFile + " for shard '" + mapped + "', not '" + shard + "'");
        }
      }
    }
  }
}
