package io.sparticle.synth;

import io.sparticle.format.DType;
import io.sparticle.format.SafetensorsLayout;
import io.sparticle.format.ShardIndex;
import io.sparticle.io.Storage;
import io.sparticle.quant.HalfFloats;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * Writes HF-style safetensors checkpoints, Llama-shaped or Mixtral-style mixture-of-experts, with
 * realistic weight statistics, for tests, demos and benchmarks (no model hub is reachable from
 * here).
 *
 * <p>Weights are Laplace-distributed (heavier tails than Gaussian, as trained weights are) with
 * a per-tensor scale, and a few input channels of every projection are outliers scaled 8x, as in
 * real LLMs. Norm weights are near 1 and one-dimensional (kept dense by the default rules).
 * Deterministic for a given seed: every tensor draws from its own generator, seeded by the seed
 * and its name, so tensors are generated in parallel (one per core) and still come out the same.
 *
 * <pre>{@code
 * SyntheticCheckpoint.Preset p = SyntheticCheckpoint.Preset.of("llama-7b");
 * long params = SyntheticCheckpoint.params(p.shape());          // 6,738,415,616, nothing written
 * SyntheticCheckpoint.write(p.shape(), DType.BF16, p.shardBytes(), 7, "/tmp/llama-7b", conf);
 * }</pre>
 */
public final class SyntheticCheckpoint {
  private SyntheticCheckpoint() {}

  /**
   * Model dimensions, named as in Llama and Mixtral configs. With {@code experts > 0} every
   * layer's MLP is a mixture: a router ({@code block_sparse_moe.gate}) and {@code experts}
   * experts of {@code w1}/{@code w3} ({@code expertIntermediate x hidden}) and {@code w2}
   * ({@code hidden x expertIntermediate}), and {@code intermediate} is 0. The language-model head
   * is always a tensor of its own (untied), as in Llama 2 and Mixtral.
   */
  public record Shape(int hidden, int kvDim, int intermediate, int layers, int vocab, int experts,
      int expertIntermediate) {
    public Shape {
      positive("hidden", hidden);
      positive("kvDim", kvDim);
      positive("layers", layers);
      positive("vocab", vocab);
      if (experts < 0) {
        throw new IllegalArgumentException("Cannot set experts to " + experts + ": must be 0 (dense) or more");
      }
      if (experts == 0) {
        positive("intermediate", intermediate);
        if (expertIntermediate != 0) {
          throw new IllegalArgumentException("Cannot set expertIntermediate to " + expertIntermediate
              + " without experts: must be 0");
        }
      } else {
        positive("expertIntermediate", expertIntermediate);
        if (intermediate != 0) {
          throw new IllegalArgumentException("Cannot set intermediate to " + intermediate
              + " with experts: must be 0 (the experts are the MLP)");
        }
      }
    }

    /** A dense Llama-shaped model. */
    public Shape(int hidden, int kvDim, int intermediate, int layers, int vocab) {
      this(hidden, kvDim, intermediate, layers, vocab, 0, 0);
    }

    /** A Mixtral-shaped mixture of experts. */
    public static Shape moe(int hidden, int kvDim, int layers, int vocab, int experts,
        int expertIntermediate) {
      return new Shape(hidden, kvDim, 0, layers, vocab, experts, expertIntermediate);
    }

    private static void positive(String what, int v) {
      if (v <= 0) {
        throw new IllegalArgumentException("Cannot set " + what + " to " + v + ": must be positive");
      }
    }
  }

  /**
   * The named models {@code generate}, {@code demo} and {@code bench} make, each with the largest
   * shard its files are split at (greedily, in tensor order, as HF's {@code save_pretrained}).
   */
  public enum Preset {
    TINY("tiny", new Shape(256, 64, 688, 2, 1024), 16L << 20,
        "Llama-shaped, 2 layers, hidden 256 (1.1M params)"),
    SMALL("small", new Shape(512, 128, 1376, 4, 4096), 16L << 20,
        "Llama-shaped, 4 layers, hidden 512 (15M params)"),
    LLAMA_1B("llama-1b", new Shape(2048, 512, 8192, 16, 32000), 1L << 30,
        "Llama-3.2-1B shapes: hidden 2048, GQA k/v 512, MLP 8192, 16 layers (1.10B params), 1 GiB shards"),
    /**
     * Llama-2-7B: MHA, untied head; HF's 2 shards at its default {@code max_shard_size="10GB"}
     * (10^9 bytes): layers 0-23 in the first, 9.98 GB in BF16.
     */
    LLAMA_7B("llama-7b", new Shape(4096, 4096, 11008, 32, 32000), 10_000_000_000L,
        "Llama-2-7B shapes: hidden 4096, MHA, MLP 11008, 32 layers (6.74B params), HF's 2 shards"),
    /**
     * Mixtral-named mixture of experts with many small experts: 48 layers x 144 experts, 21,075
     * tensors, 0.73 GB in BF16, in 6 shards. Stresses per-tensor costs rather than bandwidth.
     */
    MOE("moe", Shape.moe(256, 128, 48, 32000, 144, 64), 128L << 20,
        "Mixtral-style MoE: 48 layers x 144 experts of 64x256, 21,075 tensors (367M params), 128 MiB shards");

