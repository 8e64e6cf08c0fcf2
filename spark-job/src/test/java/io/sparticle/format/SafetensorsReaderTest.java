package io.sparticle.format;

import static io.sparticle.format.CheckpointFormatException.Reason.*;
import static org.junit.jupiter.api.Assertions.*;

import io.sparticle.format.CheckpointFormatException.Reason;
import io.sparticle.io.InputFile;
import io.sparticle.io.LocalInputFile;
import io.sparticle.io.RangeReader;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsReaderTest {
  private static final String FILE = "model-00001-of-00002.safetensors";

  @TempDir Path dir;

  // ---- helpers: build files byte by byte ----

  private static byte[] prefix(long headerLength) {
    return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(headerLength).array();
  }

  /** Prefix, then {@code header} as raw bytes, then {@code dataLength} data bytes. */
  private static byte[] file(byte[] header, int dataLength) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(prefix(header.length));
    out.writeBytes(header);
    for (int i = 0; i < dataLength; i++) {
      out.write(i);
    }
    return out.toByteArray();
  }

  /** A prefix declaring {@code declaredLength}, followed by {@code following} bytes. */
  private static byte[] declared(long declaredLength, int following) {
    return ByteBuffer.allocate(8 + following).order(ByteOrder.LITTLE_ENDIAN).putLong(declaredLength).array();
  }

  private static SafetensorsHeader parse(byte[] header, long dataLength) throws CheckpointFormatException {
    return SafetensorsReader.parse(FILE, 8 + header.length + dataLength, header.length, header);
  }

  private static SafetensorsHeader parse(String json, long dataLength) throws CheckpointFormatException {
    return parse(json.getBytes(StandardCharsets.UTF_8), dataLength);
  }

  /** A header with one tensor entry {@code entry} named {@code w}. */
  private static String one(String entry) {
    return "{\"w\":" + entry + "}";
  }

  private static CheckpointFormatException fails(Reason reason, String tensor, String json, long dataLength) {
    return fails(reason, tensor, json.getBytes(StandardCharsets.UTF_8), dataLength);
  }

  private static CheckpointFormatException fails(Reason reason, String tensor, byte[] header, long dataLength) {
    CheckpointFormatException e =
        assertThrows(CheckpointFormatException.class, () -> parse(header, dataLength));
    assertNamed(e, reason, FILE, tensor);
    return e;
  }

  static void assertNamed(CheckpointFormatException e, Reason reason, String file, String tensor) {
    assertEquals(reason, e.reason(), e.getMessage());
    assertEquals(file, e.file());
    assertEquals(tensor, e.tensor());
    String expectedStart = tensor == null ? file + ": " : file + ": tensor '" + tensor + "': ";
    assertTrue(e.getMessage().startsWith(expectedStart), e.getMessage());
    assertTrue(e.getMessage().length() > expectedStart.length(), e.getMessage());
  }

  private Path write(byte[] bytes) throws Exception {
    Path path = dir.resolve(FILE);
    Files.write(path, bytes);
    return path;
  }

  private CheckpointFormatException readFails(Reason reason, byte[] bytes) throws Exception {
    Path path = write(bytes);
    CheckpointFormatException e =
        assertThrows(
            CheckpointFormatException.class, () -> SafetensorsReader.readHeader(new LocalInputFile(path)));
    assertNamed(e, reason, path.toString(), null);
    return e;
  }

  // ---- hand-made example ----

  @Test
  void handMadeExample() throws Exception {
    String json =
        "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"é\"},"
            + "\"b.bias\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[24,28]},"
            + "\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
            + "\"scalar\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[28,36]}}";
    byte[] jsonBytes = (json + "   \n").getBytes(StandardCharsets.UTF_8);
    Path path = write(file(jsonBytes, 36));

    SafetensorsHeader h = SafetensorsReader.readHeader(new LocalInputFile(path));
    assertEquals(path.toString(), h.file());
    assertEquals(jsonBytes.length, h.headerLength());
    assertEquals(8 + jsonBytes.length, h.dataStart());
    assertEquals(8 + jsonBytes.length + 36, h.fileLength());
    assertEquals(Map.of("format", "pt", "note", "é"), h.metadata());
    assertEquals(List.of("format", "note"), List.copyOf(h.metadata().keySet()));

    List<TensorInfo> ts = h.tensors();
    assertEquals(3, ts.size());
    assertEquals(new TensorInfo("a.weight", DType.F32, new long[] {2, 3}, 0, 24), ts.get(0));
    assertEquals(new TensorInfo("b.bias", DType.F16, new long[] {2}, 24, 28), ts.get(1));
    assertEquals(new TensorInfo("scalar", DType.I64, new long[] {}, 28, 36), ts.get(2));

    TensorInfo b = h.tensor("b.bias");
    assertSame(ts.get(1), b);
    assertEquals(2, b.numel());
    assertEquals(4, b.byteLength());
    assertEquals(1, b.rank());
    assertEquals(h.dataStart() + 24, h.absoluteOffset(b));
    TensorInfo scalar = h.tensor("scalar");
    assertEquals(0, scalar.rank());
    assertEquals(1, scalar.numel());
    assertNull(h.tensor("missing"));
    assertNull(h.tensor("__metadata__"));
    assertThrows(UnsupportedOperationException.class, () -> h.tensors().clear());
    assertThrows(UnsupportedOperationException.class, () -> h.metadata().clear());

    SafetensorsHeader parsed = SafetensorsReader.parse(FILE, h.fileLength(), h.headerLength(), jsonBytes);
    assertEquals(h.tensors(), parsed.tensors());
    assertEquals(FILE, parsed.file());
  }

  @Test
  void emptyHeaderWithoutTensorsIsLegal() throws Exception {
    SafetensorsHeader h = parse("{}      ", 0);
    assertTrue(h.tensors().isEmpty());
    assertTrue(h.metadata().isEmpty());
    assertEquals(16, h.dataStart());
  }

  @Test
  void zeroSizedTensorsAreLegal() throws Exception {
    SafetensorsHeader h =
        parse(
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                + "\"z1\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[16,16]},"
                + "\"z2\":{\"dtype\":\"BF16\",\"shape\":[3,0],\"data_offsets\":[16,16]},"
                + "\"y\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[16,18]},"
                + "\"z0\":{\"dtype\":\"I8\",\"shape\":[0],\"data_offsets\":[0,0]}}",
            18);
    assertEquals(
        List.of("z0", "x", "z1", "z2", "y"), h.tensors().stream().map(TensorInfo::name).toList());
    assertEquals(0, h.tensor("z1").numel());
  }

  @Test
  void nullMetadataIsAbsentAsInTheReferenceReader() throws Exception {
    assertTrue(parse("{\"__metadata__\":null}", 0).metadata().isEmpty());
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS) // guards against quadratic behavior, not a benchmark
  void parsesHeaderWith200000Tensors() throws Exception {
    int n = 200_000;
    StringBuilder json = new StringBuilder("{");
    // Reverse offset order so the sort has work to do.
    for (int i = 0; i < n; i++) {
      long begin = 2L * (n - 1 - i);
      if (i > 0) {
        json.append(',');
      }
      json.append("\"t.").append(i).append("\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[")
          .append(begin).append(',').append(begin + 2).append("]}");
    }
    json.append('}');
    SafetensorsHeader h = parse(json.toString(), 2L * n);
    assertEquals(n, h.tensors().size());
    assertEquals("t." + (n - 1), h.tensors().get(0).name());
    assertEquals(2L * n - 2, h.tensor("t.0").begin());
  }

  // ---- one test per rule ----

  @Test
  void fileShorterThanPrefix() throws Exception {
    CheckpointFormatException e = readFails(FILE_TOO_SHORT, new byte[] {1, 0, 0, 0, 0});
    assertTrue(e.getMessage().contains("5 bytes"), e.getMessage());
  }

  @Test
  void emptyFile() throws Exception {
    readFails(FILE_TOO_SHORT, new byte[0]);
  }

  @Test
  void headerLengthAboveLimit() throws Exception {
    readFails(HEADER_TOO_LARGE, declared(SafetensorsReader.MAX_HEADER_LENGTH + 1, 16));
  }

  @Test
  void hugeDeclaredHeaderLengthIsRejectedBeforeAllocating() throws Exception {
    // 2^62 truncates to 0 as an int, so the bound must be checked on the long value.
    CheckpointFormatException e = readFails(HEADER_TOO_LARGE, declared(1L << 62, 0));
    assertTrue(e.getMessage().contains(Long.toString(1L << 62)), e.getMessage());
    // An unsigned prefix beyond 2^63 reads as a negative long; the message shows it unsigned.
    e = readFails(HEADER_TOO_LARGE, declared(-1L, 0));
    assertTrue(e.getMessage().contains("18446744073709551615"), e.getMessage());
  }

  @Test
  void declaredLengthIsBoundedBeforeReadingTheHeader() {
    // A huge (claimed) file whose prefix declares 150 MB: only the prefix may be read.
    long declared = 150_000_000L;
    InputFile huge =
        new InputFile() {
          @Override
          public String path() {
            return FILE;
          }

          @Override
          public long length() {
            return 1L << 40;
          }

          @Override
          public RangeReader open() {
            return new RangeReader() {
              @Override
              public void readFully(long position, byte[] buffer, int offset, int length) {
                assertEquals(0, position, "read past the prefix");
                assertEquals(8, length, "read past the prefix");
                System.arraycopy(prefix(declared), 0, buffer, offset, 8);
              }

              @Override
              public void close() {}
            };
          }
        };
    CheckpointFormatException e =
        assertThrows(CheckpointFormatException.class, () -> SafetensorsReader.readHeader(huge));
    assertNamed(e, HEADER_TOO_LARGE, FILE, null);
  }

  @Test
  void headerPastEndOfFile() throws Exception {
    // Just under the limit: rejected by length, before a 100 MB allocation.
    readFails(HEADER_PAST_EOF, declared(SafetensorsReader.MAX_HEADER_LENGTH, 4));
    CheckpointFormatException e = readFails(HEADER_PAST_EOF, declared(100, 10));
    assertTrue(e.getMessage().contains("8 + 100 > 18"), e.getMessage());
  }

  @Test
  void headerNotUtf8() {
    byte[] invalid = {'{', '"', (byte) 0xC3, 0x28, '"', ':', '1', '}'};
    CheckpointFormatException e = fails(HEADER_NOT_UTF8, null, invalid, 0);
    assertTrue(e.getMessage().contains("byte 2"), e.getMessage());
    // Overlong encoding of '/' and an encoded surrogate are invalid too, not replaced.
    fails(HEADER_NOT_UTF8, null, new byte[] {'{', '"', (byte) 0xC0, (byte) 0xAF, '"', '}'}, 0);
    fails(HEADER_NOT_UTF8, null, new byte[] {'{', '"', (byte) 0xED, (byte) 0xA0, (byte) 0x80, '"', '}'}, 0);
  }

  @Test
  void headerNotJson() {
    fails(HEADER_NOT_JSON, null, "{\"w\":", 0);
    fails(HEADER_NOT_JSON, null, "{} x", 0);
    fails(HEADER_NOT_JSON, null, "{}{}", 0);
    fails(HEADER_NOT_JSON, null, "{}\0\0", 0);
    fails(HEADER_NOT_JSON, null, "        ", 0);
    fails(HEADER_NOT_JSON, null, "{'w':1}", 0);
  }

  @Test
  void headerNotObject() {
    CheckpointFormatException e = fails(HEADER_NOT_OBJECT, null, "[]      ", 0);
    assertTrue(e.getMessage().contains("an array"), e.getMessage());
  }

  @Test
  void duplicateTensorName() {
    String entry = "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}";
    CheckpointFormatException e = fails(DUPLICATE_KEY, "w", "{\"w\":" + entry + ",\"w\":" + entry + "}", 1);
    assertEquals(FILE + ": tensor 'w': appears twice in the header", e.getMessage());
  }

  @Test
  void duplicateKeyInsideEntryOrMetadata() {
    CheckpointFormatException e =
        fails(DUPLICATE_KEY, "w", one("{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}"), 1);
    assertTrue(e.getMessage().contains("'dtype'"), e.getMessage());
    e = fails(DUPLICATE_KEY, null, "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0);
    assertTrue(e.getMessage().contains("'k'"), e.getMessage());
  }

  @Test
  void invalidMetadata() {
    fails(INVALID_METADATA, null, "{\"__metadata__\":{\"total\":3}}", 0);
    fails(INVALID_METADATA, null, "{\"__metadata__\":[]}", 0);
    fails(INVALID_METADATA, null, "{\"__metadata__\":{\"k\":{\"n\":\"v\"}}}", 0);
  }

  @Test
  void invalidTensorEntry() {
    fails(INVALID_TENSOR_ENTRY, "w", one("[]"), 0);
    fails(INVALID_TENSOR_ENTRY, "w", one("{\"shape\":[1],\"data_offsets\":[0,1]}"), 1);
    fails(INVALID_TENSOR_ENTRY, "w", one("{\"dtype\":\"U8\",\"data_offsets\":[0,1]}"), 1);
    fails(INVALID_TENSOR_ENTRY, "w", one("{\"dtype\":\"U8\",\"shape\":[1]}"), 1);
    fails(INVALID_TENSOR_ENTRY, "w", one("{\"dtype\":1,\"shape\":[1],\"data_offsets\":[0,1]}"), 1);
    fails(INVALID_TENSOR_ENTRY, "w", one("{\"dtype\":\"U8\",\"shape\":1,\"data_offsets\":[0,1]}"), 1);
    fails(INVALID_TENSOR_ENTRY, "w", one("{\"dtype\":\"U8\",\"shape\":[\"1\"],\"data_offsets\":[0,1]}"), 1);
    fails(INVALID_TENSOR_ENTRY, "w", one("{\"dtype\":\"U8\",\"shape\":[1.0],\"data_offsets\":[0,1]}"), 1);
    fails(INVALID_TENSOR_ENTRY, "w", one("{\"dtype\":\"U8\",\"shape\":[1e0],\"data_offsets\":[0,1]}"), 1);
    fails(INVALID_TENSOR_ENTRY, "w", one("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1.5]}"), 1);
    fails(INVALID_TENSOR_ENTRY, "w", one("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}"), 1);
    fails(INVALID_TENSOR_ENTRY, "w", one("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1]}"), 1);
    fails(INVALID_TENSOR_ENTRY, "w",
        one("{\"dtype\":\"U8\",\"shape\":[9223372036854775808],\"data_offsets\":[0,1]}"), 1);
    CheckpointFormatException e =
        fails(INVALID_TENSOR_ENTRY, "w",
            one("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"extra\":{}}"), 1);
    assertTrue(e.getMessage().contains("'extra'"), e.getMessage());
  }

  @Test
  void unknownDtype() {
    CheckpointFormatException e =
        fails(UNKNOWN_DTYPE, "w", one("{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}"), 4);
    assertTrue(e.getMessage().contains("'f32'"), e.getMessage());
  }

  @Test
  void negativeDimension() {
    fails(NEGATIVE_DIMENSION, "w", one("{\"dtype\":\"U8\",\"shape\":[2,-1],\"data_offsets\":[0,1]}"), 1);
    fails(NEGATIVE_DIMENSION, "w",
        one("{\"dtype\":\"U8\",\"shape\":[-99999999999999999999],\"data_offsets\":[0,1]}"), 1);
  }

  @Test
  void sizeOverflow() {
    // numel overflows
    fails(SIZE_OVERFLOW, "w",
        one("{\"dtype\":\"U8\",\"shape\":[4611686018427387904,2],\"data_offsets\":[0,1]}"), 1);
    // numel fits, bytes do not
    fails(SIZE_OVERFLOW, "w",
        one("{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,1]}"), 1);
  }

  @Test
  void sizeMismatch() {
    CheckpointFormatException e =
        fails(SIZE_MISMATCH, "layers.0.mlp.up_proj.weight",
            "{\"layers.0.mlp.up_proj.weight\":{\"dtype\":\"F32\",\"shape\":[5,6],\"data_offsets\":[0,100]}}",
            100);
    assertEquals(
        FILE + ": tensor 'layers.0.mlp.up_proj.weight': data_offsets [0, 100] hold 100 bytes but shape [5, 6]"
            + " of F32 needs 120",
        e.getMessage());
  }

  @Test
  void invalidOffsets() {
    fails(INVALID_OFFSETS, "w", one("{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,2]}"), 4);
    fails(INVALID_OFFSETS, "w", one("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}"), 1);
  }

  @Test
  void overlappingTensors() {
    CheckpointFormatException e =
        fails(OVERLAPPING_TENSORS, "b",
            "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}",
            6);
    assertTrue(e.getMessage().contains("'a' at [0, 4]"), e.getMessage());
    // A zero-sized tensor inside another one overlaps it too.
    fails(OVERLAPPING_TENSORS, "z",
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
            + "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,2]}}",
        4);
  }

  @Test
  void gapBetweenTensors() {
    fails(GAP_BETWEEN_TENSORS, "a", one("{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}")
        .replace("\"w\"", "\"a\""), 6);
    CheckpointFormatException e =
        fails(GAP_BETWEEN_TENSORS, "b",
            "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[5,9]}}",
            9);
    assertTrue(e.getMessage().contains("[4, 5)"), e.getMessage());
  }

  @Test
  void dataPastEndOfFile() {
    CheckpointFormatException e =
        fails(DATA_PAST_EOF, "w", one("{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}"), 10);
    assertTrue(e.getMessage().contains("holds 10 bytes"), e.getMessage());
  }

  @Test
  void trailingBytes() {
    fails(TRAILING_BYTES, null, one("{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}"), 17);
    fails(TRAILING_BYTES, null, "{}", 1);
  }

  @Test
  void parseRejectsInconsistentArguments() {
    assertThrows(IllegalArgumentException.class, () -> SafetensorsReader.parse(FILE, 100, 10, new byte[9]));
    CheckpointFormatException e =
        assertThrows(CheckpointFormatException.class, () -> SafetensorsReader.parse(FILE, 12, 10, new byte[10]));
    assertEquals(HEADER_PAST_EOF, e.reason());
  }
}
