package io.sparticle.format;

import io.sparticle.io.OutputFile;
import io.sparticle.io.RangeReader;
import io.sparticle.quant.CodebookPrecision;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.ValueHistogram;
import io.sparticle.quant.ErrorStats;
import io.sparticle.quant.Importance;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * The writer of compressed checkpoints (FORMAT.md), free of Spark: a data part from its source
 * tensors, {@code codebooks.safetensors}, and small files, each through the {@link OutputFile}
 * seam (so nothing appears under a file's name unless it is complete). The Spark job calls it from
 * its encode tasks and its driver; {@link Manifest#toJson} writes the manifest.
 *
 * <pre>{@code
 * CheckpointWriter.Part p = CheckpointWriter.writePart(file, layout.headerBytes(),
 *     layout.fileLength(), items, specs, codebooks, 64 << 20, readers::get, () -> {});
 * }</pre>
 */
public final class CheckpointWriter {
  private CheckpointWriter() {}

  /**
   * A source tensor of a part: dense ({@code group} -1, its bytes copied) or encoded with
   * group {@code group}'s spec; {@code importance} (or null) weighs its output error.
   */
  public record Item(int tensor, String name, String sourceFile, long sourceLength, DType dtype,
      long offset, long[] shape, long byteLength, int group, int axis, float scale,
      ValueHistogram.Outliers outliers, Importance importance)
      implements Serializable {
    public Item(int tensor, String name, String sourceFile, long sourceLength, DType dtype,
        long offset, long[] shape, long byteLength, int group, int axis, float scale) {
      this(tensor, name, sourceFile, sourceLength, dtype, offset, shape, byteLength, group, axis,
          scale, ValueHistogram.Outliers.NONE, null);
    }
  }

  /** Opens source files for positioned reads; the caller owns and closes them. */
  @FunctionalInterface
  public interface Sources {
    RangeReader get(String path, long length) throws IOException;
  }

  /** Error of one tensor as measured while encoding it. */
  public record TensorError(int tensor, ErrorStats stats) implements Serializable {}

  /** A written part. */
  public record Part(OutputFile.Committed committed, List<TensorError> errors) {}

  /**
   * Writes one part: {@code header}, then each item's bytes in order (a run of dense tensors that
   * follow each other in one source is one copy; an encoded tensor is its packed codes, then its
   * per-tensor parameters), and commits it at exactly {@code expectedLength} bytes.
   */
  public static Part writePart(OutputFile file, byte[] header, long expectedLength,
      List<Item> items, EncodingSpec[] specs, float[][] codebooks, long chunkBytes, Sources sources,
      TensorDecoder.Checkpoint checkpoint) throws IOException {
    List<TensorError> errors = new ArrayList<>();
    try (OutputFile.Output out = file.create()) {
      out.write(header, 0, header.length);
      for (int i = 0; i < items.size(); ) {
        Item item = items.get(i);
        RangeReader in = sources.get(item.sourceFile(), item.sourceLength());
        if (item.group() < 0) {
          // One read per run, not per tensor: a checkpoint of many small tensors is otherwise
          // bound by per-read overhead.
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
          checkpoint.check();
          out.copy(in, item.offset(), length, chunkBytes);
          i = j;
          continue;
        }
        TensorEncoder.Encoded e;
        try {
          e = TensorEncoder.encode(in, item.offset(), item.dtype(), item.shape(), item.axis(),
              specs[item.group()], codebooks[item.group()], item.scale(), item.outliers(),
              item.importance(), null, chunkBytes,
              (first, n, packed, packedBytes) -> out.write(packed, 0, packedBytes), checkpoint);
        } catch (IllegalArgumentException ex) {
          throw new IllegalArgumentException("Tensor '" + item.name() + "' of " + item.sourceFile()
              + ": " + ex.getMessage(), ex);
        }
        out.write(e.params(), 0, e.params().length);
        errors.add(new TensorError(item.tensor(), e.stats()));
        i++;
      }
      checkpoint.check();
      return new Part(out.commit(expectedLength), errors);
    }
  }

  /**
   * {@code codebooks.safetensors}: tensor {@code names[g]} of shape [k] for every group g with
   * a shared codebook ({@code codebooks[g]} not null), in its precision's dtype.
   */
  public static byte[] codebooksFile(EncodingSpec[] specs, String[] names, float[][] codebooks) {
    SafetensorsLayout.Builder b = SafetensorsLayout.builder();
    for (int g = 0; g < specs.length; g++) {
      if (codebooks[g] != null) {
        b.add(names[g], Centroids.dtype(specs[g].codebookPrecision()), new long[] {codebooks[g].length});
      }
    }
    SafetensorsLayout layout = b.build();
    byte[] out = new byte[Math.toIntExact(layout.fileLength())];
    byte[] header = layout.headerBytes();
    System.arraycopy(header, 0, out, 0, header.length);
    int pos = header.length;
    for (int g = 0; g < specs.length; g++) {
      if (codebooks[g] == null) {
        continue;
      }
      CodebookPrecision p = specs[g].codebookPrecision();
      for (float c : codebooks[g]) {
        Centroids.put(out, pos, p, c);
        pos += p.byteSize();
      }
    }
    return out;
  }

  /** Writes a small file in one piece. */
  public static OutputFile.Committed writeSmall(OutputFile file, byte[] bytes) throws IOException {
    try (OutputFile.Output out = file.create()) {
      out.write(bytes, 0, bytes.length);
      return out.commit(bytes.length);
    }
  }
}
