package io.sparticle.spark;

import io.sparticle.format.CheckpointFormatException;
import io.sparticle.format.CheckpointFormatException.Reason;
import io.sparticle.io.RangeReader;
import io.sparticle.io.SequentialReaders;
import io.sparticle.plan.CompressionPlan;
import io.sparticle.plan.CompressionPlan.ReadSplit;
import io.sparticle.plan.CompressionPlan.Tensor;
import io.sparticle.plan.CompressionPlan.TensorSlice;
import io.sparticle.plan.JobConfig;
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
 * tensor; per-tensor histograms are merged across tasks and returned to the driver. Memory per
 * task: one read buffer of at most chunk-bytes plus one dense bin array.
 */
final class HistogramPass {
  private HistogramPass() {}

  /** What one task needs: no plan, no config beyond this. */
  record Task(String file, long fileLength, List<Slice> slices, int bufferBytes)
      implements Serializable {}

  record Slice(int tensor, String name, ValueKind kind, long offset, long numElements)
      implements Serializable {}

  static Map<Integer, ValueHistogram> run(JavaSparkContext jsc, CompressionPlan plan,
      SerializableConfiguration conf, ReadMeter meter) throws IOException {
    List<Task> tasks = new ArrayList<>();
    for (ReadSplit split : plan.histogramSplits()) {
      String file = new Path(plan.sourceDirectory(), plan.sourceFiles().get(split.file())).toString();
      List<Slice> slices = new ArrayList<>();
      long bytes = 0;
      for (TensorSlice s : split.slices()) {
        Tensor t = plan.tensors().get(s.tensor());
        int size = t.dtype().byteSize();
        slices.add(new Slice(t.index(), t.name(), t.dtype().valueKind(),
            t.offset() + s.firstElement() * size, s.numElements()));
        bytes = Math.max(bytes, s.numElements() * size);
      }
      tasks.add(new Task(file, plan.sourceFileLengths().get(split.file()), slices,
          Math.toIntExact(bytes)));
    }
    if (tasks.isEmpty()) {
      return Map.of();
    }
    jsc.setJobDescription("sparticle: histograms of " + plan.groups().size() + " groups");
    return jsc.parallelize(tasks, tasks.size())
        .flatMapToPair(task -> histograms(task, conf, meter).iterator())
        .reduceByKey(ValueHistogram::merge)
        .collectAsMap();
  }

  static List<Tuple2<Integer, ValueHistogram>> histograms(Task task, SerializableConfiguration conf,
      ReadMeter meter) throws IOException {
    List<Tuple2<Integer, ValueHistogram>> out = new ArrayList<>();
    byte[] buf = new byte[task.bufferBytes()];
    ValueHistogram.Accumulator acc = null;
    int accTensor = -1;
    SequentialReaders readers = new SequentialReaders(conf.get());
    try (readers) {
      RangeReader in = readers.get(task.file(), task.fileLength());
      for (Slice s : task.slices()) {
        PartWriter.stopIfKilled();
        if (s.tensor() != accTensor) {
          if (acc != null) {
            out.add(new Tuple2<>(accTensor, acc.finish(accTensor)));
          }
          acc = ValueHistogram.accumulator(s.kind());
          accTensor = s.tensor();
        }
        int len = Math.toIntExact(s.numElements() * s.kind().byteSize());
        in.readFully(s.offset(), buf, 0, len);
        acc.addLittleEndian(buf, 0, (int) s.numElements());
      }
    }
    meter.add(readers.stats());
    if (acc != null) {
      out.add(new Tuple2<>(accTensor, acc.finish(accTensor)));
    }
    return out;
  }

  /**
   * Tensors to compress that hold NaN or Inf. With {@code non-finite: error} the first is bad
   * input: fail naming it. With {@code keep-dense} they are returned, by name in source order,
   * with the reason they stay dense.
   */
  static Map<String, String> checkFinite(CompressionPlan plan, Map<Integer, ValueHistogram> histograms)
      throws CheckpointFormatException {
    Map<String, String> keepDense = new LinkedHashMap<>();
    for (Tensor t : plan.tensors()) {
      ValueHistogram h = histograms.get(t.index());
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
