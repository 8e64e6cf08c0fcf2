package io.sparticle.format;

import static io.sparticle.format.CheckpointFormatException.Reason.*;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import io.sparticle.format.CheckpointFormatException.Reason;
import io.sparticle.io.InputFile;
import io.sparticle.io.RangeReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads and validates safetensors headers.
 *
 * <p>A safetensors file is an 8-byte little-endian unsigned header length {@code n}, then
 * {@code n} bytes of UTF-8 JSON (possibly padded with trailing spaces), then the data section.
 * The JSON maps each tensor name to {@code {"dtype", "shape", "data_offsets": [begin, end]}},
 * offsets relative to the data section, plus an optional {@code "__metadata__"} object of strings.
 *
 * <p>Validation follows the reference reader ({@code safetensors/src/tensor.rs}) and is stricter
 * where it is silent: every tensor must be exactly the bytes its shape and dtype need, the
 * tensors must tile the data section with no overlap and no gap, and the file must end where the
 * last tensor does. Any violation is a {@link CheckpointFormatException} naming the file, the
 * tensor, and the offsets.
 *
 * <pre>{@code
 * SafetensorsHeader header = SafetensorsReader.readHeader(new LocalInputFile(path));
 * TensorInfo w = header.tensor("layers.0.mlp.up_proj.weight");
 * }</pre>
 */
public final class SafetensorsReader {
  /** Largest header accepted, as in the reference reader: bounds the allocation for the JSON. */
  public static final long MAX_HEADER_LENGTH = 100_000_000L;

  /**
   * Most tensors a checkpoint may hold, all its files together. The largest published
   * checkpoints hold about 10^5 (mixtures of experts with per-block scales); a 100 MB header can
   * list 1.5 million one-element tensors, and every tensor costs the driver a few kilobytes
   * (plan, task descriptions, manifest entry). Counted while parsing, so a header over the limit
   * fails after reading at most this many entries.
   */
  public static final int MAX_TENSORS = 500_000;

  static final String METADATA_KEY = "__metadata__";
  private static final int PREFIX_LENGTH = 8;

  private SafetensorsReader() {}

  /**
   * Reads and validates the header of {@code file}. Reads only the prefix and the header, with
   * positioned reads; never the data section.
   */
  public static SafetensorsHeader readHeader(InputFile file) throws IOException {
    String path = file.path();
    long fileLength = file.length();
    checkFileLength(path, fileLength);
    try (RangeReader in = file.open()) {
      byte[] prefix = new byte[PREFIX_LENGTH];
      in.readFully(0, prefix, 0, PREFIX_LENGTH);
      long headerLength = ByteBuffer.wrap(prefix).order(ByteOrder.LITTLE_ENDIAN).getLong();
      // Bound the declared length before allocating for it: the prefix is untrusted.
      checkHeaderLength(path, fileLength, headerLength);
      byte[] json = new byte[(int) headerLength];
      in.readFully(PREFIX_LENGTH, json, 0, json.length);
      return parse(path, fileLength, headerLength, json);
    }
  }

