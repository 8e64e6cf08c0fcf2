package io.sparticle.format.onnx;

import static io.sparticle.format.CheckpointFormatException.Reason.INVALID_ONNX;

import io.sparticle.format.CheckpointFormatException;
import io.sparticle.io.RangeReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * A minimal reader of the protobuf wire format, for messages whose schema the caller knows.
 *
 * <p>It reads one message (or a sub-range of one) field by field: {@link #next()} reads a tag,
 * then the caller either reads the value with the method matching its wire type or
 * {@link #skip() skips} it. Length-delimited values are returned as a {@link Range} of absolute
 * file offsets, never copied, so a model's tensor payloads are located without being read; only
 * tags, lengths, scalars and the strings the caller asks for are touched.
 *
 * <p>The bytes come from a {@code byte[]} or from a {@link RangeReader} through a bounded
 * read-ahead window (one positioned read per window), so a multi-gigabyte file costs one read per
 * skipped payload, not one per byte and not the whole file. A reader and the sub-readers made by
 * {@link #message()} and {@link #slice(Range)} share that window: use one at a time, in file order
 * where possible.
 *
 * <p>Every malformed input is a {@link CheckpointFormatException} with reason
 * {@link CheckpointFormatException.Reason#INVALID_ONNX} naming the file, the byte offset and, once
 * the caller has set it with {@link #context(String)}, the tensor: a truncated or over-long varint,
 * a length past the end of the enclosing message, field number 0, the wire types 6 and 7 and the
 * group wire types 3 and 4 (deprecated proto2 groups, which ONNX does not use).
 *
 * <pre>{@code
 * ProtoReader model = ProtoReader.over("model.onnx", bytes);
 * while (model.next()) {
 *   if (model.fieldNumber() == 7 && model.wireType() == ProtoReader.LEN) {
 *     ProtoReader graph = model.message();
 *     ...
 *   } else {
 *     model.skip();
 *   }
 * }
 * }</pre>
 */
public final class ProtoReader {
  public static final int VARINT = 0;
  public static final int FIXED64 = 1;
  /** Length-delimited: strings, bytes, sub-messages, packed repeated scalars. */
  public static final int LEN = 2;
  public static final int START_GROUP = 3;
  public static final int END_GROUP = 4;
  public static final int FIXED32 = 5;

  /** Read-ahead window of {@link #over(String, RangeReader, long)}. */
  public static final int DEFAULT_WINDOW = 64 * 1024;

  /** A byte range {@code [offset, offset + length)} of the underlying file. */
  public record Range(long offset, long length) {
    public Range {
      if (offset < 0 || length < 0) {
        throw new IllegalArgumentException("Cannot create range: offset " + offset + ", length " + length);
      }
    }

    public long end() {
      return offset + length;
    }
  }

  private final Window window;
  private final long start;
  private final long end;
  private long pos;
  private String context;
  private long tagOffset = -1;
  private int fieldNumber;
  private int wireType = -1;

  private ProtoReader(Window window, long start, long end, String context) {
    this.window = window;
    this.start = start;
    this.end = end;
    this.pos = start;
    this.context = context;
  }

  /**
   * A reader of all of {@code bytes}, a message from a file named {@code file} (for messages). The
   * array is used as is, not copied: do not change it while reading.
   */
  public static ProtoReader over(String file, byte[] bytes) {
    Objects.requireNonNull(file, "file");
    return new ProtoReader(new Window(file, null, bytes.length, bytes), 0, bytes.length, null);
  }

  /** A reader of the first {@code length} bytes of {@code in}, with the default window. */
  public static ProtoReader over(String file, RangeReader in, long length) {
    return over(file, in, length, DEFAULT_WINDOW);
  }

  /**
   * A reader of the first {@code length} bytes of {@code in} (usually the whole file), reading
   * ahead at most {@code windowSize} bytes at a time. The caller keeps {@code in} open while the
   * reader is in use, and closes it.
   */
  public static ProtoReader over(String file, RangeReader in, long length, int windowSize) {
    Objects.requireNonNull(file, "file");
    Objects.requireNonNull(in, "in");
    if (length < 0 || windowSize < 16) {
      throw new IllegalArgumentException(
          "Cannot read " + file + ": length " + length + ", window " + windowSize + " (at least 16)");
    }
    return new ProtoReader(new Window(file, in, length, new byte[windowSize]), 0, length, null);
  }

  /** Names {@code tensor} in this reader's errors, and in those of sub-readers made from now on. */
  public ProtoReader context(String tensor) {
    this.context = tensor;
    return this;
  }

  /** The file named in errors. */
  public String file() {
    return window.file;
  }

  /** Absolute offset of the next byte to read. */
  public long position() {
    return pos;
  }

  /** Whether bytes remain before the end of this reader's range (e.g. of a packed field). */
  public boolean hasRemaining() {
    return pos < end;
  }

  /** The range this reader covers. */
  public Range range() {
    return new Range(start, end - start);
  }

  /**
   * Reads the next tag. Returns false at the end of this reader's range; the caller then reads or
   * {@link #skip()}s the field's value before calling {@code next()} again.
   */
  public boolean next() throws IOException {
    if (pos >= end) {
      wireType = -1;
      return false;
    }
    tagOffset = pos;
    long tag = readVarint();
    if (tag >>> 32 != 0) {
      throw error("tag " + Long.toUnsignedString(tag) + " at byte " + tagOffset + " exceeds 32 bits");
    }
    int wire = (int) (tag & 7);
    int number = (int) (tag >>> 3);
    if (number == 0) {
      throw error("field number 0 at byte " + tagOffset);
    }
    if (wire == START_GROUP || wire == END_GROUP) {
      throw error("field " + number + " at byte " + tagOffset + " has group wire type " + wire
              + " (proto2 groups are not used by ONNX and not supported)");
    }
    if (wire > FIXED32) {
      throw error("field " + number + " at byte " + tagOffset + " has invalid wire type " + wire);
    }
    fieldNumber = number;
    wireType = wire;
    return true;
  }

  /** Field number of the tag read by {@link #next()}. */
  public int fieldNumber() {
    return fieldNumber;
  }

  /** Wire type of the tag read by {@link #next()}. */
  public int wireType() {
    return wireType;
  }

  /** Absolute offset of the tag read by {@link #next()}. */
  public long tagOffset() {
    return tagOffset;
  }

  /**
   * Reads a base-128 varint of at most 10 bytes whose value fits 64 bits (as int64, uint64 and
   * the 10-byte sign extension of a negative int32 do).
   */
  public long readVarint() throws IOException {
    long at = pos;
    long value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= end) {
        throw error("truncated varint at byte " + at + ": " + boundName() + " ends at byte " + end);
      }
      int b = window.get(pos++);
      // The tenth byte carries only bit 63; anything more (or an eleventh byte) overflows.
      if (shift == 63 && (b & 0xFE) != 0) {
        throw error("varint at byte " + at + " overflows 64 bits");
      }
      value |= (long) (b & 0x7F) << shift;
      if ((b & 0x80) == 0) {
        return value;
      }
    }
    throw error("varint at byte " + at + " overflows 64 bits");
  }

  /** Reads a little-endian 32-bit value (fixed32, sfixed32, float). */
  public int readFixed32() throws IOException {
    checkAvailable(4, "fixed32");
    int v = 0;
    for (int i = 0; i < 4; i++) {
      v |= (window.get(pos++) & 0xFF) << (8 * i);
    }
    return v;
  }

  /** Reads a little-endian 64-bit value (fixed64, sfixed64, double). */
  public long readFixed64() throws IOException {
    checkAvailable(8, "fixed64");
    long v = 0;
    for (int i = 0; i < 8; i++) {
      v |= (long) (window.get(pos++) & 0xFF) << (8 * i);
    }
    return v;
  }

  /**
   * Reads a length prefix and returns the range of the value that follows, without reading it;
   * the reader moves past the value.
   */
  public Range readLengthDelimited() throws IOException {
    long at = pos;
    long length = readVarint();
    // Protobuf lengths are at most 2^31 - 1; an unsigned 64-bit value above Long.MAX_VALUE reads
    // as negative here and is past the end either way.
    if (length < 0 || length > end - pos) {
      throw error("length " + Long.toUnsignedString(length) + " at byte " + at + " runs past the end of the "
              + boundName() + " (" + (end - pos) + " bytes left before byte " + end + ")");
    }
    Range r = new Range(pos, length);
    pos += length;
    return r;
  }

  /** Reads a length-delimited field as a sub-message reader; this reader moves past it. */
  public ProtoReader message() throws IOException {
    return slice(readLengthDelimited());
  }

  /** A reader of {@code range}, which must lie within this reader's range (e.g. a packed field). */
  public ProtoReader slice(Range range) {
    if (range.offset() < start || range.end() > end) {
      throw new IllegalArgumentException(
          "Cannot slice " + range + " out of [" + start + ", " + end + ") of " + window.file);
    }
    return new ProtoReader(window, range.offset(), range.end(), context);
  }

  /**
   * Reads a length-delimited field as strict UTF-8.
   *
   * @param maxBytes longest string accepted, to bound the allocation for untrusted lengths
   */
  public String readString(int maxBytes) throws IOException {
    Range r = readLengthDelimited();
    if (r.length() > maxBytes) {
      throw error("string at byte " + r.offset() + " is " + r.length() + " bytes, more than " + maxBytes);
    }
    byte[] bytes = new byte[(int) r.length()];
    window.read(r.offset(), bytes);
    try {
      return StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes))
          .toString();
    } catch (CharacterCodingException e) {
      throw new CheckpointFormatException(
          INVALID_ONNX, window.file, context, "string at byte " + r.offset() + " is not valid UTF-8", e);
    }
  }

  /** Skips the value of the field whose tag {@link #next()} just read. */
  public void skip() throws IOException {
    switch (wireType) {
      case VARINT -> readVarint();
      case FIXED64 -> {
        checkAvailable(8, "fixed64");
        pos += 8;
      }
      case LEN -> readLengthDelimited();
      case FIXED32 -> {
        checkAvailable(4, "fixed32");
        pos += 4;
      }
      default -> throw new IllegalStateException("Cannot skip: no field tag was read");
    }
  }

  /**
   * Checks that the current field has wire type {@code expected}; {@code what} names the field in
   * the message, e.g. {@code "TensorProto.name"}.
   */
  public void expectWireType(int expected, String what) throws CheckpointFormatException {
    if (wireType != expected) {
      throw error(what + " (field " + fieldNumber + ") at byte " + tagOffset + " has wire type " + wireType
              + ", expected " + expected);
    }
  }

  /** An {@code INVALID_ONNX} error about this reader's file and context tensor. */
  public CheckpointFormatException error(String detail) {
    return new CheckpointFormatException(INVALID_ONNX, window.file, context, detail);
  }

  private void checkAvailable(int n, String what) throws CheckpointFormatException {
    if (end - pos < n) {
      throw error("truncated " + what + " at byte " + pos + ": " + boundName() + " ends at byte " + end);
    }
  }

  private String boundName() {
    return end == window.length && start == 0 ? "file" : "enclosing message";
  }

  /** The bytes of a file: all of them (array) or a read-ahead window over a RangeReader. */
  private static final class Window {
    final String file;
    final RangeReader in;
    final long length;
    final byte[] buf;
    long bufStart;
    int bufLength;

    Window(String file, RangeReader in, long length, byte[] buf) {
      this.file = file;
      this.in = in;
      this.length = length;
      this.buf = buf;
      this.bufLength = in == null ? buf.length : 0;
    }

    /** The byte at {@code pos}, which the caller has checked is below {@code length}. */
    int get(long pos) throws IOException {
      long i = pos - bufStart;
      if (i < 0 || i >= bufLength) {
        fill(pos);
        i = 0;
      }
      return buf[(int) i];
    }

    void read(long pos, byte[] dst) throws IOException {
      long i = pos - bufStart;
      if (i >= 0 && i + dst.length <= bufLength) {
        System.arraycopy(buf, (int) i, dst, 0, dst.length);
      } else if (dst.length <= buf.length) {
        fill(pos);
        System.arraycopy(buf, 0, dst, 0, dst.length);
      } else {
        in.readFully(pos, dst, 0, dst.length);
      }
    }

    private void fill(long pos) throws IOException {
      // Only a RangeReader-backed window refills: an array window covers every valid position.
      bufStart = pos;
      bufLength = (int) Math.min(buf.length, length - pos);
      in.readFully(pos, buf, 0, bufLength);
    }
  }
}
