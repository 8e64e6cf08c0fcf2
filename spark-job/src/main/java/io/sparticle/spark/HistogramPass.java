package io.sparticle.spark;

import io.sparticle.format.CheckpointFormatException;
import io.sparticle.format.CheckpointFormatException.Reason;
import io.sparticle.format.TensorDecoder;
import io.sparticle.io.RangeReader;
import io.sparticle.io.SequentialReaders;
import io.sparticle.plan.CompressionPlan;
import io.sparticle.plan.CompressionPlan.Group;
import io.sparticle.plan.CompressionPlan.ReadSplit;
import io.sparticle.plan.CompressionPlan.Tensor;
import io.sparticle.plan.CompressionPlan.TensorSlice;
import io.sparticle.plan.JobConfig;
import io.sparticle.quant.BlockSample;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.GroupPoints;
import io.sparticle.quant.Importance;
import io.sparticle.quant.ValueHistogram;
import io.sparticle.quant.ValueKind;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import scala.Tuple2;

/**
 * Pass 1: every task reads its split's byte ranges and counts the values of each compressed
 * tensor; per-tensor histograms are merged across tasks, each whole histogram is summarized
 * ({@link TensorStats}) and turned into its group's points ({@link GroupPoints}), and the points
 * are merged per group, all on the executors. The driver receives a few numbers per tensor and
 * at most 65,536 points per group. Memory per task: one read buffer of at most chunk-bytes plus
 * one dense bin array.
 */
final class HistogramPass {
  private HistogramPass() {}

  /** What one task needs: no plan, no config beyond this. */
  record Task(String file, long fileLength, List<Slice> slices, int bufferBytes)
      implements Serializable {}

  /**
   * @param blockSize block size of a block-scaled tensor, whose blocks are sampled; else 0
   * @param stride one block in about {@code stride} is drawn ({@link BlockSample#selected})
   * @param importance the tensor's importance (its bins then weigh it), or null
   */
  record Slice(int tensor, String name, ValueKind kind, long offset, long numElements,
      long firstElement, int blockSize, long stride, long salt, Importance importance,
      long rowStep)
      implements Serializable {}

  /**
   * What the pass found, merged per group on the executors: each compressed tensor's statistics,
   * each group's points (groups fitted on their histogram: scalar k-means and gmm), and the block
   * or sub-vector samples by tensor (bounded by their sampling).
   */
  record Result(Map<Integer, TensorStats> stats, Map<String, GroupPoints> points,
      Map<Integer, BlockSample> samples) {
    /** The group's points, or none (a group none of whose tensors gave any). */
    GroupPoints points(Group g) {
      GroupPoints p = points.get(g.name());
      return p != null ? p : GroupPoints.empty(false);
    }
  }

  /**
   * What the driver keeps of one tensor's histogram: its non-finite count, RMS (its scale, where
   * its group scales per tensor) and the outliers and pruned weights its group's spec asks for.
   */
  record TensorStats(int tensor, long nonFinite, double rms, ValueHistogram.Outliers outliers,
      ValueHistogram.Pruned pruned) implements Serializable {}

  /** One task's findings on one tensor, merged across tasks. */
  record Partial(ValueHistogram histogram, BlockSample sample) implements Serializable {
    Partial merge(Partial o) {
      return new Partial(histogram.merge(o.histogram),
          sample == null ? o.sample : o.sample == null ? sample : sample.merge(o.sample));
    }
  }

  /** How a whole tensor's histogram is summarized: what its group needs of it. */
  record TensorRule(String group, boolean perTensorScale, boolean points, long numel,
      double outliers, double prune, boolean split) implements Serializable {
    TensorRule asSplit() {
      return new TensorRule(group, perTensorScale, points, numel, outliers, prune, true);
    }
  }

  /**
   * Keys of a split tensor's partial histograms; group names never start with it (a key is a
   * group's name otherwise).
   */
  static final String TENSOR_KEY = "\u0000tensor:";

  /** Merges two partials of one key: a split tensor's histograms, or a group's findings. */
  static Object merge(Object a, Object b) {
    return a instanceof Partial p ? p.merge((Partial) b) : ((GroupPartial) a).merge((GroupPartial) b);
  }

  /** A group's findings, merged across its tensors. */
  record GroupPartial(List<TensorStats> stats, GroupPoints points, Map<Integer, BlockSample> samples)
      implements Serializable {
    /**
     * Both merged. Adds to this partial's list and map (each partial is built by
     * {@link #summarize} and merged once), so merging a group of n tensors is linear in n.
     */
    GroupPartial merge(GroupPartial o) {
      stats.addAll(o.stats);
      samples.putAll(o.samples);
      return new GroupPartial(stats, points == null ? o.points : o.points == null ? points
          : points.merge(o.points), samples);
    }
  }

