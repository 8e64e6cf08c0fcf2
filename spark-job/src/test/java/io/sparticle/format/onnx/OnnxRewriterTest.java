package io.sparticle.format.onnx;

import static io.sparticle.format.onnx.OnnxModelReaderTest.*;
import static io.sparticle.format.onnx.ProtoBuilder.proto;
import static org.junit.jupiter.api.Assertions.*;

import io.sparticle.io.InputFile;
import io.sparticle.io.LocalInputFile;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link OnnxRewriter} and {@link OnnxSkeleton}. */
class OnnxRewriterTest {
  @TempDir Path dir;

  /** Raw F32, packed float_data, a dense INT64, BF16, an empty tensor, and typed FLOAT16. */
  static byte[] mixedModel() {
    return model(
        tensor("w", FLOAT, 2, 3).bytes(9, f32(1, 2, 3, 4, 5, 6)),
        tensor("ids", INT64, 2).bytes(9, new byte[] {1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}),
        tensor("b", FLOAT, 3).bytes(4, f32(0.5f, 0.25f, 0.125f)),
        tensor("bf", BFLOAT16, 2).bytes(9, new byte[] {(byte) 0x80, 0x3F, 0, 0x40}),
        tensor("empty", FLOAT, 0),
        tensor("h", FLOAT16, 1).packedVarints(5, 0x3C00));
  }

  InputFile file(String name, byte[] bytes) throws IOException {
    Path p = dir.resolve(name);
    Files.write(p, bytes);
    return new LocalInputFile(p);
  }

  /** Reads each hole's payload from {@code original}, as a decoder would produce it. */
  static PayloadWriter originalPayloads(byte[] original, List<OnnxSkeleton.Hole> holes) {
    Map<String, byte[]> payloads = new HashMap<>();
    for (OnnxSkeleton.Hole h : holes) {
      payloads.put(h.name(), Arrays.copyOfRange(original, (int) h.offset(), (int) h.end()));
    }
    return PayloadWriter.of(payloads);
  }

  @Test
  void rewriteReplacesOnlyThePayloads() throws IOException {
    byte[] original = mixedModel();
    InputFile in = file(MODEL, original);
    OnnxModel model = OnnxModelReader.read(in);
    byte[] newW = f32(-1, -2, -3, -4, -5, -6);
    byte[] newB = f32(7, 8, 9);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    long n = OnnxRewriter.rewrite(model, in, Map.of("w", newW, "b", newB), out);
    byte[] rewritten = out.toByteArray();

    assertEquals(original.length, n);
    assertEquals(original.length, rewritten.length);
    Payload w = model.initializer("w").payload();
    Payload b = model.initializer("b").payload();
    assertArrayEquals(newW, slice(rewritten, w));
    assertArrayEquals(newB, slice(rewritten, b));
    for (int i = 0; i < original.length; i++) {
      boolean inPayload = (i >= w.offset() && i < w.end()) || (i >= b.offset() && i < b.end());
      if (!inPayload) {
        assertEquals(original[i], rewritten[i], "byte " + i);
      }
    }
    // The copy is a model with the same structure.
    OnnxModel again = OnnxModelReader.read(file("copy.onnx", rewritten));
    assertEquals(model.initializers().stream().map(OnnxInitializer::payload).map(Payload::offset).toList(),
        again.initializers().stream().map(OnnxInitializer::payload).map(Payload::offset).toList());
  }

  @Test
  void rewriteAnExternalDataFile() throws IOException {
    byte[] weights = new byte[40];
    file("w.bin", weights);
    byte[] modelBytes = model(
        tensor("a", FLOAT, 2).message(13, external("location", "w.bin")).message(13, external("offset", "16"))
            .message(13, external("length", "8")).varint(14, 1));
    file(MODEL, modelBytes);
    OnnxModel model = OnnxModelReader.read(dir.resolve(MODEL));
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    OnnxRewriter.rewrite(model, "w.bin", new LocalInputFile(dir.resolve("w.bin")), Set.of("a"),
        PayloadWriter.of(Map.of("a", f32(3, 4))), out);
    byte[] expected = new byte[40];
    System.arraycopy(f32(3, 4), 0, expected, 16, 8);
    assertArrayEquals(expected, out.toByteArray());
    // The model file itself holds no payload of 'a'.
    assertThrows(IllegalArgumentException.class,
        () -> OnnxRewriter.rewrite(model, new LocalInputFile(dir.resolve(MODEL)), Map.of("a", f32(3, 4)),
            new ByteArrayOutputStream()));
  }

  @Test
  void rewriteMisuse() throws IOException {
    byte[] original = mixedModel();
    InputFile in = file(MODEL, original);
    OnnxModel model = OnnxModelReader.read(in);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    assertThrows(IllegalArgumentException.class, () -> OnnxRewriter.rewrite(model, in, Map.of("nope", new byte[4]), out));
    // int32_data is not element bytes.
    assertThrows(IllegalArgumentException.class, () -> OnnxRewriter.rewrite(model, in, Map.of("h", new byte[2]), out));
    IllegalStateException wrongLength = assertThrows(IllegalStateException.class,
        () -> OnnxRewriter.rewrite(model, in, Map.of("w", new byte[4]), out));
    assertTrue(wrongLength.getMessage().contains("wrote 4 bytes for initializer 'w', whose payload is 24 bytes"));
    InputFile other = file("other.onnx", Arrays.copyOf(original, original.length + 1));
    assertThrows(IllegalArgumentException.class, () -> OnnxRewriter.rewrite(model, other, Map.of(), out));
  }

