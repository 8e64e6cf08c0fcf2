package io.sparticle.spark;

import io.sparticle.format.DType;
import io.sparticle.format.SafetensorsHeader;
import io.sparticle.format.SafetensorsReader;
import io.sparticle.format.TensorInfo;
import io.sparticle.io.LocalInputFile;
import io.sparticle.quant.HalfFloats;
import io.sparticle.synth.SyntheticCheckpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;

/** Test helpers: generate checkpoints, read tensors back as floats, list and compare files. */
public final class Checkpoints {
  private Checkpoints() {}

  /** The tiny preset sharded into ~256 KiB files, so every test sees a real sharded checkpoint. */
  static Path generate(Path dir, DType dtype) throws IOException {
    SyntheticCheckpoint.write(SyntheticCheckpoint.preset("tiny"), dtype, 256 << 10, 7,
        dir.toString(), new Configuration());
    return dir;
  }

  /** Every tensor of every .safetensors file in dir, strictly parsed, as raw bytes. */
  static Map<String, Tensor> readAll(Path dir) throws IOException {
    Map<String, Tensor> out = new LinkedHashMap<>();
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".safetensors")).sorted().toList()) {
        SafetensorsHeader h = SafetensorsReader.readHeader(new LocalInputFile(f));
        try (FileChannel ch = FileChannel.open(f)) {
          for (TensorInfo t : h.tensors()) {
            ByteBuffer b = ByteBuffer.allocate((int) t.byteLength());
            ch.read(b, h.absoluteOffset(t));
            out.put(t.name(), new Tensor(f.getFileName().toString(), t, b.array()));
          }
        }
      }
    }
    return out;
  }

  record Tensor(String file, TensorInfo info, byte[] bytes) {
    float[] floats() {
      DType d = info.dtype();
      ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
      float[] v = new float[(int) info.numel()];
      for (int i = 0; i < v.length; i++) {
        v[i] = switch (d) {
          case F32 -> b.getFloat();
          case F16 -> HalfFloats.f16ToFloat(b.getShort());
          case BF16 -> HalfFloats.bf16ToFloat(b.getShort());
          default -> throw new IllegalArgumentException(d.name());
        };
      }
      return v;
    }
  }

  static List<String> fileNames(Path dir) {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * {@code actual} holds the same files as {@code expected} (recursively, so a stray temp file
   * shows) with the same bytes, except the report's ({@link #isReport}).
   */
  public static void assertSameOutput(Path expected, Path actual) throws IOException {
    List<String> files = regularFiles(expected);
    org.junit.jupiter.api.Assertions.assertEquals(files, regularFiles(actual),
        "same files, nothing stray in " + actual);
    for (String f : files) {
      if (!isReport(f)) {
        org.junit.jupiter.api.Assertions.assertArrayEquals(Files.readAllBytes(expected.resolve(f)),
            Files.readAllBytes(actual.resolve(f)), f);
      }
    }
  }

  /**
   * The report's files: report.json holds timings, and its page and tables (report.html,
   * report/) are not held to the data files' byte-for-byte promise: a cluster run once wrote
   * tables of other bytes than the same run in local mode.
   */
  static boolean isReport(String file) {
    return file.equals("report.json") || file.equals("report.html") || file.startsWith("report/");
  }

  private static List<String> regularFiles(Path dir) throws IOException {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(Files::isRegularFile).map(p -> dir.relativize(p).toString()).sorted().toList();
    }
  }

  static double sqnrDb(float[] original, float[] reconstructed) {
    double sig = 0;
    double err = 0;
    for (int i = 0; i < original.length; i++) {
      sig += (double) original[i] * original[i];
      double d = (double) original[i] - reconstructed[i];
      err += d * d;
    }
    return 10 * Math.log10(sig / err);
  }
}