  /** Summarizes a tensor's whole histogram for its group: statistics, points, sample. */
  static GroupPartial summarize(int tensor, Partial p, TensorRule rule) {
    ValueHistogram h = p.histogram();
    ValueHistogram.Outliers o = rule.outliers() > 0
        ? h.outliers((long) Math.floor(rule.outliers() * rule.numel())) : ValueHistogram.Outliers.NONE;
    ValueHistogram.Pruned pr = rule.prune() > 0
        ? h.pruned((long) Math.floor(rule.prune() * rule.numel())) : ValueHistogram.Pruned.NONE;
    double rms = h.rms();
    GroupPoints points = null;
    // A tensor holding NaN or Inf fails the job or stays dense: it is no part of any fit.
    if (rule.points() && h.nonFinite() == 0) {
      float s = (float) rms;
      points = GroupPoints.of(h, rule.perTensorScale() && s > 0 && Float.isFinite(s) ? s : 1f, o, pr);
    }
    Map<Integer, BlockSample> samples = new java.util.HashMap<>();
    if (p.sample() != null) {
      samples.put(tensor, p.sample());
    }
    List<TensorStats> stats = new ArrayList<>();
    stats.add(new TensorStats(tensor, h.nonFinite(), rms, o, pr));
    return new GroupPartial(stats, points, samples);
  }

  /**
   * Weights drawn per block-scaled group to fit its codebook: a 16-entry codebook is fitted to
   * well within the noise of the data from a few hundred thousand weights, and the driver's
   * scale searches over the sample stay well under a second.
   */
  static final long BLOCK_SAMPLE_WEIGHTS = 1 << 19;