  /**
   * Validates a header already read: {@code headerJson} holds the {@code headerLength} bytes that
   * follow the 8-byte prefix of a file of {@code fileLength} bytes named {@code file}.
   *
   * @throws IllegalArgumentException if {@code headerJson.length != headerLength}
   */
  public static SafetensorsHeader parse(String file, long fileLength, long headerLength, byte[] headerJson)
      throws CheckpointFormatException {
    checkFileLength(file, fileLength);
    checkHeaderLength(file, fileLength, headerLength);
    if (headerJson.length != headerLength) {
      throw new IllegalArgumentException(
          "Cannot parse header of " + file + ": got " + headerJson.length + " bytes, header length is "
              + headerLength);
    }
    long dataStart = PREFIX_LENGTH + headerLength;
    long dataLength = fileLength - dataStart;

    CharBuffer chars;
    try {
      chars = Json.decodeUtf8(headerJson);
    } catch (Json.InvalidUtf8Exception e) {
      throw new CheckpointFormatException(
          HEADER_NOT_UTF8, file, null,
          "header is not valid UTF-8 at byte " + e.offset + " of the header (file offset "
              + (PREFIX_LENGTH + e.offset) + ")",
          e);
    }

    Map<String, String> metadata = new LinkedHashMap<>();
    List<TensorInfo> tensors = new ArrayList<>();
    Map<String, TensorInfo> byName = new HashMap<>();
    try (JsonParser p = Json.parser(chars)) {
      JsonToken first = p.nextToken();
      if (first == null) {
        throw new CheckpointFormatException(HEADER_NOT_JSON, file, "header is empty or only whitespace");
      }
      if (first != JsonToken.START_OBJECT) {
        throw new CheckpointFormatException(
            HEADER_NOT_OBJECT, file, "header is " + Json.describe(first) + ", not a JSON object");
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String key = p.currentName();
        JsonToken value = p.nextToken();
        if (METADATA_KEY.equals(key)) {
          readMetadata(file, p, value, metadata);
        } else {
          TensorInfo info = readEntry(file, p, key, value);
          tensors.add(info);
          byName.put(key, info);
          if (tensors.size() > MAX_TENSORS) {
            throw new CheckpointFormatException(
                TOO_MANY_TENSORS, file,
                "header lists more than " + MAX_TENSORS + " tensors, the most a checkpoint may hold");
          }
        }
      }
      // The loop ended on the object's END_OBJECT (Jackson throws on anything else). The
      // reference writer pads with spaces, which the parser skips as whitespace.
      JsonToken after = p.nextToken();
      if (after != null) {
        throw new CheckpointFormatException(
            HEADER_NOT_JSON, file,
            "header has " + Json.describe(after) + " after the JSON object, where only whitespace may follow");
      }
    } catch (CheckpointFormatException e) {
      throw e;
    } catch (JsonProcessingException e) {
      throw jsonError(file, e);
    } catch (IOException e) {
      throw new UncheckedIOException("I/O error parsing an in-memory header of " + file, e);
    }

    checkLayout(file, tensors, dataLength, dataStart, fileLength);
    return new SafetensorsHeader(file, headerLength, fileLength, metadata, tensors, byName);
  }

  private static void checkFileLength(String file, long fileLength) throws CheckpointFormatException {
    if (fileLength < PREFIX_LENGTH) {
      throw new CheckpointFormatException(
          FILE_TOO_SHORT, file, "file is " + fileLength + " bytes, too short for the 8-byte header length");
    }
  }

  private static void checkHeaderLength(String file, long fileLength, long headerLength)
      throws CheckpointFormatException {
    // The prefix is an unsigned 64-bit value: a negative long is beyond 2^63.
    if (headerLength < 0 || headerLength > MAX_HEADER_LENGTH) {
      throw new CheckpointFormatException(
          HEADER_TOO_LARGE, file,
          "header length " + Long.toUnsignedString(headerLength) + " exceeds the limit of "
              + MAX_HEADER_LENGTH + " bytes");
    }
    if (headerLength > fileLength - PREFIX_LENGTH) {
      throw new CheckpointFormatException(
          HEADER_PAST_EOF, file,
          "header length " + headerLength + " runs past the end of the file: 8 + " + headerLength + " > "
              + fileLength + " bytes");
    }
  }

  private static CheckpointFormatException jsonError(String file, JsonProcessingException e) {
    String detail = e.getOriginalMessage();
    if (Json.isDuplicateKey(e) && e.getProcessor() instanceof JsonParser p) {
      String key = Json.duplicateKey(p);
      String parent = Json.duplicateKeyParent(p);
      if (parent == null) {
        return METADATA_KEY.equals(key)
            ? new CheckpointFormatException(DUPLICATE_KEY, file, null, METADATA_KEY + " appears twice", e)
            : new CheckpointFormatException(DUPLICATE_KEY, file, key, "appears twice in the header", e);
      }
      if (METADATA_KEY.equals(parent)) {
        return new CheckpointFormatException(
            DUPLICATE_KEY, file, null, METADATA_KEY + " has key '" + key + "' twice", e);
      }
      return new CheckpointFormatException(DUPLICATE_KEY, file, parent, "field '" + key + "' appears twice", e);
    }
    long offset = e.getLocation() == null ? -1 : e.getLocation().getCharOffset();
    return new CheckpointFormatException(
        HEADER_NOT_JSON, file, null,
        "header is not valid JSON" + (offset >= 0 ? " (at char " + offset + ")" : "") + ": " + detail, e);
  }

