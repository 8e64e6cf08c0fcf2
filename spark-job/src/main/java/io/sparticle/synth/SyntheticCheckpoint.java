package io.sparticle.synth;

import io.sparticle.format.DType;
import io.sparticle.format.SafetensorsLayout;
import io.sparticle.format.ShardIndex;
import io.sparticle.io.Storage;
import io.sparticle.quant.HalfFloats;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * Writes HF-style Llama-shaped safetensors checkpoints with realistic weight statistics, for
 * tests, demos and benchmarks (no model hub is reachable from here).
 *
 * <p>Weights are Laplace-distributed (heavier tails than Gaussian, as trained weights are) with
 * a per-tensor scale, and a few input channels of every projection are outliers scaled 8x, as in
 * real LLMs. Norm weights are near 1 and one-dimensional (kept dense by the default rules).
 * Deterministic for a given seed.
 *
 * <pre>{@code
 * SyntheticCheckpoint.Shape shape = SyntheticCheckpoint.preset("tiny");
 * SyntheticCheckpoint.write(shape, DType.BF16, 8L << 20, 7, "/tmp/tiny", conf);
 * }</pre>
 */
public final class SyntheticCheckpoint {
  private SyntheticCheckpoint() {}

  /** Model dimensions, named as in Llama configs. */
  public record Shape(int hidden, int kvDim, int intermediate, int layers, int vocab) {}

  public static Shape preset(String name) {
    return switch (name.toLowerCase(Locale.ROOT)) {
      case "tiny" -> new Shape(256, 64, 688, 2, 1024);
      case "small" -> new Shape(512, 128, 1376, 4, 4096);
      case "llama-1b" -> new Shape(2048, 512, 8192, 16, 32000);
      default -> throw new IllegalArgumentException(
          "Unknown preset '" + name + "': use tiny, small or llama-1b");
    };
  }

