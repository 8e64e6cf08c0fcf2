package io.sparticle.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.io.LocalDirectory;
import io.sparticle.io.LocalInputFile;
import io.sparticle.io.LocalOutputFile;
import io.sparticle.io.OutputFile;
import io.sparticle.io.RangeReader;
import io.sparticle.quant.CodebookPrecision;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.EncodingSpec.Method;
import io.sparticle.quant.EncodingSpec.ScalePrecision;
import io.sparticle.quant.EncodingSpec.Scope;
import io.sparticle.quant.HalfFloats;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The format package alone, no Spark: {@link CheckpointWriter} writes a part and the codebooks
 * through {@link LocalOutputFile}, {@link CompressedCheckpoint} reads them back through
 * {@link LocalDirectory}, and {@link TensorDecoder} writes exactly the error the writer measured.
 */
class CheckpointWriterReaderTest {
  @TempDir Path tmp;

  static List<EncodingSpec> specs() {
    return List.of(
        EncodingSpec.kmeansGroup(4, CodebookPrecision.F32, true),
        EncodingSpec.kmeansGroup(3, CodebookPrecision.step(0.125f), false),
        new EncodingSpec(Method.KMEANS, 3, Scope.CHANNEL, 0, CodebookPrecision.F16, ScalePrecision.F16, false),
        new EncodingSpec(Method.KMEANS, 2, Scope.CHANNEL, 0, CodebookPrecision.step(0.01f), ScalePrecision.F16, false),
        new EncodingSpec(Method.UNIFORM, 4, Scope.TENSOR, 0, CodebookPrecision.F32, ScalePrecision.F32, false),
        new EncodingSpec(Method.UNIFORM, 8, Scope.CHANNEL, 0, CodebookPrecision.F32, ScalePrecision.F16, false),
        new EncodingSpec(Method.UNIFORM, 3, Scope.BLOCK, 16, CodebookPrecision.F32, ScalePrecision.F16, false));
  }

