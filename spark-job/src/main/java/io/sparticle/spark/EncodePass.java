package io.sparticle.spark;

import io.sparticle.format.DType;
import io.sparticle.format.TensorEncoder;
import io.sparticle.io.RangeReader;
import io.sparticle.io.SequentialReaders;
import io.sparticle.plan.CompressionPlan;
import io.sparticle.plan.CompressionPlan.OutputPart;
import io.sparticle.plan.CompressionPlan.Tensor;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.ErrorStats;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;

/**
 * Pass 3: one task per output part. Each task streams its tensors from the source chunk by
 * chunk, encodes every weight of a compressed tensor with its group's method
 * ({@link TensorEncoder}: a 65,536-entry lookup table for 16-bit dtypes and a shared codebook,
 * per-channel codebooks fitted here, or uniform scales and zero points), bit-packs the codes,
 * writes the per-tensor parameters after them, copies dense tensors unchanged, measures the exact
 * reconstruction error, and writes the part through {@link PartWriter} (temp file, then rename
 * into place). Memory per task: about three chunk-sized buffers (a whole tensor for per-channel
 * codebooks over columns).
 */
final class EncodePass {
  private EncodePass() {}

  record Item(int tensor, String name, String sourceFile, long sourceLength, DType dtype, long offset,
      long[] shape, long byteLength, int group, int axis, float scale) implements Serializable {}

  record Task(int part, String fileName, byte[] header, long expectedLength, List<Item> items)
      implements Serializable {}

  /** Error of one tensor as measured while encoding it. */
  record TensorError(int tensor, ErrorStats stats) implements Serializable {}

  record PartResult(int part, String fileName, long size, String crc32c, List<TensorError> errors)
      implements Serializable {}

  static List<PartResult> run(JavaSparkContext jsc, CompressionPlan plan, float[][] codebooks,
      float[] scales, String outputDir, SerializableConfiguration conf, ReadMeter meter) {
    List<Task> tasks = new ArrayList<>();
    for (OutputPart part : plan.parts()) {
      List<Item> items = new ArrayList<>();
      for (int t : part.tensors()) {
        Tensor tensor = plan.tensors().get(t);
        String src = new Path(plan.sourceDirectory(), plan.sourceFiles().get(tensor.file())).toString();
        items.add(new Item(t, tensor.name(), src, plan.sourceFileLengths().get(tensor.file()),
            tensor.dtype(), tensor.offset(), tensor.shape(), tensor.byteLength(), tensor.group(),
            tensor.axis(), scales[t]));
      }
      var layout = plan.layout(part);
      tasks.add(new Task(part.index(), part.fileName(), layout.headerBytes(), layout.fileLength(), items));
    }
    EncodingSpec[] specs = new EncodingSpec[plan.groups().size()];
    for (int g = 0; g < specs.length; g++) {
      specs[g] = plan.groups().get(g).spec();
    }
    Broadcast<float[][]> books = jsc.broadcast(codebooks);
    long chunkBytes = plan.config().chunkBytes();
    jsc.setJobDescription("sparticle: encode " + tasks.size() + " parts");
    try {
      return jsc.parallelize(tasks, tasks.size())
          .map(task -> encode(task, specs, books.value(), chunkBytes, outputDir, conf, meter))
          .collect();
    } finally {
      books.destroy();
    }
  }

  static PartResult encode(Task task, EncodingSpec[] specs, float[][] codebooks, long chunkBytes,
      String outputDir, SerializableConfiguration conf, ReadMeter meter) throws IOException {
    List<TensorError> errors = new ArrayList<>();
    SequentialReaders readers = new SequentialReaders(conf.get());
    PartWriter.Committed c;
    try (PartWriter out = PartWriter.open(outputDir, task.fileName(), conf.get()); readers) {
      out.write(task.header(), 0, task.header().length);
      List<Item> items = task.items();
      for (int i = 0; i < items.size(); ) {
        Item item = items.get(i);
        RangeReader in = readers.get(item.sourceFile(), item.sourceLength());
        if (item.group() < 0) {
          // A run of dense tensors that follow each other in the source is one copy: one read
          // per run, not per tensor (a checkpoint of many small tensors is otherwise bound by
          // per-read overhead).
          long length = item.byteLength();
          int j = i + 1;
          for (; j < items.size(); j++) {
            Item next = items.get(j);
            if (next.group() >= 0 || !next.sourceFile().equals(item.sourceFile())
                || next.offset() != item.offset() + length) {
              break;
            }
            length += next.byteLength();
          }
          out.copy(in, item.offset(), length, chunkBytes);
          i = j;
        } else {
          TensorEncoder.Encoded e;
          try {
            e = TensorEncoder.encode(in, item.offset(), item.dtype(), item.shape(), item.axis(),
                specs[item.group()], codebooks[item.group()], item.scale(), chunkBytes,
                (first, n, packed, packedBytes) -> out.write(packed, 0, packedBytes),
                PartWriter::stopIfKilled);
          } catch (IllegalArgumentException ex) {
            throw new IllegalArgumentException("Tensor '" + item.name() + "' of " + item.sourceFile()
                + ": " + ex.getMessage(), ex);
          }
          out.write(e.params(), 0, e.params().length);
          errors.add(new TensorError(item.tensor(), e.stats()));
          i++;
        }
      }
      c = out.commit(task.expectedLength());
    }
    meter.add(readers.stats());
    return new PartResult(task.part(), task.fileName(), c.size(), c.crc32c(), errors);
  }
}
