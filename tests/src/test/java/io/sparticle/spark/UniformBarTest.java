package io.sparticle.spark;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.format.DType;
import io.sparticle.format.SafetensorsLayout;
import io.sparticle.format.onnx.OnnxInitializer;
import io.sparticle.format.onnx.OnnxModel;
import io.sparticle.format.onnx.OnnxModelReader;
import io.sparticle.io.LocalInputFile;
import io.sparticle.io.RangeReader;
import io.sparticle.plan.JobConfig;
import io.sparticle.quant.HalfFloats;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The uniform method's bar (issue 10): 8-bit per-channel SQNR >= 40 dB on BF16 weights, on real
 * ones: all-MiniLM-L6-v2's matrices rounded to BF16 and written as a safetensors checkpoint with
 * output channels as rows ([out, in], as a PyTorch Linear stores them). Prints the SQNR; run it
 * with {@code mvn -B -pl tests verify -Dtest=UniformBarTest}.
 */
class UniformBarTest {
  @TempDir Path tmp;

  @Test
  void eightBitPerChannelOnRealBf16WeightsReachesFortyDecibels() throws Exception {
    Path onnx = tmp.resolve("onnx/all-minilm-l6-v2.onnx");
    Files.createDirectories(onnx.getParent());
    try (InputStream in = UniformBarTest.class.getResourceAsStream("/all-minilm-l6-v2.onnx")) {
      Files.copy(in, onnx);
    }
    Path model = tmp.resolve("bf16/model.safetensors");
    Files.createDirectories(model.getParent());
    writeBf16(onnx, model);
    for (String scope : List.of("channel", "block")) {
      CompressReport r = Sparticle.compress(SharedSpark.get()).input(model.toString())
          .output(tmp.resolve("u8-" + scope).toString())
          .config(JobConfig.fromYaml(null, Map.of("method", "uniform", "scope", scope, "bits", "8")))
          .execute();
      System.out.printf(Locale.ROOT, "all-MiniLM-L6-v2 in BF16, uniform/%s 8 bits: %.2f dB at %.3f bits/weight%n",
          scope, r.total().sqnrDb(), r.bitsPerWeight());
      assertTrue(r.total().sqnrDb() >= 40, scope + ": " + r.total().sqnrDb() + " dB");
    }
  }

  /** The model's rank-2 F32 initializers as BF16, MatMul weights transposed to [out, in]. */
  private static void writeBf16(Path onnx, Path out) throws Exception {
    OnnxModel m = OnnxModelReader.read(onnx);
    SafetensorsLayout.Builder b = SafetensorsLayout.builder();
    List<byte[]> data = new ArrayList<>();
    try (RangeReader r = new LocalInputFile(onnx).open()) {
      for (OnnxInitializer init : m.compressible()) {
        if (init.dataType() != OnnxInitializer.FLOAT || init.rank() != 2) {
          continue;
        }
        int rows = (int) init.dims()[0];
        int cols = (int) init.dims()[1];
        byte[] raw = new byte[Math.toIntExact(init.payload().length())];
        r.readFully(init.payload().offset(), raw, 0, raw.length);
        FloatBuffer f = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        boolean matmul = init.name().startsWith("onnx::MatMul");
        ByteBuffer bf = ByteBuffer.allocate(rows * cols * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < rows; i++) {
          for (int j = 0; j < cols; j++) {
            int at = matmul ? j * rows + i : i * cols + j;
            bf.putShort(at * 2, HalfFloats.floatToBf16(f.get(i * cols + j)));
          }
        }
        b.add(init.name().replace("::", "."), DType.BF16,
            matmul ? new long[] {cols, rows} : new long[] {rows, cols});
        data.add(bf.array());
      }
    }
    SafetensorsLayout layout = b.build();
    try (OutputStream os = Files.newOutputStream(out)) {
      os.write(layout.headerBytes());
      for (byte[] d : data) {
        os.write(d);
      }
    }
  }
}