  @ParameterizedTest
  @MethodSource("specs")
  void writesAndReadsBackEveryMethod(EncodingSpec spec) throws Exception {
    // Source: a BF16 [12, 40] tensor (channels are rows) and an F32 [40, 9] one read by columns.
    SplittableRandom rnd = new SplittableRandom(spec.hashCode());
    long[] shapeA = {12, 40};
    long[] shapeB = {40, 9};
    float[] a = new float[480];
    float[] b = new float[360];
    byte[] dataA = new byte[a.length * 2];
    byte[] dataB = new byte[b.length * 4];
    for (int i = 0; i < a.length; i++) {
      a[i] = HalfFloats.bf16ToFloat(HalfFloats.floatToBf16((float) (rnd.nextGaussian() * 0.05)));
      LittleEndian.put16(dataA, i * 2, HalfFloats.floatToBf16(a[i]));
    }
    for (int i = 0; i < b.length; i++) {
      b[i] = (float) (rnd.nextGaussian() * (i % 9 == 4 ? 2 : 0.1));
      LittleEndian.put32(dataB, i * 4, Float.floatToRawIntBits(b[i]));
    }
    SafetensorsLayout src = SafetensorsLayout.builder().add("a", DType.BF16, shapeA)
        .add("b", DType.F32, shapeB).build();
    Path source = tmp.resolve("model.safetensors");
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    bytes.write(src.headerBytes());
    bytes.write(dataA);
    bytes.write(dataB);
    Files.write(source, bytes.toByteArray());

    // Group codebooks (when shared) are given: what the MLlib fit would return.
    float[] codebook = null;
    if (spec.sharedCodebook()) {
      codebook = new float[spec.k()];
      for (int c = 0; c < codebook.length; c++) {
        codebook[c] = spec.codebookPrecision().round(-1.5f + 3f * c / (codebook.length - 1));
      }
    }
    int[] axes = {0, 1};
    float[] scales = {spec.perTensorScale() ? 0.05f : 1f, spec.perTensorScale() ? 0.3f : 1f};
    String[] names = {"a", "b"};
    long[][] shapes = {shapeA, shapeB};
    DType[] dtypes = {DType.BF16, DType.F32};
    List<CheckpointWriter.Entry> part = new java.util.ArrayList<>();
    List<CheckpointWriter.Item> items = new ArrayList<>();
    List<Manifest.TensorEntry> entries = new ArrayList<>();
    for (int t = 0; t < 2; t++) {
      long numel = TensorInfo.numel(shapes[t]);
      part.add(new CheckpointWriter.Entry(names[t], DType.U8, new long[] {(numel * spec.bits() + 7) / 8}));
      long units = StoredTensor.layout(spec, shapes[t], axes[t]).numUnits();
      String cb = null;
      String sc = null;
      String ze = null;
      if (spec.method() == Method.KMEANS && !spec.sharedCodebook()) {
        cb = names[t] + "::codebook";
        part.add(new CheckpointWriter.Entry(cb, Centroids.dtype(spec.codebookPrecision()), new long[] {units, spec.k()}));
      } else if (spec.method() == Method.UNIFORM) {
        sc = names[t] + "::scale";
        ze = names[t] + "::zero";
        part.add(new CheckpointWriter.Entry(sc, spec.scalePrecision() == ScalePrecision.F32 ? DType.F32 : DType.F16, new long[] {units}));
        part.add(new CheckpointWriter.Entry(ze, DType.U8, new long[] {units}));
      }
      long offset = src.dataStart() + src.tensor(names[t]).begin();
      items.add(new CheckpointWriter.Item(t, names[t], source.toString(), Files.size(source),
          dtypes[t], offset, shapes[t], src.tensor(names[t]).byteLength(), 0, axes[t], scales[t]));
      entries.add(new Manifest.TensorEntry(names[t], dtypes[t].name(), shapes[t], "model.safetensors",
          Manifest.ENCODING_CODES, 0, spec.bits(), scales[t], Manifest.PACKING_LSB,
          "part-00001-of-00001.safetensors", names[t], spec.scope() == Scope.CHANNEL ? axes[t] : -1,
          cb, sc, ze));
    }
    SafetensorsLayout layout = CheckpointWriter.layout(part);
    Path out = tmp.resolve("out");
    Files.createDirectories(out);
    CheckpointWriter.Part written;
    try (RangeReader in = new LocalInputFile(source).open()) {
      written = CheckpointWriter.writePart(new LocalOutputFile(out.resolve("part-00001-of-00001.safetensors")),
          part, items, new EncodingSpec[] {spec},
          new float[][] {codebook}, 256, (path, length) -> in, () -> { });
    }
    OutputFile.Committed books = CheckpointWriter.writeSmall(
        new LocalOutputFile(out.resolve("codebooks.safetensors")),
        CheckpointWriter.codebooksFile(new EncodingSpec[] {spec}, new String[] {"group.00000"},
            new float[][] {codebook}));
    Manifest manifest = new Manifest(2, List.of(), "test",
        new Manifest.Source("safetensors", List.of(new Manifest.SourceFileEntry("model.safetensors",
            Files.size(source), Map.of())), false, null),
        "codebooks.safetensors",
        List.of(new Manifest.FileEntry("part-00001-of-00001.safetensors", written.committed().size(),
            written.committed().crc32c()), new Manifest.FileEntry("codebooks.safetensors", books.size(), books.crc32c())),
        List.of(new Manifest.GroupEntry("g", spec, spec.sharedCodebook() ? "group.00000" : null)),
        entries);
    CheckpointWriter.writeSmall(new LocalOutputFile(out.resolve(Manifest.FILE_NAME)), manifest.toJson());

    // Not committed yet: the reader refuses it.
    assertThrows(CheckpointFormatException.class, () -> CompressedCheckpoint.open(new LocalDirectory(out)));
    Files.createFile(out.resolve(CompressedCheckpoint.SUCCESS));
    CompressedCheckpoint read = CompressedCheckpoint.open(new LocalDirectory(out));
    List<StoredTensor> stored = read.tensors();
    assertEquals(2, stored.size());
    float[][] originals = {a, b};
    try (RangeReader part1 = new LocalInputFile(out.resolve("part-00001-of-00001.safetensors")).open()) {
      for (int t = 0; t < 2; t++) {
        ByteArrayOutputStream decoded = new ByteArrayOutputStream();
        TensorDecoder.decode(stored.get(t), part1, decoded::write, 256, () -> { });
        byte[] d = decoded.toByteArray();
        double se = 0;
        for (int i = 0; i < originals[t].length; i++) {
          float v = dtypes[t] == DType.BF16 ? HalfFloats.bf16ToFloat((short) LittleEndian.u16(d, i * 2))
              : Float.intBitsToFloat(LittleEndian.i32(d, i * 4));
          double e = (double) originals[t][i] - v;
          se += e * e;
        }
        // The error the writer measured is the error of what the decoder writes.
        assertEquals(written.errors().get(t).stats().sumSquaredError(), se,
            1e-12 * Math.max(se, 1e-30), spec.describe() + " tensor " + names[t]);
        assertTrue(se > 0 || spec.bits() == 8, spec.describe());
      }
    }
    assertFalse(Files.list(out).anyMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temp files");
  }
}