  /** The pass; the histograms of tensors in {@code importance} are weighted by it. */
  static Result run(JavaSparkContext jsc, CompressionPlan plan, Map<Integer, Importance> importance,
      SerializableConfiguration conf, ReadMeter meter, JobPhases phases) throws IOException {
    long[] stride = new long[plan.groups().size()];
    for (Group g : plan.groups()) {
      if (g.spec().vector()) {
        // vq: sub-vectors are the blocks; at least 16 per codeword, or the configured sample.
        long vectors = 0;
        for (int t : g.tensors()) {
          vectors += plan.tensors().get(t).numCodes();
        }
        long want = Math.max(plan.config().encoding().vqSample(), 16L * g.spec().k());
        stride[g.index()] = Math.max(1, -Math.floorDiv(-vectors, want));
      } else if (g.spec().blockScaled()) {
        long blocks = 0;
        int b = g.spec().blockSize();
        for (int t : g.tensors()) {
          blocks += plan.tensors().get(t).numel() / b;
        }
        stride[g.index()] = Math.max(1, -Math.floorDiv(-blocks, Math.max(1, BLOCK_SAMPLE_WEIGHTS / b)));
      }
    }
    List<Task> tasks = new ArrayList<>();
    long[] readBytes = new long[plan.histogramSplits().size()]; // each task's, for progress
    for (ReadSplit split : plan.histogramSplits()) {
      String file = new Path(plan.sourceDirectory(), plan.sourceFiles().get(split.file())).toString();
      List<Slice> slices = new ArrayList<>();
      long bytes = 0;
      for (TensorSlice s : split.slices()) {
        Tensor t = plan.tensors().get(s.tensor());
        int size = t.dtype().byteSize();
        boolean blocks = plan.spec(t).blockScaled();
        boolean vectors = plan.spec(t).vector();
        // A vq sub-vector along axis 0 (ONNX [in, out]) takes one weight from each of dim rows.
        long rowStep = vectors && t.vqAxis() == 0 && t.shape().length >= 2
            ? t.numel() / t.shape()[0] : 1;
        slices.add(new Slice(t.index(), t.name(), t.dtype().valueKind(),
            t.offset() + s.firstElement() * size, s.numElements(), s.firstElement(),
            blocks ? plan.spec(t).blockSize() : vectors ? plan.spec(t).dim() : 0,
            blocks || vectors ? stride[t.group()] : 0,
            t.name().hashCode() * 0x9E3779B97F4A7C15L, importance.get(t.index()), rowStep));
        bytes = Math.max(bytes, s.numElements() * size);
        readBytes[tasks.size()] += s.numElements() * size;
      }
      tasks.add(new Task(file, plan.sourceFileLengths().get(split.file()), slices,
          Math.toIntExact(bytes)));
    }
    if (tasks.isEmpty()) {
      return new Result(Map.of(), Map.of(), Map.of());
    }
    jsc.setJobDescription("sparticle: histograms of " + plan.groups().size() + " groups");
    Map<Integer, TensorRule> rules = new java.util.HashMap<>();
    for (Tensor t : plan.tensors()) {
      if (t.compressed()) {
        Group g = plan.groups().get(t.group());
        EncodingSpec spec = g.spec();
        boolean points = spec.sharedCodebook() && !spec.vector() && !spec.blockScaled();
        rules.put(t.index(), new TensorRule(g.name(), g.perTensorScale(), points, t.numel(),
            spec.outliers(), spec.prune(), false));
      }
    }
    // A tensor read whole by one task is summarized in that task; only a tensor split across
    // tasks has its partial histograms merged first (keyed by tensor, then summarized).
    Map<Integer, Integer> splitsOf = new java.util.HashMap<>();
    for (ReadSplit split : plan.histogramSplits()) {
      for (TensorSlice s : split.slices()) {
        splitsOf.merge(s.tensor(), 1, Integer::sum);
      }
    }
    for (Map.Entry<Integer, Integer> e : splitsOf.entrySet()) {
      TensorRule r = rules.get(e.getKey());
      if (r != null && e.getValue() > 1) {
        rules.put(e.getKey(), r.asSplit());
      }
    }
    org.apache.spark.broadcast.Broadcast<Map<Integer, TensorRule>> bc = jsc.broadcast(rules);
    // Tensors' histograms are merged across tasks, summarized, and merged per group, all on the
    // executors: the driver receives one bounded point set per group and a few numbers per
    // tensor, however many tensors there are.
    // As many reducers as cores, not one per read task: the merges are small and a task costs
    // milliseconds to schedule.
    int reducers = Math.max(1, jsc.defaultParallelism());
    Map<String, Object> merged = phases.track(jsc.parallelize(tasks, tasks.size()), readBytes)
        .flatMapToPair(task -> TaskMemory.guard("the histogram task of " + task.file(), () -> {
          List<Tuple2<String, Object>> out = new ArrayList<>();
          for (Tuple2<Integer, Partial> p : histograms(task, conf, meter)) {
            TensorRule rule = bc.value().get(p._1());
            out.add(rule.split() ? new Tuple2<>(TENSOR_KEY + p._1(), p._2())
                : new Tuple2<>(rule.group(), summarize(p._1(), p._2(), rule)));
          }
          return out;
        }).iterator())
        .reduceByKey(HistogramPass::merge, reducers)
        .mapToPair(e -> {
          if (!e._1().startsWith(TENSOR_KEY)) {
            return e;
          }
          int tensor = Integer.parseInt(e._1().substring(TENSOR_KEY.length()));
          TensorRule rule = bc.value().get(tensor);
          return new Tuple2<>(rule.group(), (Object) summarize(tensor, (Partial) e._2(), rule));
        })
        .reduceByKey(HistogramPass::merge, Math.max(1, Math.min(reducers, plan.groups().size())))
        .collectAsMap();
    bc.destroy();
    Map<Integer, TensorStats> stats = new java.util.HashMap<>();
    Map<String, GroupPoints> points = new java.util.HashMap<>();
    Map<Integer, BlockSample> samples = new java.util.HashMap<>();
    merged.forEach((group, o) -> {
      GroupPartial p = (GroupPartial) o;
      for (TensorStats s : p.stats()) {
        stats.put(s.tensor(), s);
      }
      if (p.points() != null) {
        points.put(group, p.points());
      }
      samples.putAll(p.samples());
    });
    return new Result(stats, points, samples);
  }

