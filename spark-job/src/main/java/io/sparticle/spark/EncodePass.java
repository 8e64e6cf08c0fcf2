package io.sparticle.spark;

import io.sparticle.format.CheckpointWriter;
import io.sparticle.io.SequentialReaders;
import io.sparticle.plan.CompressionPlan;
import io.sparticle.plan.CompressionPlan.OutputPart;
import io.sparticle.plan.CompressionPlan.Tensor;
import io.sparticle.quant.EncodingSpec;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;

/**
 * Pass 3: one task per output part, each running {@link CheckpointWriter#writePart}: it streams
 * its tensors from the source chunk by chunk, encodes every weight of a compressed tensor with its
 * group's method ({@link io.sparticle.format.TensorEncoder}: a 65,536-entry lookup table for
 * 16-bit dtypes and a shared codebook, per-channel codebooks fitted here, or uniform scales and
 * zero points), bit-packs the codes, writes the per-tensor parameters after them, copies dense
 * tensors unchanged, measures the exact reconstruction error, and writes the part through
 * {@link PartWriter} (temp file, then rename into place). Memory per task: about three
 * chunk-sized buffers (for a shared codebook, buffers of one read,
 * {@link io.sparticle.format.TensorDecoder#READ_BYTES}; a whole tensor for per-channel codebooks
 * over columns).
 */
final class EncodePass {
  private EncodePass() {}

  record Task(int part, String fileName, List<CheckpointWriter.Entry> entries,
      List<CheckpointWriter.Item> items) implements Serializable {}

  record PartResult(int part, String fileName, long size, String crc32c,
      List<CheckpointWriter.TensorError> errors) implements Serializable {}

  /** The pass; the output error of tensors in {@code importance} is measured with it. */
  static List<PartResult> run(JavaSparkContext jsc, CompressionPlan plan, float[][] codebooks,
      io.sparticle.format.Manifest.Mixture[] mixtures, float[] scales,
      java.util.Map<Integer, io.sparticle.quant.Importance> importance,
      String outputDir, SerializableConfiguration conf, ReadMeter meter, JobPhases phases) {
    List<Task> tasks = new ArrayList<>();
    long[] readBytes = new long[plan.parts().size()]; // each task's, for progress
    for (OutputPart part : plan.parts()) {
      List<CheckpointWriter.Item> items = new ArrayList<>();
      for (int t : part.tensors()) {
        Tensor tensor = plan.tensors().get(t);
        readBytes[tasks.size()] += tensor.byteLength();
        String src = new Path(plan.sourceDirectory(), plan.sourceFiles().get(tensor.file())).toString();
        items.add(new CheckpointWriter.Item(t, tensor.name(), src,
            plan.sourceFileLengths().get(tensor.file()), tensor.dtype(), tensor.offset(),
            tensor.shape(), tensor.byteLength(), tensor.group(),
            tensor.compressed() && plan.spec(tensor).vector() ? tensor.vqAxis() : tensor.axis(),
            scales[t], tensor.outliers(), importance.get(t), tensor.pruned()));
      }
      tasks.add(new Task(part.index(), part.fileName(), plan.entries(part), items));
    }
    EncodingSpec[] specs = new EncodingSpec[plan.groups().size()];
    for (int g = 0; g < specs.length; g++) {
      specs[g] = plan.groups().get(g).spec();
    }
    Broadcast<float[][]> books = jsc.broadcast(codebooks);
    long chunkBytes = plan.config().chunkBytes();
    jsc.setJobDescription("sparticle: encode " + tasks.size() + " parts");
    try {
      return phases.track(jsc.parallelize(tasks, tasks.size()), readBytes)
          .map(task -> encode(task, specs, books.value(), mixtures, chunkBytes, outputDir, conf,
              meter))
          .collect();
    } finally {
      books.destroy();
    }
  }

  static PartResult encode(Task task, EncodingSpec[] specs, float[][] codebooks,
      io.sparticle.format.Manifest.Mixture[] mixtures, long chunkBytes, String outputDir,
      SerializableConfiguration conf, ReadMeter meter) throws IOException {
    CheckpointWriter.Part p;
    SequentialReaders readers = new SequentialReaders(conf.get());
    try (readers) {
      p = CheckpointWriter.writePart(PartWriter.file(outputDir, task.fileName(), conf.get()),
          task.entries(), task.items(), specs, codebooks, mixtures, chunkBytes,
          readers::get, PartWriter::stopIfKilled);
    }
    meter.add(readers.stats()); // complete once closed
    return new PartResult(task.part(), task.fileName(), p.committed().size(),
        p.committed().crc32c(), p.errors());
  }
}
