package io.sparticle.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.io.LocalDirectory;
import io.sparticle.io.LocalInputFile;
import io.sparticle.io.LocalOutputFile;
import io.sparticle.io.OutputFile;
import io.sparticle.io.RangeReader;
import io.sparticle.quant.CodebookPrecision;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.EncodingSpec.Entropy;
import io.sparticle.quant.EncodingSpec.Method;
import io.sparticle.quant.EncodingSpec.ScalePrecision;
import io.sparticle.quant.EncodingSpec.Scope;
import io.sparticle.quant.HalfFloats;
import java.io.ByteArrayOutputStream;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Codes of every packing read back through {@link CodeReader}, and the weights they decode to
 * through {@link TensorDecoder}: parts written by {@link CheckpointWriter} without Spark, read by
 * {@link CompressedCheckpoint}, compared with values computed here from the spec's definitions.
 */
class CodeReaderTest {
  @TempDir Path tmp;

  private static final String PART = "part-00001-of-00001.safetensors";

  /** One source tensor: its name, dtype, shape, values (already in its dtype) and vq axis. */
  record Source(String name, DType dtype, long[] shape, float[] values, int axis, float scale) {}

  private static Source source(String name, DType dtype, long[] shape, long seed, double std,
      int axis, float scale) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] v = new float[(int) TensorInfo.numel(shape)];
    for (int i = 0; i < v.length; i++) {
      float x = (float) (r.nextGaussian() * std);
      v[i] = switch (dtype) {
        case BF16 -> HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(x));
        case F16 -> HalfFloats.f16ToFloat(HalfFloats.floatToF16(x));
        default -> x;
      };
    }
    return new Source(name, dtype, shape, v, axis, scale);
  }

  /** Writes one part of {@code sources}, all in one group of {@code spec}; opens it. */
  private CompressedCheckpoint write(String dir, EncodingSpec spec, float[] codebook,
      Source... sources) throws Exception {
    Path root = tmp.resolve(dir);
    Files.createDirectories(root);
    SafetensorsLayout.Builder sb = SafetensorsLayout.builder();
    for (Source s : sources) {
      sb.add(s.name(), s.dtype(), s.shape());
    }
    SafetensorsLayout src = sb.build();
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    bytes.write(src.headerBytes());
    for (Source s : sources) {
      byte[] d = new byte[s.values().length * s.dtype().byteSize()];
      for (int i = 0; i < s.values().length; i++) {
        switch (s.dtype()) {
          case BF16 -> LittleEndian.put16(d, 2 * i, HalfFloats.floatToBf16(s.values()[i]));
          case F16 -> LittleEndian.put16(d, 2 * i, HalfFloats.floatToF16(s.values()[i]));
          default -> LittleEndian.put32(d, 4 * i, Float.floatToRawIntBits(s.values()[i]));
        }
      }
      bytes.write(d);
    }
    Path model = root.resolve("model.safetensors");
    Files.write(model, bytes.toByteArray());

    List<CheckpointWriter.Entry> entries = new ArrayList<>();
    List<CheckpointWriter.Item> items = new ArrayList<>();
    List<Manifest.TensorEntry> tensors = new ArrayList<>();
    boolean entropy = spec.entropy() != Entropy.NONE;
    for (int t = 0; t < sources.length; t++) {
      Source s = sources[t];
      long numCodes = TensorInfo.numel(s.shape()) / spec.dim();
      entries.add(new CheckpointWriter.Entry(s.name(), DType.U8,
          new long[] {(numCodes * spec.codeBits() + 7) / 8}));
      String segments = null;
      if (entropy) {
        segments = s.name() + "::segments";
        entries.add(new CheckpointWriter.Entry(segments, DType.U64,
            new long[] {(numCodes + spec.segmentCodes() - 1) / spec.segmentCodes()}));
      }
      items.add(new CheckpointWriter.Item(t, s.name(), model.toString(), Files.size(model),
          s.dtype(), src.dataStart() + src.tensor(s.name()).begin(), s.shape(),
          src.tensor(s.name()).byteLength(), 0, s.axis(), s.scale()));
      tensors.add(new Manifest.TensorEntry(s.name(), s.dtype().name(), s.shape(),
          "model.safetensors", Manifest.ENCODING_CODES, 0, spec.bits(), s.scale(),
          spec.entropy().packing(), PART, s.name(), spec.vector() ? s.axis() : -1, null, null,
          null, null, null, null, segments));
    }
    Path out = root.resolve("out");
    Files.createDirectories(out);
    CheckpointWriter.Part written;
    try (RangeReader in = new LocalInputFile(model).open()) {
      written = CheckpointWriter.writePart(new LocalOutputFile(out.resolve(PART)), entries, items,
          new EncodingSpec[] {spec}, new float[][] {codebook}, 4096, (p, l) -> in, () -> { });
    }
    OutputFile.Committed books = CheckpointWriter.writeSmall(
        new LocalOutputFile(out.resolve("codebooks.safetensors")),
        CheckpointWriter.codebooksFile(new EncodingSpec[] {spec}, new String[] {"group.00000"},
            new float[][] {codebook}));
    Manifest manifest = new Manifest(2, List.of(), "test",
        new Manifest.Source("safetensors", List.of(new Manifest.SourceFileEntry(
            "model.safetensors", Files.size(model), Map.of())), false, null),
        "codebooks.safetensors",
        List.of(new Manifest.FileEntry(PART, written.committed().size(), written.committed().crc32c()),
            new Manifest.FileEntry("codebooks.safetensors", books.size(), books.crc32c())),
        List.of(new Manifest.GroupEntry("g", spec, "group.00000")), tensors);
    CheckpointWriter.writeSmall(new LocalOutputFile(out.resolve(Manifest.FILE_NAME)), manifest.toJson());
    Files.createFile(out.resolve(CompressedCheckpoint.SUCCESS));
    // The writer's code bytes (with the segment index) are what the part stores.
    CompressedCheckpoint c = CompressedCheckpoint.open(new LocalDirectory(out));
    List<StoredTensor> stored = c.tensors();
    for (int t = 0; t < sources.length; t++) {
      StoredTensor st = stored.get(t);
      long index = st.segments() == null ? 0 : st.segments().byteLength();
      assertEquals(written.errors().get(t).codeBytes(), st.byteLength() + index, st.name());
    }
    return c;
  }

  private static float[] decode(StoredTensor t) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (RangeReader in = new LocalInputFile(Path.of(t.dataFile())).open()) {
      TensorDecoder.decode(t, in, out::write, 1000, () -> { });
    }
    byte[] b = out.toByteArray();
    float[] v = new float[(int) t.numel()];
    for (int i = 0; i < v.length; i++) {
      v[i] = switch (t.dtype()) {
        case BF16 -> HalfFloats.bf16ToFloat((short) LittleEndian.u16(b, 2 * i));
        case F16 -> HalfFloats.f16ToFloat((short) LittleEndian.u16(b, 2 * i));
        default -> Float.intBitsToFloat(LittleEndian.i32(b, 4 * i));
      };
    }
    return v;
  }

  private static int[] codes(StoredTensor t) throws Exception {
    try (RangeReader in = new LocalInputFile(Path.of(t.dataFile())).open()) {
      CodeReader r = CodeReader.open(t, in);
      int[] c = new int[(int) t.numCodes()];
      r.read(0, c.length, c);
      return c;
    }
  }

  private static float round(DType d, float x) {
    return switch (d) {
      case BF16 -> HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(x));
      case F16 -> HalfFloats.f16ToFloat(HalfFloats.floatToF16(x));
      default -> x;
    };
  }

  /** 16 ascending centroids with no simple midpoints. */
  private static float[] scalarCodebook() {
    float[] c = new float[16];
    SplittableRandom r = new SplittableRandom(99);
    for (int i = 0; i < 16; i++) {
      c[i] = (float) ((i - 7.5) * 0.37 + r.nextDouble() * 0.01);
    }
    return c;
  }

  /** The nearest centroid, scanned in double: for these data no weight sits on a midpoint. */
  private static int nearest(float[] c, double x) {
    int best = 0;
    for (int i = 1; i < c.length; i++) {
      if (Math.abs(x - c[i]) < Math.abs(x - c[best])) {
        best = i;
      }
    }
    return best;
  }

  // ---- bit-packed scalar codes of a shared codebook ----

  @Test
  void sharedCodebookCodesOfEveryWidthAndDtypeEncodeAndDecodeAcrossReadsAndOddTails()
      throws Exception {
    // 7,007 weights: several reads of the writer (4096 bytes) and the decoder (1000 bytes) and
    // an odd tail, so packed bytes end part-filled for every width below 8.
    for (int bits = 1; bits <= 8; bits++) {
      float[] book = new float[1 << bits];
      SplittableRandom r = new SplittableRandom(bits);
      for (int i = 0; i < book.length; i++) {
        book[i] = (float) ((i - (book.length - 1) / 2.0) * 3.0 / book.length + r.nextDouble() * 1e-3);
      }
      EncodingSpec spec = EncodingSpec.kmeansGroup(bits, CodebookPrecision.F32, true);
      Source[] sources = {source("bf16", DType.BF16, new long[] {7, 1001}, bits, 0.9, 0, 0.5f),
          source("f16", DType.F16, new long[] {7, 1001}, bits + 10, 0.9, 0, 0.5f),
          source("f32", DType.F32, new long[] {7, 1001}, bits + 20, 0.9, 0, 0.5f)};
      List<StoredTensor> stored = write("bits" + bits, spec, book, sources).tensors();
      for (int t = 0; t < sources.length; t++) {
        Source s = sources[t];
        int[] got = codes(stored.get(t));
        float[] decoded = decode(stored.get(t));
        for (int i = 0; i < got.length; i++) {
          int want = nearest(book, s.values()[i] / 0.5);
          assertEquals(want, got[i], bits + " bits, " + s.name() + " weight " + i);
          assertEquals(round(s.dtype(), book[want] * 0.5f), decoded[i],
              bits + " bits, " + s.name() + " weight " + i);
        }
      }
    }
  }

  // ---- entropy-coded scalar codes ----

  @Test
  void entropyCodedCodesAcrossSegmentsReadAsTheirBitPackedTwins() throws Exception {
    // 1,100,000 BF16 weights: two segments of 2^20 codes and a short one's worth... one full, one
    // of 51,424.
    Source big = source("big", DType.BF16, new long[] {1100, 1000}, 1, 0.9, 0, 0.5f);
    Source small = source("small", DType.F32, new long[] {3, 7}, 2, 0.9, 0, 2f);
    float[] book = scalarCodebook();
    EncodingSpec lsb = EncodingSpec.kmeansGroup(4, CodebookPrecision.F32, true);
    List<StoredTensor> plain = write("lsb", lsb, book, big, small).tensors();
    for (Entropy e : new Entropy[] {Entropy.RANS, Entropy.HUFFMAN}) {
      List<StoredTensor> coded = write(e.key(), lsb.withEntropy(e), book, big, small).tensors();
      StoredTensor t = coded.get(0);
      assertEquals(2, t.segments().byteLength() / 8, "two segments");
      assertEquals(1 << 20, t.segmentCodes());
      assertTrue(t.byteLength() < plain.get(0).byteLength(), e + ": " + t.byteLength());
      int[] want = codes(plain.get(0));
      assertArrayEquals(want, codes(t), e.key());
      // The codes are the nearest centroids of weight / scale.
      for (int i = 0; i < want.length; i += 997) {
        assertEquals(nearest(book, big.values()[i] / 0.5), want[i], "weight " + i);
      }
      // Reads anywhere, in any order, across the segment boundary, give the same codes.
      try (RangeReader in = new LocalInputFile(Path.of(t.dataFile())).open()) {
        CodeReader r = CodeReader.open(t, in);
        SplittableRandom rnd = new SplittableRandom(5);
        long[][] reads = {{(1 << 20) - 3, 10}, {0, 1}, {1_099_999, 1}, {(1 << 20) - 1, 1},
            {1 << 20, 7}, {13, 2_000_000 / 2}, {1_048_000, 51_000}};
        for (long[] read : reads) {
          int[] got = new int[(int) read[1]];
          r.read(read[0], got.length, got);
          assertArrayEquals(Arrays.copyOfRange(want, (int) read[0], (int) (read[0] + read[1])), got,
              e + " read " + Arrays.toString(read));
        }
        for (int k = 0; k < 50; k++) {
          int first = rnd.nextInt(want.length);
          int n = rnd.nextInt(Math.min(5000, want.length - first) + 1);
          int[] got = new int[n];
          r.read(first, n, got);
          assertArrayEquals(Arrays.copyOfRange(want, first, first + n), got, e + " at " + first);
        }
        String m = assertThrows(IllegalArgumentException.class,
            () -> r.read(1_099_999, 2, new int[2])).getMessage();
        assertEquals("codes [1099999, 1100001) of 1100000 in 'big'", m);
      }
      // Decoded weights: byte for byte those of the bit-packed twin.
      for (int i = 0; i < 2; i++) {
        assertArrayEquals(decode(plain.get(i)), decode(coded.get(i)), e + " " + coded.get(i).name());
      }
      float[] small1 = decode(coded.get(1));
      for (int i = 0; i < small1.length; i++) {
        assertEquals(book[nearest(book, small.values()[i] / 2.0)] * 2f, small1[i], "small " + i);
      }
    }
  }

  // ---- vq ----

  private static float[] vqCodebook(int k, int d, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] c = new float[k * d];
    for (int i = 0; i < c.length; i++) {
      c[i] = (float) r.nextGaussian();
    }
    return c;
  }

  /** The spec's nearest codeword: float distances left to right, lowest index on ties. */
  private static int nearestWord(float[] c, int d, float[] x) {
    int best = 0;
    float bestDist = Float.POSITIVE_INFINITY;
    for (int i = 0; i < c.length / d; i++) {
      float dist = 0;
      for (int t = 0; t < d; t++) {
        float e = x[t] - c[i * d + t];
        dist = t == 0 ? e * e : dist + e * e;
      }
      if (dist < bestDist) {
        bestDist = dist;
        best = i;
      }
    }
    return best;
  }

  /** What a vq tensor decodes to, from the definition (FORMAT.md 2.10). */
  private static float[] expectVq(Source s, float[] c, int d) {
    float[] v = s.values();
    float[] out = new float[v.length];
    long[] shape = s.shape();
    boolean strided = s.axis() == 0 && shape.length >= 2;
    int row = strided ? (int) (v.length / shape[0]) : 1;
    float[] x = new float[d];
    for (int sub = 0; sub < v.length / d; sub++) {
      int[] at = new int[d];
      for (int t = 0; t < d; t++) {
        at[t] = strided ? ((sub / row) * d + t) * row + sub % row : sub * d + t;
        x[t] = v[at[t]] / s.scale();
      }
      int code = nearestWord(c, d, x);
      for (int t = 0; t < d; t++) {
        out[at[t]] = round(s.dtype(), c[code * d + t] * s.scale());
      }
    }
    return out;
  }

  @Test
  void vqDecodesToTheNearestCodewordsAlongEitherAxis() throws Exception {
    float[] book = vqCodebook(256, 4, 7);
    // Along the last axis (safetensors [out, in]) and along axis 0 (ONNX [in, out]); a chunk of
    // 1000 bytes cuts both into several pieces.
    Source rows = source("rows", DType.F32, new long[] {24, 64}, 3, 1.0, 1, 1f);
    Source cols = source("cols", DType.BF16, new long[] {64, 24}, 4, 0.5, 0, 0.5f);
    Source flat = source("flat", DType.F16, new long[] {400}, 5, 1.0, 0, 1f);
    for (Entropy e : Entropy.values()) {
      EncodingSpec spec = new EncodingSpec(Method.VQ, 2, Scope.GROUP, 0, CodebookPrecision.F32,
          ScalePrecision.F16, false, 0, 4, 0, e);
      List<StoredTensor> stored = write("vq-" + e.key(), spec, book, rows, cols, flat).tensors();
      Source[] sources = {rows, cols, flat};
      for (int i = 0; i < 3; i++) {
        StoredTensor t = stored.get(i);
        assertEquals(sources[i].axis(), t.axis());
        assertEquals(TensorInfo.numel(sources[i].shape()) / 4, t.numCodes());
        assertEquals(e == Entropy.NONE, t.segments() == null);
        assertArrayEquals(expectVq(sources[i], book, 4), decode(t), e + " " + t.name());
      }
    }
  }

  @Test
  void sixteenBitVqCodesEntropyCoded() throws Exception {
    // k = 65,536 codewords of d = 2: codes of 16 bits, a sparse alphabet for the coder's table.
    float[] book = vqCodebook(1 << 16, 2, 8);
    Source s = source("w", DType.F32, new long[] {4, 64}, 6, 1.0, 1, 1f);
    EncodingSpec lsb = new EncodingSpec(Method.VQ, 8, Scope.GROUP, 0, CodebookPrecision.F32,
        ScalePrecision.F16, false, 0, 2, 0, Entropy.NONE);
    float[] want = expectVq(s, book, 2);
    int[] plain = codes(write("vq16", lsb, book, s).tensors().get(0));
    for (Entropy e : new Entropy[] {Entropy.HUFFMAN, Entropy.RANS}) {
      StoredTensor t = write("vq16-" + e.key(), lsb.withEntropy(e), book, s).tensors().get(0);
      assertEquals(64 << 16, t.segmentCodes());
      assertArrayEquals(plain, codes(t), e.key());
      assertArrayEquals(want, decode(t), e.key());
    }
  }

  // ---- corrupt segment indexes ----

  private static void putU64(Path file, long at, long value) throws Exception {
    byte[] b = new byte[8];
    LittleEndian.put64(b, 0, value);
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.seek(at);
      f.write(b);
    }
  }

  private static long getU64(Path file, long at) throws Exception {
    byte[] b = new byte[8];
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
      f.seek(at);
      f.readFully(b);
    }
    return LittleEndian.i64(b, 0);
  }

  @Test
  void aCorruptSegmentIndexOrSegmentNamesTheTensor() throws Exception {
    Source big = source("big", DType.BF16, new long[] {1100, 1000}, 1, 0.9, 0, 1f);
    EncodingSpec spec = EncodingSpec.kmeansGroup(4, CodebookPrecision.F32, false)
        .withEntropy(Entropy.RANS);
    StoredTensor t = write("corrupt", spec, scalarCodebook(), big).tensors().get(0);
    Path part = Path.of(t.dataFile());
    long index = t.segments().offset();
    long end0 = getU64(part, index);
    long end1 = getU64(part, index + 8);
    assertEquals(t.byteLength(), end1);
    assertTrue(end0 > 0 && end0 < end1);
    String prefix = t.dataFile() + ": tensor 'big': ";

    putU64(part, index, end1 + 1);
    CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> codes(t));
    assertEquals(CheckpointFormatException.Reason.INVALID_COMPRESSED, e.reason());
    assertEquals("big", e.tensor());
    assertEquals(prefix + "segment 0 ends at byte " + (end1 + 1) + ", outside [0, " + end1 + "]",
        e.getMessage());

    putU64(part, index, -1);
    e = assertThrows(CheckpointFormatException.class, () -> codes(t));
    assertEquals(prefix + "segment 0 ends at byte -1, outside [0, " + end1 + "]", e.getMessage());

    putU64(part, index, end0);
    putU64(part, index + 8, end0 - 1);
    e = assertThrows(CheckpointFormatException.class, () -> codes(t));
    assertEquals(prefix + "segment 1 ends at byte " + (end0 - 1) + ", outside [" + end0 + ", "
        + end1 + "]", e.getMessage());

    putU64(part, index + 8, end1 - 1);
    e = assertThrows(CheckpointFormatException.class, () -> codes(t));
    assertEquals(prefix + "its segments end at byte " + (end1 - 1) + " but its codes hold " + end1
        + " bytes", e.getMessage());

    // Segments moved: segment 0 one byte short decodes with a stream cut, segment 1 starts late.
    putU64(part, index + 8, end1);
    putU64(part, index, end0 - 1);
    e = assertThrows(CheckpointFormatException.class, () -> codes(t));
    assertTrue(e.getMessage().startsWith(prefix + "segment 0 of its rans codes: "), e.getMessage());

    // A good index again, and a flipped tag byte at the start of segment 1.
    putU64(part, index, end0);
    assertEquals(1_100_000, codes(t).length);
    try (RandomAccessFile f = new RandomAccessFile(part.toFile(), "rw")) {
      f.seek(t.offset() + end0);
      f.write(0x11);
    }
    try (RangeReader in = new LocalInputFile(part).open()) {
      CodeReader r = CodeReader.open(t, in);
      int[] head = new int[100];
      r.read(0, 100, head); // segment 0 is intact
      e = assertThrows(CheckpointFormatException.class, () -> r.read(1 << 20, 1, new int[1]));
      assertTrue(e.getMessage().startsWith(prefix + "segment 1 of its rans codes: "), e.getMessage());
      assertTrue(e.getMessage().contains("tag is 0x11, expected 0x12"), e.getMessage());
      // The failed segment is not kept as loaded: asking again fails again.
      assertThrows(CheckpointFormatException.class, () -> r.read((1 << 20) + 5, 1, new int[1]));
      r.read(5, 3, new int[3]);
    }
    ByteArrayOutputStream sink = new ByteArrayOutputStream();
    try (RangeReader in = new LocalInputFile(part).open()) {
      e = assertThrows(CheckpointFormatException.class,
          () -> TensorDecoder.decode(t, in, sink::write, 1 << 16, () -> { }));
    }
    assertTrue(e.getMessage().startsWith(prefix + "segment 1 of its rans codes: "), e.getMessage());
    assertNull(null);
  }
}