    private final String key;
    private final Shape shape;
    private final long shardBytes;
    private final String description;

    Preset(String key, Shape shape, long shardBytes, String description) {
      this.key = key;
      this.shape = shape;
      this.shardBytes = shardBytes;
      this.description = description;
    }

    /** The name on the command line, e.g. {@code llama-7b}. */
    public String key() {
      return key;
    }

    public Shape shape() {
      return shape;
    }

    /** The largest shard {@code generate} and {@code bench} write by default. */
    public long shardBytes() {
      return shardBytes;
    }

    public String description() {
      return description;
    }

    public static Preset of(String name) {
      for (Preset p : values()) {
        if (p.key.equals(name.toLowerCase(Locale.ROOT))) {
          return p;
        }
      }
      throw new IllegalArgumentException("Unknown preset '" + name + "': use " + names());
    }

    /** "tiny, small, llama-1b, llama-7b or moe". */
    public static String names() {
      StringBuilder s = new StringBuilder();
      Preset[] all = values();
      for (int i = 0; i < all.length; i++) {
        s.append(i == 0 ? "" : i == all.length - 1 ? " or " : ", ").append(all[i].key);
      }
      return s.toString();
    }
  }

  /** The shape of a preset; see {@link Preset}. */
  public static Shape preset(String name) {
    return Preset.of(name).shape();
  }

  record Spec(String name, long[] shape, double std, boolean norm) {
    long numel() {
      long n = 1;
      for (long d : shape) {
        n = Math.multiplyExact(n, d);
      }
      return n;
    }
  }

  /** One output file: its name, its tensors in file order, and their bytes (header excluded). */
  record Shard(String file, List<Spec> tensors, long dataBytes) {}

