package io.sparticle.format;

import java.io.IOException;
import java.util.Objects;

/**
 * A checkpoint file (safetensors shard, shard index, ONNX model, or our compressed output) is
 * malformed.
 *
 * <p>The message always names the file, and the tensor when one applies:
 * {@code "<file>: tensor '<name>': <detail>"} or {@code "<file>: <detail>"}. Callers branch on
 * {@link #reason()}, never on the message.
 *
 * <pre>{@code
 * try {
 *   SafetensorsHeader header = SafetensorsReader.readHeader(file);
 * } catch (CheckpointFormatException e) {
 *   if (e.reason() == CheckpointFormatException.Reason.DATA_PAST_EOF) { ... truncated upload ... }
 * }
 * }</pre>
 */
public class CheckpointFormatException extends IOException {
  private static final long serialVersionUID = 1L;

  /** What is wrong, roughly in the order the safetensors reference reader checks it. */
  public enum Reason {
    /** The file is shorter than the 8-byte header length prefix. */
    FILE_TOO_SHORT,
    /** The declared header length exceeds {@link SafetensorsReader#MAX_HEADER_LENGTH}. */
    HEADER_TOO_LARGE,
    /** {@code 8 + headerLength} is past the end of the file. */
    HEADER_PAST_EOF,
    HEADER_NOT_UTF8,
    /** The header is not one JSON value followed only by whitespace. */
    HEADER_NOT_JSON,
    HEADER_NOT_OBJECT,
    /**
     * A JSON object has the same key twice (tensor name, metadata key or entry field), or two ONNX
     * initializers have the same name.
     */
    DUPLICATE_KEY,
    /** {@code __metadata__} is not an object of string to string. */
    INVALID_METADATA,
    /** A tensor entry is not {@code {dtype: string, shape: [ints], data_offsets: [int, int]}}. */
    INVALID_TENSOR_ENTRY,
    UNKNOWN_DTYPE,
    NEGATIVE_DIMENSION,
    /** The tensor's element count or byte size overflows a long. */
    SIZE_OVERFLOW,
    /** {@code end - begin != numel * byteSize}. */
    SIZE_MISMATCH,
    /** An offset is negative, or {@code begin > end}. */
    INVALID_OFFSETS,
    OVERLAPPING_TENSORS,
    GAP_BETWEEN_TENSORS,
    /** A tensor ends past the end of the file. */
    DATA_PAST_EOF,
    /** The data section is longer than the tensors cover. */
    TRAILING_BYTES,
    /**
     * A header, index or checkpoint lists more than {@link SafetensorsReader#MAX_TENSORS}
     * tensors.
     */
    TOO_MANY_TENSORS,
    /** {@code model.safetensors.index.json} is malformed. */
    INVALID_INDEX,
    /** The shard index maps a tensor to something that is not a plain file name. */
    INVALID_SHARD_NAME,
    /** The shard index names a shard file that does not exist. */
    MISSING_SHARD,
    TENSOR_IN_TWO_SHARDS,
    /** The index and a shard's header disagree about which tensors the shard holds. */
    TENSOR_NOT_IN_SHARD,
    /** A weight is NaN or infinite, so it cannot be quantized. */
    NON_FINITE_VALUE,
    /** Our own compressed format is malformed. */
    INVALID_COMPRESSED,
    /**
     * A compressed checkpoint is not what compressing the given input gives ({@code verify
     * --against}): a tensor missing, extra, of another dtype or shape, or with other bytes or codes.
     */
    DOES_NOT_MATCH_INPUT,
    /**
     * An ONNX model is not well-formed protobuf (truncated varint, length past the end, bad wire
     * type, a known field with the wrong wire type) or breaks an ONNX rule we rely on (an
     * initializer without a name, or with more than one data field).
     */
    INVALID_ONNX,
    /**
     * An ONNX initializer's {@code external_data} is unusable: no or bad {@code location}, a
     * non-numeric {@code offset}/{@code length}, or a location that is not a plain file name.
     */
    INVALID_EXTERNAL_DATA,
    /** An ONNX initializer's external data file does not exist. */
    MISSING_EXTERNAL_FILE,
    /** An ONNX initializer with elements has no data field at all. */
    NO_TENSOR_DATA
  }

  private final Reason reason;
  private final String file;
  private final String tensor;

  /** An error about the file as a whole. */
  public CheckpointFormatException(Reason reason, String file, String detail) {
    this(reason, file, null, detail, null);
  }

  /** An error about one tensor; {@code tensor} may be null when none applies. */
  public CheckpointFormatException(Reason reason, String file, String tensor, String detail) {
    this(reason, file, tensor, detail, null);
  }

  /** As above, keeping the underlying parse or decoding error as the cause. */
  public CheckpointFormatException(
      Reason reason, String file, String tensor, String detail, Throwable cause) {
    super(message(file, tensor, detail), cause);
    this.reason = Objects.requireNonNull(reason, "reason");
    this.file = Objects.requireNonNull(file, "file");
    this.tensor = tensor;
  }

  private static String message(String file, String tensor, String detail) {
    return tensor == null ? file + ": " + detail : file + ": tensor '" + tensor + "': " + detail;
  }

  public Reason reason() {
    return reason;
  }

  /** The file as the user named it. */
  public String file() {
    return file;
  }

  /** The tensor the error is about, or null. */
  public String tensor() {
    return tensor;
  }
}
