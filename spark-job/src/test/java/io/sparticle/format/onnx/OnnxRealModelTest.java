package io.sparticle.format.onnx;

import static org.junit.jupiter.api.Assertions.*;

import io.sparticle.format.DType;
import io.sparticle.io.InputFile;
import io.sparticle.io.LocalInputFile;
import io.sparticle.io.RangeReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * all-MiniLM-L6-v2 as exported to ONNX (from the test-scoped langchain4j jar): 6 BERT layers,
 * hidden size 384, about 22.7M F32 parameters in {@code raw_data}.
 */
class OnnxRealModelTest {
  private static final String RESOURCE = "all-minilm-l6-v2.onnx";

  @TempDir static Path dir;
  static Path path;
  static InputFile file;
  static OnnxModel model;

  @BeforeAll
  static void readModel() throws IOException {
    path = dir.resolve(RESOURCE);
    try (InputStream in = OnnxRealModelTest.class.getClassLoader().getResourceAsStream(RESOURCE)) {
      assertNotNull(in, RESOURCE + " is not on the test classpath");
      Files.copy(in, path);
    }
    file = new LocalInputFile(path);
    // Once to warm up the classes, once to time.
    OnnxModelReader.read(file);
    long start = System.nanoTime();
    model = OnnxModelReader.read(file);
    long micros = (System.nanoTime() - start) / 1000;
    // The parse reads tags and lengths through a bounded window, never the payloads.
    CountingFile counting = new CountingFile(file);
    assertEquals(model, OnnxModelReader.read(counting));
    System.out.printf("parse: %d positioned reads, %d bytes read of %d%n",
        counting.reads, counting.bytesRead, model.fileLength());
    // At most one 64 KiB window per refill: about 3% of this file, whose tensors are small.
    assertTrue(counting.bytesRead < model.fileLength() / 20, counting.bytesRead + " bytes read");
    long params = 0;
    for (OnnxInitializer init : model.compressible()) {
      params += init.numel();
    }
    System.out.printf("%s: %d bytes, ir_version %d, opsets %s, %d initializers (%d compressible), %d F32 params, parsed in %.1f ms%n",
        RESOURCE, model.fileLength(), model.irVersion(), model.opsets(), model.initializers().size(),
        model.compressible().size(), params, micros / 1000.0);
  }

  /** An InputFile whose readers count reads and bytes. */
  static final class CountingFile implements InputFile {
    final InputFile file;
    long reads;
    long bytesRead;

    CountingFile(InputFile file) {
      this.file = file;
    }

    @Override
    public String path() {
      return file.path();
    }

    @Override
    public long length() throws IOException {
      return file.length();
    }

    @Override
    public RangeReader open() throws IOException {
      RangeReader in = file.open();
      return new RangeReader() {
        @Override
        public void readFully(long position, byte[] buffer, int offset, int length) throws IOException {
          in.readFully(position, buffer, offset, length);
          reads++;
          bytesRead += length;
        }

        @Override
        public void close() throws IOException {
          in.close();
        }
      };
    }
  }

  @Test
  void initializersAreTheBertWeights() {
    List<OnnxInitializer> inits = model.initializers();
    assertEquals(102, inits.size());
    long f32Params = 0;
    int f32Count = 0;
    for (OnnxInitializer init : inits) {
      if (init.dtype().equals(Optional.of(DType.F32))) {
        assertTrue(init.isCompressible(), init.toString());
        assertEquals(Payload.Kind.RAW, init.payload().kind());
        assertEquals(RESOURCE, init.payload().file());
        f32Params += init.numel();
        f32Count++;
      }
    }
    System.out.printf("F32 initializers: %d, F32 params: %d%n", f32Count, f32Params);
    assertEquals(101, f32Count);
    assertEquals(f32Count, model.compressible().size());
    // all-MiniLM-L6-v2 has 22,713,216 parameters; the export drops the unused pooler
    // (384 x 384 + 384 = 147,840).
    assertEquals(22_713_216L - 147_840L, f32Params);
    // The payloads are nearly the whole file: the protobuf around them is small.
    assertTrue(f32Params * 4 > model.fileLength() * 0.99);

    // The one dense initializer.
    OnnxInitializer positionIds = model.initializer("embeddings.position_ids");
    assertEquals("INT64", OnnxInitializer.typeName(positionIds.dataType()));
    assertFalse(positionIds.isCompressible());

    assertArrayEquals(new long[] {30522, 384}, model.initializer("embeddings.word_embeddings.weight").dims());
    assertArrayEquals(new long[] {512, 384}, model.initializer("embeddings.position_embeddings.weight").dims());
    Set<String> names = new HashSet<>(inits.stream().map(OnnxInitializer::name).toList());
    for (int layer = 0; layer < 6; layer++) {
      for (String suffix : List.of("attention.self.query.bias", "attention.output.LayerNorm.weight",
          "intermediate.dense.bias", "output.LayerNorm.bias")) {
        assertTrue(names.contains("encoder.layer." + layer + "." + suffix), layer + "." + suffix);
      }
    }
    // The exporter stores the encoder's weight matrices transposed, under generated names: six
    // per layer (query, key, value, attention output, intermediate, output).
    List<OnnxInitializer> matmuls = inits.stream().filter(i -> i.name().startsWith("onnx::MatMul_")).toList();
    assertEquals(36, matmuls.size());
    assertEquals(24, matmuls.stream().filter(i -> Arrays.equals(i.dims(), new long[] {384, 384})).count());
    assertEquals(6, matmuls.stream().filter(i -> Arrays.equals(i.dims(), new long[] {384, 1536})).count());
    assertEquals(6, matmuls.stream().filter(i -> Arrays.equals(i.dims(), new long[] {1536, 384})).count());
  }

