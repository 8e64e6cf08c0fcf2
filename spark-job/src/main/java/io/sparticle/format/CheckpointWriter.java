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
 * CheckpointWriter.Part p = CheckpointWriter.writePart(file, plan.entries(part), items, specs,
 *     codebooks, 64 << 20, readers::get, () -> {});
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
      ValueHistogram.Outliers outliers, Importance importance, ValueHistogram.Pruned pruned)
      implements Serializable {
    public Item(int tensor, String name, String sourceFile, long sourceLength, DType dtype,
        long offset, long[] shape, long byteLength, int group, int axis, float scale,
        ValueHistogram.Outliers outliers, Importance importance) {
      this(tensor, name, sourceFile, sourceLength, dtype, offset, shape, byteLength, group, axis,
          scale, outliers, importance, ValueHistogram.Pruned.NONE);
    }

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

  /**
   * Error of one tensor as measured while encoding it; {@code codeBytes}: the bytes its codes
   * take (for entropy-coded codes, with their segment index), and {@code codeCounts} how often
   * each code occurs (entropy-coded tensors only, else null).
   */
  public record TensorError(int tensor, ErrorStats stats, long codeBytes, long[] codeCounts)
      implements Serializable {
    public TensorError(int tensor, ErrorStats stats) {
      this(tensor, stats, -1, null);
    }
  }

  /** A written part. */
  public record Part(OutputFile.Committed committed, List<TensorError> errors) {}

  /**
   * A tensor of a part's header, in data order. The codes of an entropy-coded tensor are U8 of a
   * length known only once they are written: their entry's shape is replaced then.
   */
  public record Entry(String name, DType dtype, long[] shape) implements Serializable {}

  /** The header of entries (with their shapes as given). */
  public static SafetensorsLayout layout(List<Entry> entries) {
    SafetensorsLayout.Builder b = SafetensorsLayout.builder();
    for (Entry e : entries) {
      b.add(e.name(), e.dtype(), e.shape());
    }
    return b.build();
  }

  /**
   * Writes one part: the header of {@code entries}, then each item's bytes in order (a run of
   * dense tensors that follow each other in one source is one copy; an encoded tensor is its
   * codes, then for entropy-coded codes their segment index, then its per-tensor parameters), and
   * commits it at exactly the header's length. A part whose items include entropy-coded tensors
   * is written to a local spool file first, since its header needs their coded lengths.
   */
  public static Part writePart(OutputFile file, List<Entry> entries, List<Item> items,
      EncodingSpec[] specs, float[][] codebooks, long chunkBytes, Sources sources,
      TensorDecoder.Checkpoint checkpoint) throws IOException {
    return writePart(file, entries, items, specs, codebooks, new Manifest.Mixture[specs.length],
        chunkBytes, sources, checkpoint);
  }

  /** As above, gmm groups encoded with their {@code mixtures} (null for other groups). */
  public static Part writePart(OutputFile file, List<Entry> entries, List<Item> items,
      EncodingSpec[] specs, float[][] codebooks, Manifest.Mixture[] mixtures, long chunkBytes,
      Sources sources, TensorDecoder.Checkpoint checkpoint) throws IOException {
    boolean entropy = false;
    for (Item item : items) {
      entropy |= item.group() >= 0 && specs[item.group()].entropy() != EncodingSpec.Entropy.NONE;
    }
    if (!entropy) {
      SafetensorsLayout layout = layout(entries);
      try (OutputFile.Output out = file.create()) {
        byte[] header = layout.headerBytes();
        out.write(header, 0, header.length);
        List<TensorError> errors = writeItems(out, items, specs, codebooks, mixtures, chunkBytes,
            sources, checkpoint);
        checkpoint.check();
        return new Part(out.commit(layout.fileLength()), errors);
      }
    }
    java.nio.file.Path spool = java.nio.file.Files.createTempFile("sparticle-part-", ".spool");
    try {
      List<TensorError> errors;
      try (Spool out = new Spool(spool)) {
        errors = writeItems(out, items, specs, codebooks, mixtures, chunkBytes, sources,
            checkpoint);
      }
      java.util.Map<String, Long> coded = new java.util.HashMap<>();
      for (int i = 0; i < items.size(); i++) {
        Item item = items.get(i);
        if (item.group() >= 0 && specs[item.group()].entropy() != EncodingSpec.Entropy.NONE) {
          TensorError e = findError(errors, item.tensor());
          long segments = 8L * segmentCount(item, specs[item.group()]);
          coded.put(item.name(), e.codeBytes() - segments);
        }
      }
      List<Entry> actual = new ArrayList<>(entries.size());
      for (Entry e : entries) {
        Long n = coded.get(e.name());
        actual.add(n == null ? e : new Entry(e.name(), DType.U8, new long[] {n}));
      }
      SafetensorsLayout layout = layout(actual);
      try (OutputFile.Output out = file.create();
          RangeReader in = new io.sparticle.io.LocalInputFile(spool).open()) {
        byte[] header = layout.headerBytes();
        out.write(header, 0, header.length);
        out.copy(in, 0, java.nio.file.Files.size(spool), chunkBytes);
        checkpoint.check();
        return new Part(out.commit(layout.fileLength()), errors);
      }
    } finally {
      java.nio.file.Files.deleteIfExists(spool);
    }
  }

  private static TensorError findError(List<TensorError> errors, int tensor) {
    for (TensorError e : errors) {
      if (e.tensor() == tensor) {
        return e;
      }
    }
    throw new IllegalStateException("no result for tensor " + tensor);
  }

  /** Segments of an entropy-coded tensor's codes. */
  public static long segmentCount(Item item, EncodingSpec spec) {
    long codes = TensorInfo.numel(item.shape()) / spec.dim();
    return (codes + spec.segmentCodes() - 1) / spec.segmentCodes();
  }

  private static List<TensorError> writeItems(OutputFile.Output out, List<Item> items,
      EncodingSpec[] specs, float[][] codebooks, Manifest.Mixture[] mixtures, long chunkBytes,
      Sources sources, TensorDecoder.Checkpoint checkpoint) throws IOException {
    List<TensorError> errors = new ArrayList<>();
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
      EncodingSpec spec = specs[item.group()];
      SegmentWriter segments = spec.entropy() == EncodingSpec.Entropy.NONE ? null
          : new SegmentWriter(spec, out);
      long[] codeBytes = {0};
      TensorEncoder.PackedChunks sink = segments != null ? segments
          : (first, n, packed, packedBytes) -> {
            out.write(packed, 0, packedBytes);
            codeBytes[0] += packedBytes;
          };
      TensorEncoder.Encoded e;
      try {
        e = TensorEncoder.encode(in, item.offset(), item.dtype(), item.shape(), item.axis(), spec,
            codebooks[item.group()], item.scale(), item.outliers(), item.pruned(),
            item.importance(), null, mixtures[item.group()], chunkBytes, sink, checkpoint);
      } catch (IllegalArgumentException ex) {
        throw new IllegalArgumentException("Tensor '" + item.name() + "' of " + item.sourceFile()
            + ": " + ex.getMessage(), ex);
      }
      if (segments != null) {
        codeBytes[0] = segments.finish();
      }
      out.write(e.params(), 0, e.params().length);
      errors.add(new TensorError(item.tensor(), e.stats(), codeBytes[0],
          segments == null ? null : segments.counts()));
      i++;
    }
    return errors;
  }

  /**
   * Receives a tensor's bit-packed codes and writes them entropy-coded: segments of
   * {@link EncodingSpec#segmentCodes} codes, each coded alone, then the segments' end offsets
   * (U64), so a reader decodes any segment without the others.
   */
  private static final class SegmentWriter implements TensorEncoder.PackedChunks {
    private final io.sparticle.packing.EntropyCoder.Kind kind;
    private final int bits;
    private final OutputFile.Output out;
    private final int[] segment;
    private final long[] counts;
    private byte[] narrow = new byte[0];
    private short[] wide = new short[0];
    private int held;
    private long written;
    private final List<Long> ends = new ArrayList<>();

    SegmentWriter(EncodingSpec spec, OutputFile.Output out) {
      this.kind = io.sparticle.packing.EntropyCoder.Kind.valueOf(spec.entropy().name());
      this.bits = spec.codeBits();
      this.out = out;
      this.segment = new int[spec.segmentCodes()];
      this.counts = new long[spec.k()];
    }

    @Override
    public void accept(long first, int n, byte[] packed, int packedBytes) throws IOException {
      int done = 0;
      while (done < n) {
        int m = Math.min(n - done, segment.length - held);
        unpack(packed, done, m);
        done += m;
        if (held == segment.length) {
          flushSegment();
        }
      }
    }

    /** Codes {@code [from, from + m)} of the packed chunk onto the segment. */
    private void unpack(byte[] packed, int from, int m) {
      // from is a multiple of 8 unless a segment boundary falls inside a chunk; segments hold
      // 2^20 or more codes and chunks start on multiples of 8, so from is always a multiple of 8.
      int byteOff = (int) ((long) from * bits / 8);
      if (bits <= io.sparticle.packing.BitPacking.MAX_BITS_PER_VALUE) {
        if (narrow.length < m) {
          narrow = new byte[m];
        }
        io.sparticle.packing.BitPacking.unpack(packed, byteOff, m, bits, narrow, 0);
        for (int i = 0; i < m; i++) {
          int c = narrow[i] & 0xFF;
          segment[held++] = c;
          counts[c]++;
        }
      } else {
        if (wide.length < m) {
          wide = new short[m];
        }
        io.sparticle.packing.BitPacking.unpack(packed, byteOff, m, bits, wide, 0);
        for (int i = 0; i < m; i++) {
          int c = wide[i] & 0xFFFF;
          segment[held++] = c;
          counts[c]++;
        }
      }
    }

    private void flushSegment() throws IOException {
      byte[] coded = io.sparticle.packing.EntropyCoder.encodeSegment(kind, bits, segment, 0, held);
      out.write(coded, 0, coded.length);
      written += coded.length;
      ends.add(written);
      held = 0;
    }

    /** Writes the last segment and the index; the bytes written in all. */
    long finish() throws IOException {
      if (held > 0) {
        flushSegment();
      }
      byte[] index = new byte[ends.size() * 8];
      for (int i = 0; i < ends.size(); i++) {
        LittleEndian.put64(index, i * 8, ends.get(i));
      }
      out.write(index, 0, index.length);
      return written + index.length;
    }

    long[] counts() {
      return counts;
    }
  }

  /** A local file the part's data is written to before its header is known. */
  private static final class Spool implements OutputFile.Output {
    private final java.io.OutputStream out;

    Spool(java.nio.file.Path path) throws IOException {
      this.out = new java.io.BufferedOutputStream(java.nio.file.Files.newOutputStream(path), 1 << 20);
    }

    @Override
    public void write(byte[] b, int offset, int length) throws IOException {
      out.write(b, offset, length);
    }

    @Override
    public OutputFile.Committed commit(long expectedLength) {
      throw new UnsupportedOperationException("a spool is copied, not committed");
    }

    @Override
    public void close() throws IOException {
      out.close();
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
        int dim = specs[g].dim();
        b.add(names[g], Centroids.dtype(specs[g].codebookPrecision()), dim == 1
            ? new long[] {codebooks[g].length} : new long[] {codebooks[g].length / dim, dim});
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