  @Test
  void skeletonRoundTripIsByteExact() throws IOException {
    byte[] original = mixedModel();
    InputFile in = file(MODEL, original);
    OnnxModel model = OnnxModelReader.read(in);
    OnnxSkeleton sk = OnnxSkeleton.of(model);
    // The compressible payloads with bytes: w, b, bf (not ids, h, or the empty tensor).
    assertEquals(List.of("w", "b", "bf"), sk.holes().stream().map(OnnxSkeleton.Hole::name).toList());
    assertEquals(original.length - 24 - 12 - 4, sk.skeletonLength());

    ByteArrayOutputStream skeleton = new ByteArrayOutputStream();
    assertEquals(sk.skeletonLength(), sk.extract(in, skeleton));
    assertEquals(sk.skeletonLength(), skeleton.size());

    ByteArrayOutputStream rebuilt = new ByteArrayOutputStream();
    long n = OnnxSkeleton.write(new ByteArrayInputStream(skeleton.toByteArray()), sk.holes(),
        originalPayloads(original, sk.holes()), rebuilt);
    assertEquals(original.length, n);
    assertArrayEquals(original, rebuilt.toByteArray());

    ByteArrayOutputStream viaInstance = new ByteArrayOutputStream();
    sk.write(new ByteArrayInputStream(skeleton.toByteArray()), originalPayloads(original, sk.holes()), viaInstance);
    assertArrayEquals(original, viaInstance.toByteArray());
  }

  @Test
  void skeletonWithNewPayloadsIsAValidModel() throws IOException {
    Random random = new Random(7);
    byte[] original = mixedModel();
    InputFile in = file(MODEL, original);
    OnnxModel model = OnnxModelReader.read(in);
    OnnxSkeleton sk = OnnxSkeleton.of(model);
    ByteArrayOutputStream skeleton = new ByteArrayOutputStream();
    sk.extract(in, skeleton);
    Map<String, byte[]> decoded = new HashMap<>();
    for (OnnxSkeleton.Hole h : sk.holes()) {
      byte[] p = new byte[(int) h.length()];
      random.nextBytes(p);
      decoded.put(h.name(), p);
    }
    ByteArrayOutputStream rebuilt = new ByteArrayOutputStream();
    sk.write(new ByteArrayInputStream(skeleton.toByteArray()), PayloadWriter.of(decoded), rebuilt);
    byte[] bytes = rebuilt.toByteArray();
    OnnxModel again = OnnxModelReader.read(file("again.onnx", bytes));
    for (OnnxSkeleton.Hole h : sk.holes()) {
      assertArrayEquals(decoded.get(h.name()), slice(bytes, again.initializer(h.name()).payload()));
    }
  }

  @Test
  void skeletonOfWrongLengthIsRejected() throws IOException {
    byte[] original = mixedModel();
    InputFile in = file(MODEL, original);
    OnnxSkeleton sk = OnnxSkeleton.of(OnnxModelReader.read(in));
    ByteArrayOutputStream skeleton = new ByteArrayOutputStream();
    sk.extract(in, skeleton);
    byte[] bytes = skeleton.toByteArray();
    PayloadWriter payloads = originalPayloads(original, sk.holes());
    // Holes 0 and 1 are cut out before hole 2: its gap ends at offset - 24 - 12 of the skeleton.
    long gapEnd = sk.holes().get(2).offset() - sk.holes().get(0).length() - sk.holes().get(1).length();
    byte[] shortSkeleton = Arrays.copyOf(bytes, (int) gapEnd - 1);
    assertThrows(EOFException.class, () -> OnnxSkeleton.write(
        new ByteArrayInputStream(shortSkeleton), sk.holes(), payloads, new ByteArrayOutputStream()));
    byte[] longSkeleton = Arrays.copyOf(bytes, bytes.length + 1);
    assertThrows(EOFException.class,
        () -> sk.write(new ByteArrayInputStream(longSkeleton), payloads, new ByteArrayOutputStream()));
    assertThrows(IllegalArgumentException.class,
        () -> sk.extract(file("x.onnx", Arrays.copyOf(original, 10)), new ByteArrayOutputStream()));
  }

  @Test
  void holesMustBeSortedDisjointAndNonEmpty() {
    OnnxSkeleton.Hole a = new OnnxSkeleton.Hole("a", 10, 5);
    OnnxSkeleton.Hole b = new OnnxSkeleton.Hole("b", 12, 5);
    assertThrows(IllegalArgumentException.class, () -> new OnnxSkeleton("f", 100, List.of(a, b)));
    assertThrows(IllegalArgumentException.class, () -> new OnnxSkeleton("f", 100, List.of(b, a)));
    assertThrows(IllegalArgumentException.class,
        () -> new OnnxSkeleton("f", 100, List.of(new OnnxSkeleton.Hole("z", 3, 0))));
    assertThrows(IllegalArgumentException.class, () -> new OnnxSkeleton("f", 14, List.of(a)));
    assertEquals(95, new OnnxSkeleton("f", 100, List.of(a)).skeletonLength());
  }

  @Test
  void rewritesAModelWithNoPayloads() throws IOException {
    byte[] original = proto().bytes(7, proto().string(2, "g").build()).build();
    InputFile in = file(MODEL, original);
    OnnxModel model = OnnxModelReader.read(in);
    assertTrue(model.initializers().isEmpty());
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    OnnxRewriter.rewrite(model, in, Map.of(), out);
    assertArrayEquals(original, out.toByteArray());
  }
}