  /** Every float initializer is named after the node that uses it, the MatMuls by layer and module. */
  @Test
  void initializersAreNamedAfterTheirNodes() {
    Map<String, String> nodes = model.nodeNames();
    assertEquals(101, nodes.size(), "one per compressible initializer");
    assertEquals(101, new HashSet<>(nodes.values()).size(), "unique");
    assertEquals("/embeddings/word_embeddings/Gather", nodes.get("embeddings.word_embeddings.weight"));
    assertEquals("/embeddings/position_embeddings/Gather", nodes.get("embeddings.position_embeddings.weight"));
    assertEquals("/encoder/layer.0/attention/self/query/MatMul", nodes.get("onnx::MatMul_787"));
    assertEquals("/encoder/layer.5/output/dense/MatMul", nodes.get("onnx::MatMul_864"));
    assertEquals("/encoder/layer.2/attention/output/LayerNorm/Mul",
        nodes.get("encoder.layer.2.attention.output.LayerNorm.weight"));
    List<String> modules = List.of("attention/self/query", "attention/self/key",
        "attention/self/value", "attention/output/dense", "intermediate/dense", "output/dense");
    Set<String> matmuls = new HashSet<>();
    for (OnnxInitializer init : model.compressible()) {
      if (init.name().startsWith("onnx::MatMul_")) {
        matmuls.add(nodes.get(init.name()));
      }
    }
    Set<String> expected = new HashSet<>();
    for (int layer = 0; layer < 6; layer++) {
      for (String module : modules) {
        expected.add("/encoder/layer." + layer + "/" + module + "/MatMul");
      }
    }
    assertEquals(expected, matmuls);
  }

  @Test
  void everyF32PayloadDecodesToFiniteFloats() throws IOException {
    long checked = 0;
    try (RangeReader in = file.open()) {
      for (OnnxInitializer init : model.compressible()) {
        Payload p = init.payload();
        byte[] bytes = new byte[(int) p.length()];
        in.readFully(p.offset(), bytes, 0, bytes.length);
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        boolean nonZero = false;
        for (int i = 0; i < init.numel(); i++) {
          float v = b.getFloat();
          if (!Float.isFinite(v)) {
            fail(init.name() + "[" + i + "] = " + v);
          }
          nonZero |= v != 0;
        }
        assertTrue(nonZero || init.numel() == 0, init.name() + " is all zeros: wrong range?");
        checked += init.numel();
      }
    }
    assertTrue(checked > 22_000_000);
  }

  /** Compares what is written with a file, byte by byte, without holding either. */
  static final class SameAs extends OutputStream {
    final RangeReader in;
    final byte[] expected = new byte[1 << 16];
    long pos;

    SameAs(RangeReader in) {
      this.in = in;
    }

    @Override
    public void write(int b) throws IOException {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      while (len > 0) {
        int n = Math.min(len, expected.length);
        in.readFully(pos, expected, 0, n);
        for (int i = 0; i < n; i++) {
          if (expected[i] != b[off + i]) {
            fail("first difference at byte " + (pos + i));
          }
        }
        pos += n;
        off += n;
        len -= n;
      }
    }
  }

  @Test
  void skeletonRoundTripsTheRealFile() throws IOException {
    OnnxSkeleton sk = OnnxSkeleton.of(model);
    ByteArrayOutputStream skeleton = new ByteArrayOutputStream();
    long start = System.nanoTime();
    sk.extract(file, skeleton);
    System.out.printf("skeleton: %d holes, %d of %d bytes kept%n", sk.holes().size(), skeleton.size(), sk.fileLength());
    assertEquals(sk.skeletonLength(), skeleton.size());
    try (RangeReader original = file.open(); RangeReader payloads = file.open()) {
      SameAs out = new SameAs(original);
      PayloadWriter fromFile = (name, length, o) -> {
        Payload p = model.initializer(name).payload();
        byte[] bytes = new byte[(int) length];
        payloads.readFully(p.offset(), bytes, 0, bytes.length);
        o.write(bytes);
      };
      long n = sk.write(new ByteArrayInputStream(skeleton.toByteArray()), fromFile, out);
      assertEquals(sk.fileLength(), n);
      assertEquals(sk.fileLength(), out.pos);
    }
    System.out.printf("skeleton cut and rebuilt in %.1f ms%n", (System.nanoTime() - start) / 1e6);
  }

  @Test
  void rewriteOneTensorOfTheRealFile() throws IOException {
    OnnxInitializer target = model.initializer("embeddings.position_embeddings.weight");
    byte[] zeros = new byte[(int) target.payload().length()];
    Path copy = dir.resolve("rewritten.onnx");
    try (OutputStream out = Files.newOutputStream(copy)) {
      OnnxRewriter.rewrite(model, file, Map.of(target.name(), zeros), out);
    }
    assertEquals(Files.size(path), Files.size(copy));
    OnnxModel again = OnnxModelReader.read(new LocalInputFile(copy));
    assertEquals(model.initializers().size(), again.initializers().size());
    for (int i = 0; i < model.initializers().size(); i++) {
      assertEquals(model.initializers().get(i).payload().offset(), again.initializers().get(i).payload().offset());
    }
    byte[] bytes = new byte[zeros.length];
    try (RangeReader in = new LocalInputFile(copy).open()) {
      in.readFully(target.payload().offset(), bytes, 0, bytes.length);
    }
    assertArrayEquals(zeros, bytes);
  }
}
