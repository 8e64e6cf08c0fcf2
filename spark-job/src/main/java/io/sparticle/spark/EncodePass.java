package io.sparticle.spark;

import io.sparticle.format.DType;
import io.sparticle.io.RangeReader;
import io.sparticle.io.SequentialReaders;
import io.sparticle.packing.BitPacking;
import io.sparticle.plan.CompressionPlan;
import io.sparticle.plan.CompressionPlan.OutputPart;
import io.sparticle.plan.CompressionPlan.Tensor;
import io.sparticle.quant.Codebook;
import io.sparticle.quant.ErrorStats;
import io.sparticle.quant.ValueKind;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;

/**
 * Pass 3: one task per output part. Each task streams its tensors from the source chunk by
 * chunk, maps every weight of a compressed tensor to its nearest centroid (a 65,536-entry lookup
 * table for 16-bit dtypes), bit-packs the codes, copies dense tensors unchanged, measures the
 * exact reconstruction error, and writes the part through {@link PartWriter} (temp file, then
 * rename into place). Memory per task: about three chunk-sized buffers.
 */
final class EncodePass {
  private EncodePass() {}

  record Item(int tensor, String name, String sourceFile, long sourceLength, DType dtype, long offset, long numel,
      long byteLength, int group, int bits, float scale) implements Serializable {}

  record Task(int part, String fileName, byte[] header, long expectedLength, List<Item> items)
      implements Serializable {}

  /** Error of one tensor as measured while encoding it. */
  record TensorError(int tensor, ErrorStats stats) implements Serializable {}

  record PartResult(int part, String fileName, long size, String crc32c, List<TensorError> errors)
      implements Serializable {}

  static List<PartResult> run(JavaSparkContext jsc, CompressionPlan plan, Codebook[] codebooks,
      float[] scales, String outputDir, SerializableConfiguration conf, ReadMeter meter) {
    List<Task> tasks = new ArrayList<>();
    for (OutputPart part : plan.parts()) {
      List<Item> items = new ArrayList<>();
      for (int t : part.tensors()) {
        Tensor tensor = plan.tensors().get(t);
        String src = new Path(plan.sourceDirectory(), plan.sourceFiles().get(tensor.file())).toString();
        items.add(new Item(t, tensor.name(), src, plan.sourceFileLengths().get(tensor.file()),
            tensor.dtype(), tensor.offset(), tensor.numel(),
            tensor.byteLength(), tensor.group(), tensor.bits(), scales[t]));
      }
      var layout = plan.layout(part);
      tasks.add(new Task(part.index(), part.fileName(), layout.headerBytes(), layout.fileLength(), items));
    }
    Broadcast<Codebook[]> books = jsc.broadcast(codebooks);
    long chunkBytes = plan.config().chunkBytes();
    jsc.setJobDescription("sparticle: encode " + tasks.size() + " parts");
    try {
      return jsc.parallelize(tasks, tasks.size())
          .map(task -> encode(task, books.value(), chunkBytes, outputDir, conf, meter))
          .collect();
    } finally {
      books.destroy();
    }
  }

  static PartResult encode(Task task, Codebook[] codebooks, long chunkBytes, String outputDir,
      SerializableConfiguration conf, ReadMeter meter) throws IOException {
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
          errors.add(new TensorError(item.tensor(),
              encodeTensor(in, item, codebooks[item.group()], out, chunkBytes)));
          i++;
        }
      }
      c = out.commit(task.expectedLength());
    }
    meter.add(readers.stats());
    return new PartResult(task.part(), task.fileName(), c.size(), c.crc32c(), errors);
  }

  private static ErrorStats encodeTensor(RangeReader in, Item item, Codebook codebook,
      PartWriter out, long chunkBytes) throws IOException {
    return encodeTensor(in, item.dtype(), item.offset(), item.numel(), item.bits(), codebook,
        item.scale(), chunkBytes, (first, n, packed, packedBytes) -> out.write(packed, 0, packedBytes));
  }

  /** Receives a tensor's packed codes chunk by chunk, in order. */
  interface PackedChunks {
    /**
     * {@code packed[0, packedBytes)} holds the codes of elements {@code [first, first + n)};
     * {@code first} is a multiple of 8, so the chunks concatenate byte-aligned.
     */
    void accept(long first, int n, byte[] packed, int packedBytes) throws IOException;
  }

  /**
   * Encodes a tensor's {@code numel} weights at {@code offset} of {@code in} to their
   * nearest-centroid codes and packs them, at most chunk-bytes of weights at a time: the one code
   * path of the encode pass, also used by {@code verify --against} to re-derive the codes a
   * checkpoint must hold. Returns the exact error of the reconstruction.
   */
  static ErrorStats encodeTensor(RangeReader in, DType dtype, long offset, long numel, int bits,
      Codebook codebook, float scale, long chunkBytes, PackedChunks sink) throws IOException {
    ValueKind kind = Kinds.of(dtype);
    int size = kind.byteSize();
    long maxElems = CompressionPlan.elementsPerChunk(chunkBytes, size);
    int chunkElems = (int) Math.min(maxElems, numel);
    byte[] raw = new byte[chunkElems * size];
    byte[] codes = new byte[chunkElems];
    byte[] packed = new byte[(int) BitPacking.bytesRequired(chunkElems, bits)];
    TensorEncoder enc = kind == ValueKind.F32
        ? TensorEncoder.f32(codebook, scale)
        : TensorEncoder.sixteenBit(kind, codebook, scale);
    for (long first = 0; first < numel; first += chunkElems) {
      PartWriter.stopIfKilled();
      int n = (int) Math.min(chunkElems, numel - first);
      in.readFully(offset + first * size, raw, 0, n * size);
      enc.encode(raw, n, codes);
      int packedBytes = (int) BitPacking.bytesRequired(n, bits);
      BitPacking.pack(codes, 0, n, bits, packed, 0);
      sink.accept(first, n, packed, packedBytes);
    }
    return enc.stats();
  }
}