  /** Reads {@code __metadata__}: absent, null (as the reference reader allows), or strings. */
  private static void readMetadata(String file, JsonParser p, JsonToken value, Map<String, String> metadata)
      throws IOException {
    if (value == JsonToken.VALUE_NULL) {
      return;
    }
    if (value != JsonToken.START_OBJECT) {
      throw new CheckpointFormatException(
          INVALID_METADATA, file, METADATA_KEY + " is " + Json.describe(value) + ", not an object");
    }
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String key = p.currentName();
      JsonToken v = p.nextToken();
      if (v != JsonToken.VALUE_STRING) {
        throw new CheckpointFormatException(
            INVALID_METADATA, file,
            METADATA_KEY + " value of '" + key + "' is " + Json.describe(v) + ", not a string");
      }
      metadata.put(key, p.getText());
    }
  }

  private static TensorInfo readEntry(String file, JsonParser p, String name, JsonToken value)
      throws IOException {
    if (value != JsonToken.START_OBJECT) {
      throw new CheckpointFormatException(
          INVALID_TENSOR_ENTRY, file, name, "entry is " + Json.describe(value) + ", not an object");
    }
    DType dtype = null;
    long[] shape = null;
    long[] offsets = null;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String field = p.currentName();
      JsonToken v = p.nextToken();
      switch (field) {
        case "dtype":
          if (v != JsonToken.VALUE_STRING) {
            throw new CheckpointFormatException(
                INVALID_TENSOR_ENTRY, file, name, "dtype is " + Json.describe(v) + ", not a string");
          }
          String dtypeName = p.getText();
          dtype = DType.fromName(dtypeName).orElse(null);
          if (dtype == null) {
            throw new CheckpointFormatException(
                UNKNOWN_DTYPE, file, name,
                "unknown dtype '" + dtypeName + "' (known: " + Arrays.toString(DType.values()) + ")");
          }
          break;
        case "shape":
          shape = readIndexArray(file, p, name, "shape", v, NEGATIVE_DIMENSION);
          break;
        case "data_offsets":
          offsets = readIndexArray(file, p, name, "data_offsets", v, INVALID_OFFSETS);
          if (offsets.length != 2) {
            throw new CheckpointFormatException(
                INVALID_TENSOR_ENTRY, file, name,
                "data_offsets has " + offsets.length + " elements, not 2 [begin, end]");
          }
          break;
        default:
          throw new CheckpointFormatException(
              INVALID_TENSOR_ENTRY, file, name,
              "unexpected field '" + field + "' (expected only dtype, shape, data_offsets)");
      }
    }
    String missing = dtype == null ? "dtype" : shape == null ? "shape" : offsets == null ? "data_offsets" : null;
    if (missing != null) {
      throw new CheckpointFormatException(INVALID_TENSOR_ENTRY, file, name, "entry has no '" + missing + "'");
    }

    long begin = offsets[0];
    long end = offsets[1];
    String range = "data_offsets [" + begin + ", " + end + "]";
    if (begin > end) {
      throw new CheckpointFormatException(INVALID_OFFSETS, file, name, range + " begin after they end");
    }
    long needed;
    try {
      needed = Math.multiplyExact(TensorInfo.numel(shape), dtype.byteSize());
    } catch (ArithmeticException e) {
      throw new CheckpointFormatException(
          SIZE_OVERFLOW, file, name,
          "shape " + Arrays.toString(shape) + " of " + dtype + " needs more bytes than fit in a long");
    }
    if (end - begin != needed) {
      throw new CheckpointFormatException(
          SIZE_MISMATCH, file, name,
          range + " hold " + (end - begin) + " bytes but shape " + Arrays.toString(shape) + " of " + dtype
              + " needs " + needed);
    }
    return new TensorInfo(name, dtype, shape, begin, end);
  }

  /**
   * Reads an array of non-negative integers that fit a long; a negative one is {@code negative},
   * anything else (fraction, exponent form, string, huge) is an invalid entry.
   */
  private static long[] readIndexArray(
      String file, JsonParser p, String name, String field, JsonToken start, Reason negative)
      throws IOException {
    if (start != JsonToken.START_ARRAY) {
      throw new CheckpointFormatException(
          INVALID_TENSOR_ENTRY, file, name, field + " is " + Json.describe(start) + ", not an array");
    }
    long[] values = new long[4];
    int n = 0;
    JsonToken v;
    while ((v = p.nextToken()) != JsonToken.END_ARRAY) {
      if (v != JsonToken.VALUE_NUMBER_INT) {
        String what = v == JsonToken.VALUE_NUMBER_FLOAT ? "non-integer value " + p.getText() : Json.describe(v);
        throw new CheckpointFormatException(
            INVALID_TENSOR_ENTRY, file, name, field + " has " + what + " at index " + n + ", not an integer");
      }
      if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
        if (p.getBigIntegerValue().signum() < 0) {
          throw new CheckpointFormatException(
              negative, file, name, field + " has negative value " + p.getText() + " at index " + n);
        }
        throw new CheckpointFormatException(
            INVALID_TENSOR_ENTRY, file, name,
            field + " has value " + p.getText() + " at index " + n + ", beyond the range of a long");
      }
      long value = p.getLongValue();
      if (value < 0) {
        throw new CheckpointFormatException(
            negative, file, name, field + " has negative value " + value + " at index " + n);
      }
      if (n == values.length) {
        values = Arrays.copyOf(values, 2 * n);
      }
      values[n++] = value;
    }
    return Arrays.copyOf(values, n);
  }

  /** The tensors, sorted by offset, must tile the data section exactly. */
  private static void checkLayout(
      String file, List<TensorInfo> tensors, long dataLength, long dataStart, long fileLength)
      throws CheckpointFormatException {
    // Sorting by (begin, end) is stable, so zero-sized tensors sharing an offset keep header order
    // and precede the tensor that starts there.
    tensors.sort(
        (a, b) -> a.begin() != b.begin() ? Long.compare(a.begin(), b.begin()) : Long.compare(a.end(), b.end()));
    long expected = 0;
    TensorInfo previous = null;
    for (TensorInfo t : tensors) {
      String range = "data_offsets [" + t.begin() + ", " + t.end() + "]";
      if (t.begin() < expected) {
        throw new CheckpointFormatException(
            OVERLAPPING_TENSORS, file, t.name(),
            range + " overlap tensor '" + previous.name() + "' at [" + previous.begin() + ", " + previous.end()
                + "]");
      }
      if (t.begin() > expected) {
        throw new CheckpointFormatException(
            GAP_BETWEEN_TENSORS, file, t.name(),
            previous == null
                ? range + " leave bytes [0, " + t.begin() + ") at the start of the data section unused"
                : range + " leave bytes [" + expected + ", " + t.begin() + ") unused after tensor '"
                    + previous.name() + "'");
      }
      if (t.end() > dataLength) {
        throw new CheckpointFormatException(
            DATA_PAST_EOF, file, t.name(),
            range + " end past the data section, which holds " + dataLength + " bytes (file is " + fileLength
                + " bytes, data starts at " + dataStart + ")");
      }
      expected = t.end();
      previous = t;
    }
    if (expected < dataLength) {
      throw new CheckpointFormatException(
          TRAILING_BYTES, file,
          "data section holds " + dataLength + " bytes but the tensors cover only " + expected
              + " (file is " + fileLength + " bytes, data starts at " + dataStart + ")");
    }
  }
}