  static List<Tuple2<Integer, Partial>> histograms(Task task, SerializableConfiguration conf,
      ReadMeter meter) throws IOException {
    List<Tuple2<Integer, Partial>> out = new ArrayList<>();
    // 16-bit slices are counted piece by piece, through a buffer that stays in the CPU's caches.
    // Others are read whole: a slice whose blocks are sampled is decoded as one array, and an F32
    // slice's sum of squares is one sum per slice (summing per piece would round differently).
    int bufferBytes = 0;
    for (Slice s : task.slices()) {
      long bytes = s.numElements() * s.kind().byteSize();
      bufferBytes = (int) Math.max(bufferBytes,
          readWhole(s) ? bytes : Math.min(bytes, TensorDecoder.READ_BYTES));
    }
    byte[] buf = new byte[Math.min(bufferBytes, task.bufferBytes())];
    ValueHistogram.Accumulator acc = null;
    BlockSample sample = null;
    float[] weights = null;
    int accTensor = -1;
    SequentialReaders readers = new SequentialReaders(conf.get());
    try (readers) {
      RangeReader in = readers.get(task.file(), task.fileLength());
      for (Slice s : task.slices()) {
        PartWriter.stopIfKilled();
        if (s.tensor() != accTensor) {
          if (acc != null) {
            out.add(new Tuple2<>(accTensor, new Partial(acc.finish(accTensor), sample)));
          }
          acc = ValueHistogram.accumulator(s.kind());
          accTensor = s.tensor();
          sample = s.blockSize() > 0 ? new BlockSample(s.blockSize()) : null;
        }
        int size = s.kind().byteSize();
        int len = Math.toIntExact(s.numElements() * size);
        int piece = readWhole(s) ? len : buf.length / size * size;
        for (int done = 0; done < len; done += piece) {
          int n = Math.min(piece, len - done);
          in.readFully(s.offset() + done, buf, 0, n);
          if (s.importance() != null) {
            acc.addLittleEndian(buf, 0, n / size, s.importance(), s.firstElement() + done / size);
          } else {
            acc.addLittleEndian(buf, 0, n / size);
          }
        }
        if (sample != null) {
          if (weights == null || weights.length < s.numElements()) {
            weights = new float[(int) s.numElements()];
          }
          sampleBlocks(s, buf, weights, sample);
        }
      }
    }
    meter.add(readers.stats());
    if (acc != null) {
      out.add(new Tuple2<>(accTensor, new Partial(acc.finish(accTensor), sample)));
    }
    return out;
  }

  private static boolean readWhole(Slice s) {
    return s.blockSize() > 0 || s.kind() == ValueKind.F32;
  }

  /** Draws the slice's sampled blocks that lie wholly inside it. */
  private static void sampleBlocks(Slice s, byte[] raw, float[] x, BlockSample sample) {
    if (s.rowStep() > 1) {
      sampleStrided(s, raw, x, sample);
      return;
    }
    long b = s.blockSize();
    long firstBlock = -Math.floorDiv(-s.firstElement(), b);
    long endBlock = (s.firstElement() + s.numElements()) / b;
    boolean decoded = false;
    for (long blk = firstBlock; blk < endBlock; blk++) {
      if (!BlockSample.selected(s.salt(), blk, s.stride())) {
        continue;
      }
      if (!decoded) {
        s.kind().decodeLittleEndian(raw, 0, (int) s.numElements(), x);
        decoded = true;
      }
      sample.add(blk, x, (int) (blk * b - s.firstElement()));
    }
  }

  /**
   * Draws the slice's sampled vq sub-vectors along axis 0 that lie wholly inside it: sub-vector
   * {@code i * row + c} is weights {@code (i * dim + j) * row + c}, j below dim.
   */
  private static void sampleStrided(Slice s, byte[] raw, float[] x, BlockSample sample) {
    int d = s.blockSize();
    long row = s.rowStep();
    long band = d * row;
    long end = s.firstElement() + s.numElements();
    boolean decoded = false;
    for (long i = -Math.floorDiv(-s.firstElement(), band); (i + 1) * band <= end; i++) {
      for (long c = 0; c < row; c++) {
        long id = i * row + c;
        if (!BlockSample.selected(s.salt(), id, s.stride())) {
          continue;
        }
        if (!decoded) {
          s.kind().decodeLittleEndian(raw, 0, (int) s.numElements(), x);
          decoded = true;
        }
        sample.addStrided(id, x, (int) (i * band + c - s.firstElement()), (int) row);
      }
    }
  }

  /**
   * Tensors to compress that hold NaN or Inf. With {@code non-finite: error} the first is bad
   * input: fail naming it. With {@code keep-dense} they are returned, by name in source order,
   * with the reason they stay dense.
   */
  static Map<String, String> checkFinite(CompressionPlan plan, Map<Integer, TensorStats> stats)
      throws CheckpointFormatException {
    Map<String, String> keepDense = new LinkedHashMap<>();
    for (Tensor t : plan.tensors()) {
      TensorStats h = stats.get(t.index());
      if (!t.compressed() || h == null || h.nonFinite() == 0) {
        continue;
      }
      String what = h.nonFinite() + " of " + t.numel() + " values are NaN or infinite";
      if (plan.config().nonFinite() == JobConfig.NonFinite.ERROR) {
        throw new CheckpointFormatException(Reason.NON_FINITE_VALUE,
            plan.sourceFiles().get(t.file()), t.name(),
            what + "; such a tensor cannot be clustered (keep it dense with a keep-dense rule, "
                + "or with non-finite: keep-dense / --non-finite keep-dense)");
      }
      keepDense.put(t.name(), what + " (non-finite: keep-dense)");
    }
    return keepDense;
  }
}