  record Spec(String name, long[] shape, double std, boolean norm) {
    long numel() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return n;
    }
  }

  static List<Spec> tensors(Shape s) {
    List<Spec> out = new ArrayList<>();
    double h = s.hidden();
    out.add(new Spec("model.embed_tokens.weight", new long[] {s.vocab(), s.hidden()}, 0.02, false));
    for (int l = 0; l < s.layers(); l++) {
      String p = "model.layers." + l + ".";
      out.add(new Spec(p + "input_layernorm.weight", new long[] {s.hidden()}, 0, true));
      out.add(new Spec(p + "self_attn.q_proj.weight", new long[] {s.hidden(), s.hidden()}, 1 / Math.sqrt(h), false));
      out.add(new Spec(p + "self_attn.k_proj.weight", new long[] {s.kvDim(), s.hidden()}, 1 / Math.sqrt(h), false));
      out.add(new Spec(p + "self_attn.v_proj.weight", new long[] {s.kvDim(), s.hidden()}, 0.5 / Math.sqrt(h), false));
      out.add(new Spec(p + "self_attn.o_proj.weight", new long[] {s.hidden(), s.hidden()}, 0.5 / Math.sqrt(h), false));
      out.add(new Spec(p + "post_attention_layernorm.weight", new long[] {s.hidden()}, 0, true));
      out.add(new Spec(p + "mlp.gate_proj.weight", new long[] {s.intermediate(), s.hidden()}, 1 / Math.sqrt(h), false));
      out.add(new Spec(p + "mlp.up_proj.weight", new long[] {s.intermediate(), s.hidden()}, 1 / Math.sqrt(h), false));
      out.add(new Spec(p + "mlp.down_proj.weight", new long[] {s.hidden(), s.intermediate()}, 1 / Math.sqrt(s.intermediate()), false));
    }
    out.add(new Spec("model.norm.weight", new long[] {s.hidden()}, 0, true));
    out.add(new Spec("lm_head.weight", new long[] {s.vocab(), s.hidden()}, 0.02, false));
    return out;
  }

  /**
   * Writes the checkpoint into {@code dir}: {@code model.safetensors} when it fits in one shard,
   * else {@code model-0000i-of-0000n.safetensors} plus {@code model.safetensors.index.json}.
   *
   * @return the number of parameters written
   */
  public static long write(Shape shape, DType dtype, long shardBytes, long seed, String dir,
      Configuration conf) throws IOException {
    if (!dtype.isCompressibleFloat()) {
      throw new IllegalArgumentException("Cannot generate " + dtype + ": use F32, F16 or BF16");
    }
    List<Spec> specs = tensors(shape);
    List<List<Spec>> shards = new ArrayList<>();
    List<Spec> cur = new ArrayList<>();
    long bytes = 0;
    for (Spec t : specs) {
      long b = t.numel() * dtype.byteSize();
      if (!cur.isEmpty() && bytes + b > shardBytes) {
        shards.add(cur);
        cur = new ArrayList<>();
        bytes = 0;
      }
      cur.add(t);
      bytes += b;
    }
    shards.add(cur);

    Path out = new Path(dir);
    FileSystem fs = Storage.forWriting(out, conf);
    fs.mkdirs(out);
    Map<String, String> weightMap = new LinkedHashMap<>();
    long total = 0;
    long totalBytes = 0;
    for (int i = 0; i < shards.size(); i++) {
      String name = shards.size() == 1 ? "model.safetensors"
          : String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
      SafetensorsLayout.Builder b = SafetensorsLayout.builder().metadata("format", "pt");
      for (Spec t : shards.get(i)) {
        b.add(t.name(), dtype, t.shape());
        weightMap.put(t.name(), name);
        total += t.numel();
      }
      SafetensorsLayout layout = b.build();
      totalBytes += layout.fileLength() - layout.dataStart();
      try (OutputStream os = new BufferedOutputStream(fs.create(new Path(out, name), true), 1 << 20)) {
        os.write(layout.headerBytes());
        for (Spec t : shards.get(i)) {
          writeTensor(os, t, dtype, seed);
        }
      }
    }
    if (shards.size() > 1) {
      try (OutputStream os = fs.create(new Path(out, ShardIndex.FILE_NAME), true)) {
        os.write(ShardIndex.of(weightMap, "{\"total_size\":" + totalBytes + "}").toJson());
      }
    }
    return total;
  }

  private static void writeTensor(OutputStream os, Spec t, DType dtype, long seed) throws IOException {
    SplittableRandom rnd = new SplittableRandom(seed * 1_000_003L + t.name().hashCode());
    long rows = t.shape()[0];
    int cols = t.shape().length > 1 ? (int) t.shape()[1] : 1;
    // A few outlier input channels per matrix, as seen in trained LLMs.
    double[] channelScale = new double[cols];
    java.util.Arrays.fill(channelScale, 1.0);
    if (!t.norm()) {
      for (int i = 0; i < Math.max(1, cols / 256); i++) {
        channelScale[rnd.nextInt(cols)] = 8.0;
      }
    }
    // Laplace with standard deviation std has scale b = std / sqrt(2).
    double b = t.std() / Math.sqrt(2);
    int size = dtype.byteSize();
    byte[] row = new byte[cols * size];
    for (long r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        float v;
        if (t.norm()) {
          v = (float) (1.0 + 0.05 * (rnd.nextDouble() - 0.5));
        } else {
          double u = rnd.nextDouble() - 0.5;
          double x = -b * Math.signum(u) * Math.log(1 - 2 * Math.abs(u));
          v = (float) (x * channelScale[c]);
        }
        int p = c * size;
        switch (dtype) {
          case F32 -> {
            int bits = Float.floatToRawIntBits(v);
            row[p] = (byte) bits;
            row[p + 1] = (byte) (bits >>> 8);
            row[p + 2] = (byte) (bits >>> 16);
            row[p + 3] = (byte) (bits >>> 24);
          }
          case F16 -> {
            short s = HalfFloats.floatToF16(v);
            row[p] = (byte) s;
            row[p + 1] = (byte) (s >>> 8);
          }
          default -> {
            short s = HalfFloats.floatToBf16(v);
            row[p] = (byte) s;
            row[p + 1] = (byte) (s >>> 8);
          }
        }
      }
      os.write(row);
    }
  }
}
