package io.sparticle.format.onnx;

import static io.sparticle.format.CheckpointFormatException.Reason.*;
import static io.sparticle.format.onnx.ProtoBuilder.proto;
import static org.junit.jupiter.api.Assertions.*;

import io.sparticle.format.CheckpointFormatException;
import io.sparticle.format.CheckpointFormatException.Reason;
import io.sparticle.format.DType;
import io.sparticle.io.LocalInputFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OnnxModelReaderTest {
  static final String MODEL = "model.onnx";
  static final int FLOAT = 1;
  static final int INT64 = 7;
  static final int FLOAT16 = 10;
  static final int BFLOAT16 = 16;

  @TempDir Path dir;

  // ---- helpers: ONNX messages by hand ----

  static byte[] f32(float... values) {
    ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      b.putFloat(v);
    }
    return b.array();
  }

  /** A TensorProto with dims (unpacked), data_type and name, in the field order writers use. */
  static ProtoBuilder tensor(String name, int dataType, long... dims) {
    ProtoBuilder t = proto();
    for (long d : dims) {
      t.varint(1, d);
    }
    return t.varint(2, dataType).string(8, name);
  }

  static ProtoBuilder external(String key, String value) {
    return proto().string(1, key).string(2, value);
  }

  /** A ModelProto around a graph with a node, the initializers and an input, like real exports. */
  static byte[] model(ProtoBuilder... initializers) {
    ProtoBuilder graph = proto()
        .message(1, proto().string(1, "x").string(2, "y").string(4, "MatMul"))
        .string(2, "main");
    for (ProtoBuilder init : initializers) {
      graph.message(5, init);
    }
    graph.message(11, proto().string(1, "x"));
    return proto()
        .varint(1, 9)
        .string(2, "hand")
        .message(7, graph)
        .message(8, proto().string(1, "").varint(2, 17))
        .message(8, proto().string(1, "com.microsoft").varint(2, 1))
        .build();
  }

  Path write(String name, byte[] bytes) throws IOException {
    Path p = dir.resolve(name);
    Files.write(p, bytes);
    return p;
  }

  OnnxModel read(byte[] modelBytes) throws IOException {
    return OnnxModelReader.read(write(MODEL, modelBytes));
  }

  /** Reads the model and expects {@code reason}, naming the model file and {@code tensor}. */
  CheckpointFormatException fails(Reason reason, String tensor, byte[] modelBytes) {
    CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> read(modelBytes));
    assertEquals(reason, e.reason(), e.getMessage());
    assertEquals(dir.resolve(MODEL).toAbsolutePath().toString(), Path.of(e.file()).toAbsolutePath().toString());
    assertEquals(tensor, e.tensor(), e.getMessage());
    String start = tensor == null ? e.file() + ": " : e.file() + ": tensor '" + tensor + "': ";
    assertTrue(e.getMessage().startsWith(start), e.getMessage());
    return e;
  }

  static int indexOf(byte[] haystack, byte[] needle) {
    outer:
    for (int i = 0; i <= haystack.length - needle.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (haystack[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  static byte[] slice(byte[] bytes, Payload p) {
    return Arrays.copyOfRange(bytes, (int) p.offset(), (int) p.end());
  }

  // ---- hand-made examples ----

  @Test
  void rawDataFloatInitializer() throws IOException {
    byte[] data = f32(1.5f, -2f, 3f, 4f, 5f, 6f);
    byte[] bytes = model(tensor("w", FLOAT, 2, 3).bytes(9, data));
    OnnxModel m = read(bytes);

    assertEquals(MODEL, m.fileName());
    assertEquals(9, m.irVersion());
    assertEquals(Map.of("", 17L, "com.microsoft", 1L), m.opsets());
    assertEquals(Map.of(MODEL, (long) bytes.length), m.fileLengths());
    assertEquals(1, m.initializers().size());
    OnnxInitializer w = m.initializer("w");
    assertArrayEquals(new long[] {2, 3}, w.dims());
    assertEquals(6, w.numel());
    assertEquals(FLOAT, w.dataType());
    assertEquals(Optional.of(DType.F32), w.dtype());
    assertTrue(w.isCompressible());
    assertEquals(new Payload(MODEL, indexOf(bytes, data), 24, Payload.Kind.RAW), w.payload());
    assertArrayEquals(data, slice(bytes, w.payload()));
    assertEquals(List.of(w), m.compressible());
  }

  @Test
  void packedAndUnpackedDims() throws IOException {
    byte[] bytes = model(
        proto().packedVarints(1, 2, 3).varint(2, FLOAT).string(8, "packed").bytes(9, new byte[24]),
        proto().varint(1, 2).packedVarints(1, 1, 3).varint(2, FLOAT).string(8, "mixed").bytes(9, new byte[24]),
        tensor("scalar", FLOAT).bytes(9, f32(7f)));
    OnnxModel m = read(bytes);
    assertArrayEquals(new long[] {2, 3}, m.initializer("packed").dims());
    assertArrayEquals(new long[] {2, 1, 3}, m.initializer("mixed").dims());
    assertArrayEquals(new long[] {}, m.initializer("scalar").dims());
    assertEquals(1, m.initializer("scalar").numel());
  }

  @Test
  void packedFloatDataIsAByteRangeToo() throws IOException {
    byte[] data = f32(0.25f, 0.5f, 0.75f);
    byte[] bytes = model(tensor("b", FLOAT, 3).bytes(4, data));
    OnnxInitializer b = read(bytes).initializer("b");
    assertEquals(Payload.Kind.FLOAT_DATA, b.payload().kind());
    assertTrue(b.isCompressible());
    assertArrayEquals(data, slice(bytes, b.payload()));
  }

  @Test
  void halfPrecisionRawData() throws IOException {
    OnnxModel m = read(model(
        tensor("h", FLOAT16, 4).bytes(9, new byte[8]), tensor("bf", BFLOAT16, 2, 2).bytes(9, new byte[8])));
    assertEquals(Optional.of(DType.F16), m.initializer("h").dtype());
    assertEquals(Optional.of(DType.BF16), m.initializer("bf").dtype());
    assertEquals(2, m.compressible().size());
  }

  @Test
  void otherTypesAndEncodingsAreKeptDense() throws IOException {
    byte[] bytes = model(
        tensor("ids", INT64, 2).bytes(9, new byte[16]),
        // FLOAT16 values in int32_data (the typed field for 16-bit types), packed.
        tensor("h", FLOAT16, 2).packedVarints(5, 0x3C00, 0x4000),
        // float_data written unpacked: not one contiguous range of floats.
        tensor("u", FLOAT, 2).fixed32(4, Float.floatToIntBits(1f)).fixed32(4, Float.floatToIntBits(2f)),
        tensor("i", INT64, 3).packedVarints(7, 1, 2, 3));
    OnnxModel m = read(bytes);
    assertTrue(m.compressible().isEmpty());
    OnnxInitializer ids = m.initializer("ids");
    assertEquals(Optional.empty(), ids.dtype());
    assertEquals(Payload.Kind.RAW, ids.payload().kind());
    assertEquals(Payload.Kind.TYPED_DATA, m.initializer("h").payload().kind());
    Payload u = m.initializer("u").payload();
    assertEquals(Payload.Kind.TYPED_DATA, u.kind());
    assertEquals(10, u.length(), "two tags and two floats");
    assertEquals(Payload.Kind.TYPED_DATA, m.initializer("i").payload().kind());
    assertEquals("INT64", OnnxInitializer.typeName(m.initializer("i").dataType()));
  }

  @Test
  void zeroElementTensorMayHaveNoData() throws IOException {
    OnnxModel m = read(model(tensor("empty", FLOAT, 0, 5), tensor("emptyRaw", FLOAT, 0).bytes(9, new byte[0])));
    assertEquals(Payload.Kind.NONE, m.initializer("empty").payload().kind());
    assertEquals(0, m.initializer("empty").payload().length());
    assertFalse(m.initializer("empty").isCompressible());
    assertEquals(Payload.Kind.RAW, m.initializer("emptyRaw").payload().kind());
  }

  @Test
  void externalData() throws IOException {
    byte[] weights = new byte[64 + 24 + 16];
    byte[] a = f32(1, 2, 3, 4, 5, 6);
    System.arraycopy(a, 0, weights, 64, 24);
    write("weights.bin", weights);
    write("tail.bin", f32(9, 8));
    byte[] bytes = model(
        tensor("a", FLOAT, 6).message(13, external("location", "weights.bin")).message(13, external("offset", "64"))
            .message(13, external("length", "24")).message(13, external("checksum", "ignored")).varint(14, 1),
        // No offset and no length: the whole file, as the ONNX loader reads it.
        tensor("t", FLOAT, 2).message(13, external("location", "tail.bin")).varint(14, 1));
    OnnxModel m = read(bytes);
    assertEquals(new Payload("weights.bin", 64, 24, Payload.Kind.EXTERNAL), m.initializer("a").payload());
    assertEquals(new Payload("tail.bin", 0, 8, Payload.Kind.EXTERNAL), m.initializer("t").payload());
    assertTrue(m.initializer("a").isCompressible());
    assertEquals(Map.of(MODEL, (long) bytes.length, "weights.bin", 104L, "tail.bin", 8L), m.fileLengths());

    // The same through an InputFile and a Directory, as a Hadoop caller would.
    OnnxModel same = OnnxModelReader.read(
        new LocalInputFile(dir.resolve(MODEL)), OnnxModelReader.Directory.local(dir));
    assertEquals(m.initializers(), same.initializers());
  }

  @Test
  void otherModelAndGraphFieldsAreSkipped() throws IOException {
    byte[] graph = proto().message(15, proto().string(1, "sparse")).message(5, tensor("w", FLOAT, 1).bytes(9, f32(1)))
        .fixed64(99, 1).build();
    byte[] bytes = proto().fixed32(50, 1).bytes(7, graph).varint(1, 3).build();
    OnnxModel m = read(bytes);
    assertEquals(3, m.irVersion());
    assertEquals(Map.of(), m.opsets());
    assertEquals(List.of("w"), m.initializers().stream().map(OnnxInitializer::name).toList());
  }

  /** Compressible initializers get the names of the nodes that use them; others do not. */
  @Test
  void compressibleInitializersAreNamedAfterTheirNodes() throws IOException {
    ProtoBuilder graph = proto()
        .message(1, proto().string(1, "x").string(1, "onnx::MatMul_7").string(2, "h")
            .string(3, "/layer.0/fc/MatMul").string(4, "MatMul"))
        .message(1, proto().string(1, "h").string(1, "shape").string(2, "r")
            .string(3, "/layer.0/Reshape").string(4, "Reshape"))
        .message(1, proto().string(1, "r").string(1, "unnamed").string(2, "y").string(4, "Add"))
        .message(5, tensor("onnx::MatMul_7", FLOAT, 2, 2).bytes(9, f32(1, 2, 3, 4)))
        .message(5, tensor("shape", INT64, 1).bytes(9, new byte[8]))
        .message(5, tensor("unnamed", FLOAT, 2).bytes(9, f32(1, 2)))
        .message(5, tensor("unused", FLOAT, 1).bytes(9, f32(1)))
        // A node after the initializers counts as well: graph order is node order.
        .message(1, proto().string(1, "y").string(1, "late").string(2, "z")
            .string(3, "/late/Mul").string(4, "Mul"))
        .message(5, tensor("late", FLOAT, 1).bytes(9, f32(1)));
    OnnxModel m = read(proto().varint(1, 9).message(7, graph).build());
    assertEquals(Map.of("onnx::MatMul_7", "/layer.0/fc/MatMul", "late", "/late/Mul"), m.nodeNames());
    // The manifest's names: the initializers keep theirs.
    assertEquals(List.of("onnx::MatMul_7", "shape", "unnamed", "unused", "late"),
        m.initializers().stream().map(OnnxInitializer::name).toList());
  }

  @Test
  void windowSizeDoesNotMatter() throws IOException {
    byte[] bytes = model(tensor("w", FLOAT, 1000).bytes(9, new byte[4000]), tensor("b", FLOAT, 3).bytes(4, f32(1, 2, 3)));
    OnnxModel m = read(bytes);
    assertEquals(2, m.initializers().size());
    assertEquals(Payload.Kind.FLOAT_DATA, m.initializer("b").payload().kind());
  }

  // ---- every error rule ----

  @Test
  void malformedProtobufNamesTheFile() {
    byte[] bytes = model(tensor("w", FLOAT, 1).bytes(9, f32(1)));
    // Cut the file inside the graph.
    fails(INVALID_ONNX, null, Arrays.copyOf(bytes, bytes.length / 2));
  }

  @Test
  void malformedProtobufAfterTheNameNamesTheInitializer() {
    // raw_data claims more bytes than the TensorProto holds.
    ProtoBuilder t = tensor("w", FLOAT, 1).tag(9, 2).rawVarint(100).raw(0, 0, 0, 0);
    CheckpointFormatException e = fails(INVALID_ONNX, "w", model(t));
    assertTrue(e.getMessage().contains("runs past the end of the enclosing message"), e.getMessage());
  }

  @Test
  void groupWireTypeInAnInitializer() {
    fails(INVALID_ONNX, "w", model(tensor("w", FLOAT, 1).bytes(9, f32(1)).tag(20, 3)));
  }

  @Test
  void noGraph() {
    assertTrue(fails(INVALID_ONNX, null, proto().varint(1, 9).build()).getMessage().contains("no graph"));
  }

  @Test
  void graphTwice() {
    byte[] g = proto().message(5, tensor("w", FLOAT, 1).bytes(9, f32(1))).build();
    fails(INVALID_ONNX, null, proto().bytes(7, g).bytes(7, g).build());
  }

  @Test
  void nodeWithWrongWireType() {
    byte[] g = proto().varint(1, 3).message(5, tensor("w", FLOAT, 1).bytes(9, f32(1))).build();
    assertTrue(fails(INVALID_ONNX, null, proto().bytes(7, g).build()).getMessage().contains("GraphProto.node"));
    byte[] n = proto().message(1, proto().string(1, "x").varint(3, 1)).build();
    fails(INVALID_ONNX, null, proto().bytes(7, n).build());
  }

  @Test
  void graphWithWrongWireType() {
    fails(INVALID_ONNX, null, proto().varint(7, 1).build());
  }

  @Test
  void initializerWithoutName() {
    CheckpointFormatException e = fails(INVALID_ONNX, null, model(proto().varint(1, 1).varint(2, FLOAT).bytes(9, f32(1))));
    assertTrue(e.getMessage().contains("initializer #0 at byte"), e.getMessage());
    fails(INVALID_ONNX, null, model(tensor("", FLOAT, 1).bytes(9, f32(1))));
  }

  @Test
  void duplicateInitializerName() {
    fails(DUPLICATE_KEY, "w", model(tensor("w", FLOAT, 1).bytes(9, f32(1)), tensor("w", FLOAT, 1).bytes(9, f32(2))));
  }

  @Test
  void singularFieldTwice() {
    fails(INVALID_ONNX, "w", model(tensor("w", FLOAT, 1).bytes(9, f32(1)).bytes(9, f32(2))));
    fails(INVALID_ONNX, "w", model(tensor("w", FLOAT, 1).string(8, "v").bytes(9, f32(1))));
    fails(INVALID_ONNX, "w", model(tensor("w", FLOAT, 1).varint(2, FLOAT).bytes(9, f32(1))));
  }

  @Test
  void nameWithWrongWireType() {
    fails(INVALID_ONNX, null, model(proto().varint(1, 1).varint(8, 5).bytes(9, f32(1))));
  }

  @Test
  void negativeDimension() {
    fails(NEGATIVE_DIMENSION, "w", model(tensor("w", FLOAT, 2, -3).bytes(9, f32(1))));
  }

  @Test
  void elementCountOverflow() {
    fails(SIZE_OVERFLOW, "w", model(tensor("w", FLOAT, 1L << 32, 1L << 32).bytes(9, f32(1))));
  }

  @Test
  void byteSizeOverflow() {
    // 2^62 elements fit a long; 2^62 * 4 bytes do not.
    fails(SIZE_OVERFLOW, "w", model(tensor("w", FLOAT, 1L << 31, 1L << 31).bytes(9, f32(1))));
  }

  @Test
  void rawDataSizeMismatch() {
    CheckpointFormatException e = fails(SIZE_MISMATCH, "w", model(tensor("w", FLOAT, 2, 3).bytes(9, new byte[20])));
    assertTrue(e.getMessage().contains("holds 20 bytes but dims [2, 3] of FLOAT need 24"), e.getMessage());
    fails(SIZE_MISMATCH, "h", model(tensor("h", FLOAT16, 3).bytes(9, new byte[4])));
  }

  @Test
  void floatDataSizeMismatch() {
    fails(SIZE_MISMATCH, "b", model(tensor("b", FLOAT, 4).bytes(4, f32(1, 2, 3))));
  }

  @Test
  void noData() {
    fails(NO_TENSOR_DATA, "w", model(tensor("w", FLOAT, 2, 3)));
    fails(NO_TENSOR_DATA, "s", model(tensor("s", FLOAT)));
  }

  @Test
  void moreThanOneDataField() {
    CheckpointFormatException e = fails(INVALID_ONNX, "w", model(tensor("w", FLOAT, 1).bytes(4, f32(1)).bytes(9, f32(1))));
    assertTrue(e.getMessage().contains("float_data, raw_data"), e.getMessage());
  }

  @Test
  void segmentedTensor() {
    fails(INVALID_ONNX, "w", model(tensor("w", FLOAT, 1).message(3, proto().varint(1, 0).varint(2, 1)).bytes(9, f32(1))));
  }

  @Test
  void unknownDataLocation() {
    fails(INVALID_ONNX, "w", model(tensor("w", FLOAT, 1).bytes(9, f32(1)).varint(14, 2)));
  }

  @Test
  void externalLocationWithoutExternalData() {
    fails(INVALID_EXTERNAL_DATA, "w", model(tensor("w", FLOAT, 1).varint(14, 1)));
  }

  @Test
  void externalDataWithoutExternalLocation() throws IOException {
    write("w.bin", f32(1));
    fails(INVALID_EXTERNAL_DATA, "w", model(tensor("w", FLOAT, 1).message(13, external("location", "w.bin"))));
  }

  @Test
  void externalDataAndRawData() throws IOException {
    write("w.bin", f32(1));
    fails(INVALID_ONNX, "w", model(tensor("w", FLOAT, 1).bytes(9, f32(1)).message(13, external("location", "w.bin")).varint(14, 1)));
  }

  private byte[] externalModel(String location, String... more) {
    ProtoBuilder t = tensor("w", FLOAT, 2).message(13, external("location", location));
    for (int i = 0; i < more.length; i += 2) {
      t.message(13, external(more[i], more[i + 1]));
    }
    return model(t.varint(14, 1));
  }

  @Test
  void externalWithoutLocation() {
    fails(INVALID_EXTERNAL_DATA, "w", model(tensor("w", FLOAT, 2).message(13, external("offset", "0")).varint(14, 1)));
  }

  @Test
  void externalEntryWithoutKeyOrTwice() throws IOException {
    write("w.bin", f32(1, 2));
    fails(INVALID_EXTERNAL_DATA, "w", model(tensor("w", FLOAT, 2).message(13, proto().string(2, "x")).varint(14, 1)));
    fails(INVALID_EXTERNAL_DATA, "w", externalModel("w.bin", "offset", "0", "offset", "0"));
  }

  @Test
  void externalLocationMustBeAPlainFileName() throws IOException {
    Files.createDirectories(dir.resolve("sub"));
    write("sub/w.bin", f32(1, 2));
    for (String bad : List.of("sub/w.bin", "../w.bin", "..", ".", "", "/tmp/w.bin", "sub\\w.bin", "s3a:w.bin", MODEL)) {
      CheckpointFormatException e = fails(INVALID_EXTERNAL_DATA, "w", externalModel(bad));
      assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
    }
  }

  @Test
  void externalOffsetAndLengthMustBeDecimal() throws IOException {
    write("w.bin", f32(1, 2));
    for (String bad : List.of("-1", "+8", "0x10", "1e3", " 8", "", "99999999999999999999")) {
      fails(INVALID_EXTERNAL_DATA, "w", externalModel("w.bin", "offset", bad));
      fails(INVALID_EXTERNAL_DATA, "w", externalModel("w.bin", "length", bad));
    }
  }

  @Test
  void externalFileMissing() {
    fails(MISSING_EXTERNAL_FILE, "w", externalModel("nope.bin"));
  }

  @Test
  void externalRangePastEndOfFile() throws IOException {
    write("w.bin", new byte[10]);
    fails(DATA_PAST_EOF, "w", externalModel("w.bin", "offset", "4", "length", "8"));
    fails(DATA_PAST_EOF, "w", externalModel("w.bin", "offset", "11"));
  }

  @Test
  void externalSizeMismatch() throws IOException {
    write("w.bin", new byte[12]);
    fails(SIZE_MISMATCH, "w", externalModel("w.bin"));
    fails(SIZE_MISMATCH, "w", externalModel("w.bin", "length", "4"));
  }

  @Test
  void externalRangesOverlap() throws IOException {
    write("w.bin", new byte[16]);
    byte[] bytes = model(
        tensor("a", FLOAT, 2).message(13, external("location", "w.bin")).message(13, external("length", "8")).varint(14, 1),
        tensor("b", FLOAT, 2).message(13, external("location", "w.bin")).message(13, external("offset", "4"))
            .message(13, external("length", "8")).varint(14, 1));
    fails(OVERLAPPING_TENSORS, "b", bytes);
  }

  @Test
  void externalDataNeedsADirectory() throws IOException {
    write("w.bin", f32(1, 2));
    Path p = write(MODEL, externalModel("w.bin"));
    CheckpointFormatException e =
        assertThrows(CheckpointFormatException.class, () -> OnnxModelReader.read(new LocalInputFile(p)));
    assertEquals(INVALID_EXTERNAL_DATA, e.reason());
    assertEquals("w", e.tensor());
  }

  @Test
  void modelRecordRejectsNodeNamesThatAreNotUnique() {
    OnnxInitializer a = new OnnxInitializer("a", FLOAT, new long[] {1}, 1, new Payload(MODEL, 0, 4, Payload.Kind.RAW));
    OnnxInitializer b = new OnnxInitializer("b", FLOAT, new long[] {1}, 1, new Payload(MODEL, 4, 4, Payload.Kind.RAW));
    Map<String, Long> lengths = Map.of(MODEL, 8L);
    assertEquals(Map.of("a", "/n"), new OnnxModel("p", MODEL, 9, Map.of(), List.of(a, b), lengths,
        Map.of("a", "/n")).nodeNames());
    for (Map<String, String> bad : List.of(Map.of("a", "/n", "b", "/n"), Map.of("a", "b"),
        Map.of("a", ""), Map.of("c", "/n"))) {
      assertThrows(IllegalArgumentException.class,
          () -> new OnnxModel("p", MODEL, 9, Map.of(), List.of(a, b), lengths, bad), bad.toString());
    }
  }

  @Test
  void initializerRecordRejectsInconsistentValues() {
    Payload p = new Payload(MODEL, 0, 8, Payload.Kind.RAW);
    assertThrows(IllegalArgumentException.class, () -> new OnnxInitializer("w", FLOAT, new long[] {-2}, -2, p));
    assertThrows(IllegalArgumentException.class, () -> new OnnxInitializer("w", FLOAT, new long[] {3}, 3, p));
    assertThrows(IllegalArgumentException.class, () -> new OnnxInitializer("w", FLOAT, new long[] {2}, 3, p));
    assertThrows(IllegalArgumentException.class,
        () -> new OnnxInitializer("w", FLOAT, new long[] {2}, 2, new Payload(MODEL, 0, 0, Payload.Kind.NONE)));
    assertThrows(IllegalArgumentException.class, () -> new Payload(MODEL, -1, 8, Payload.Kind.RAW));
    assertEquals(2, new OnnxInitializer("w", FLOAT, new long[] {2}, 2, p).numel());
  }
}