  /** The tensors of a model in file order, with HF's names. */
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
      if (s.experts() == 0) {
        out.add(new Spec(p + "mlp.gate_proj.weight", new long[] {s.intermediate(), s.hidden()}, 1 / Math.sqrt(h), false));
        out.add(new Spec(p + "mlp.up_proj.weight", new long[] {s.intermediate(), s.hidden()}, 1 / Math.sqrt(h), false));
        out.add(new Spec(p + "mlp.down_proj.weight", new long[] {s.hidden(), s.intermediate()}, 1 / Math.sqrt(s.intermediate()), false));
      } else {
        // Mixtral: the router, then per expert w1 (gate), w2 (down) and w3 (up).
        String m = p + "block_sparse_moe.";
        out.add(new Spec(m + "gate.weight", new long[] {s.experts(), s.hidden()}, 1 / Math.sqrt(h), false));
        int f = s.expertIntermediate();
        for (int e = 0; e < s.experts(); e++) {
          String x = m + "experts." + e + ".";
          out.add(new Spec(x + "w1.weight", new long[] {f, s.hidden()}, 1 / Math.sqrt(h), false));
          out.add(new Spec(x + "w2.weight", new long[] {s.hidden(), f}, 1 / Math.sqrt(f), false));
          out.add(new Spec(x + "w3.weight", new long[] {f, s.hidden()}, 1 / Math.sqrt(h), false));
        }
      }
    }
    out.add(new Spec("model.norm.weight", new long[] {s.hidden()}, 0, true));
    out.add(new Spec("lm_head.weight", new long[] {s.vocab(), s.hidden()}, 0.02, false));
    return out;
  }

  /** The number of parameters of a model, from its shapes (nothing is generated). */
  public static long params(Shape shape) {
    long n = 0;
    for (Spec t : tensors(shape)) {
      n = Math.addExact(n, t.numel());
    }
    return n;
  }

  /** The number of tensors of a model. */
  public static int tensorCount(Shape shape) {
    return tensors(shape).size();
  }

  /**
   * Splits the tensors into files as HF's {@code save_pretrained} does: in order, starting a new
   * shard when the next tensor would take the current one past {@code shardBytes} (a tensor larger
   * than that gets a shard of its own). One shard is {@code model.safetensors}, more are
   * {@code model-0000i-of-0000n.safetensors}.
   */
  static List<Shard> shardPlan(Shape shape, DType dtype, long shardBytes) {
    if (shardBytes <= 0) {
      throw new IllegalArgumentException("Cannot set the shard size to " + shardBytes + ": must be positive");
    }
    List<List<Spec>> groups = new ArrayList<>();
    List<Long> sizes = new ArrayList<>();
    List<Spec> cur = new ArrayList<>();
    long bytes = 0;
    for (Spec t : tensors(shape)) {
      long b = Math.multiplyExact(t.numel(), dtype.byteSize());
      if (!cur.isEmpty() && bytes + b > shardBytes) {
        groups.add(cur);
        sizes.add(bytes);
        cur = new ArrayList<>();
        bytes = 0;
      }
      cur.add(t);
      bytes += b;
    }
    groups.add(cur);
    sizes.add(bytes);
    List<Shard> out = new ArrayList<>();
    for (int i = 0; i < groups.size(); i++) {
      String name = groups.size() == 1 ? "model.safetensors"
          : String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", i + 1, groups.size());
      out.add(new Shard(name, List.copyOf(groups.get(i)), sizes.get(i)));
    }
    return out;
  }

  /**
   * Writes the checkpoint into {@code dir}: {@code model.safetensors} when it fits in one shard,
   * else {@code model-0000i-of-0000n.safetensors} plus {@code model.safetensors.index.json}.
   * Tensors are generated on all cores, holding at most a quarter of the heap (up to 1 GiB) of
   * generated bytes at a time.
   *
   * @return the number of parameters written
   */
  public static long write(Shape shape, DType dtype, long shardBytes, long seed, String dir,
      Configuration conf) throws IOException {
    if (!dtype.isCompressibleFloat()) {
      throw new IllegalArgumentException("Cannot generate " + dtype + ": use F32, F16 or BF16");
    }
    List<Shard> shards = shardPlan(shape, dtype, shardBytes);
    Path out = new Path(dir);
    FileSystem fs = Storage.forWriting(out, conf);
    fs.mkdirs(out);
    Map<String, String> weightMap = new LinkedHashMap<>();
    long total = 0;
    long totalBytes = 0;
    long budget = Math.max(16L << 20, Math.min(1L << 30, Runtime.getRuntime().maxMemory() / 4));
    int threads = Math.max(1, Runtime.getRuntime().availableProcessors());
    ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
      Thread t = new Thread(r, "sparticle-generate");
      t.setDaemon(true);
      return t;
    });
    try {
      for (Shard shard : shards) {
        SafetensorsLayout.Builder b = SafetensorsLayout.builder().metadata("format", "pt");
        for (Spec t : shard.tensors()) {
          b.add(t.name(), dtype, t.shape());
          weightMap.put(t.name(), shard.file());
          total += t.numel();
        }
        SafetensorsLayout layout = b.build();
        totalBytes += shard.dataBytes();
        try (OutputStream os = new BufferedOutputStream(fs.create(new Path(out, shard.file()), true), 1 << 20)) {
          os.write(layout.headerBytes());
          writeTensors(os, shard.tensors(), dtype, seed, pool, threads, budget);
        }
      }
    } finally {
      pool.shutdownNow();
    }
    if (shards.size() > 1) {
      try (OutputStream os = fs.create(new Path(out, ShardIndex.FILE_NAME), true)) {
        os.write(ShardIndex.of(weightMap, "{\"total_size\":" + totalBytes + "}").toJson());
      }
    }
    return total;
  }

  /**
   * Generates the tensors on the pool, a few ahead of the one being written, and writes them in
   * order. A tensor larger than the budget is generated row by row on this thread instead.
   */
  private static void writeTensors(OutputStream os, List<Spec> specs, DType dtype, long seed,
      ExecutorService pool, int threads, long budget) throws IOException {
    Deque<Future<byte[]>> inFlight = new ArrayDeque<>();
    Deque<Long> inFlightSizes = new ArrayDeque<>();
    long held = 0;
    for (Spec t : specs) {
      long size = t.numel() * dtype.byteSize();
      while (!inFlight.isEmpty() && (held + size > budget || inFlight.size() > 2 * threads)) {
        writeChunked(os, await(inFlight.removeFirst()));
        held -= inFlightSizes.removeFirst();
      }
      if (size > budget || size > Integer.MAX_VALUE - 8) {
        new TensorSampler(t, dtype, seed).writeTo(os);
        continue;
      }
      inFlight.addLast(pool.submit(() -> new TensorSampler(t, dtype, seed).bytes()));
      inFlightSizes.addLast(size);
      held += size;
    }
    while (!inFlight.isEmpty()) {
      writeChunked(os, await(inFlight.removeFirst()));
    }
  }

  private static byte[] await(Future<byte[]> f) throws IOException {
    try {
      return f.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("Interrupted while generating tensors");
    } catch (ExecutionException e) {
      throw new IllegalStateException("Generating a tensor failed", e.getCause());
    }
  }

  /** In 1 MiB writes: a JNI write of a whole large array would copy it through a native buffer as large. */
  private static void writeChunked(OutputStream os, byte[] b) throws IOException {
    for (int off = 0; off < b.length; off += 1 << 20) {
      os.write(b, off, Math.min(1 << 20, b.length - off));
    }
  }

  /**
   * One tensor's values in row-major order, from its own generator. The order in which it draws
   * (the outlier channels first, then one draw per weight) fixes the bytes every preset has had
   * since the format v1 fixtures: do not change it.
   */
  static final class TensorSampler {
    private final Spec spec;
    private final DType dtype;
    private final SplittableRandom rnd;
    private final double[] channelScale;
    private final int cols;
    private final long rows;
    private final double b;

    TensorSampler(Spec t, DType dtype, long seed) {
      this.spec = t;
      this.dtype = dtype;
      this.rnd = new SplittableRandom(seed * 1_000_003L + t.name().hashCode());
      this.rows = t.shape()[0];
      this.cols = t.shape().length > 1 ? (int) t.shape()[1] : 1;
      // A few outlier input channels per matrix, as seen in trained LLMs.
      this.channelScale = new double[cols];
      Arrays.fill(channelScale, 1.0);
      if (!t.norm()) {
        for (int i = 0; i < Math.max(1, cols / 256); i++) {
          channelScale[rnd.nextInt(cols)] = 8.0;
        }
      }
      // Laplace with standard deviation std has scale b = std / sqrt(2).
      this.b = t.std() / Math.sqrt(2);
    }

    byte[] bytes() {
      int rowBytes = cols * dtype.byteSize();
      byte[] out = new byte[Math.toIntExact(rows * rowBytes)];
      for (int r = 0; r < rows; r++) {
        nextRow(out, r * rowBytes);
      }
      return out;
    }

    void writeTo(OutputStream os) throws IOException {
      byte[] row = new byte[cols * dtype.byteSize()];
      for (long r = 0; r < rows; r++) {
        nextRow(row, 0);
        os.write(row);
      }
    }

    private void nextRow(byte[] dst, int off) {
      int size = dtype.byteSize();
      for (int c = 0, p = off; c < cols; c++, p += size) {
        float v;
        if (spec.norm()) {
          v = (float) (1.0 + 0.05 * (rnd.nextDouble() - 0.5));
        } else {
          double u = rnd.nextDouble() - 0.5;
          double x = -b * Math.signum(u) * Math.log(1 - 2 * Math.abs(u));
          v = (float) (x * channelScale[c]);
        }
        switch (dtype) {
          case F32 -> {
            int bits = Float.floatToRawIntBits(v);
            dst[p] = (byte) bits;
            dst[p + 1] = (byte) (bits >>> 8);
            dst[p + 2] = (byte) (bits >>> 16);
            dst[p + 3] = (byte) (bits >>> 24);
          }
          case F16 -> {
            short s = HalfFloats.floatToF16(v);
            dst[p] = (byte) s;
            dst[p + 1] = (byte) (s >>> 8);
          }
          default -> {
            short s = HalfFloats.floatToBf16(v);
            dst[p] = (byte) s;
            dst[p + 1] = (byte) (s >>> 8);
          }
        }
      }
    }
  }
}
