package io.sparticle.format;

import io.sparticle.io.RangeReader;
import io.sparticle.packing.BitPacking;
import io.sparticle.quant.HalfFloats;
import io.sparticle.quant.TensorCodec;
import io.sparticle.quant.UnitLayout;
import java.io.IOException;

/**
 * Decodes an encoded tensor of a compressed checkpoint to its dtype's little-endian bytes:
 * {@code value(unit, code)} of its codec, rounded to the dtype (FORMAT.md section 2). What
 * {@code decompress}, {@code evaluate} and tools write.
 *
 * <pre>{@code
 * TensorDecoder.decode(stored, reader, out::write, 64 << 20, () -> {});
 * }</pre>
 */
public final class TensorDecoder {
  private TensorDecoder() {}

  /** Called between chunks; may throw to stop (a cancelled Spark task). */
  @FunctionalInterface
  public interface Checkpoint {
    void check();
  }

  /** Elements handled at once: chunk-bytes of output, a multiple of 8 (at least 8). */
  public static long elementsPerChunk(long chunkBytes, int elementSize) {
    return Math.max(8, (chunkBytes / elementSize) / 8 * 8);
  }

  /**
   * Bytes a streaming kernel reads at once (when chunk-bytes allows): large enough that HDFS and
   * object stores serve each read at full speed, small enough that the buffers stay in the CPU's
   * caches instead of making a round trip through memory, and that a task allocates little.
   */
  public static final int READ_BYTES = 8 << 20;

  /**
   * Elements of a tensor of {@code numel} handled per read: {@link #READ_BYTES} (at most
   * chunk-bytes) of them, a multiple of 8 (at least 8), or the whole tensor if it is smaller.
   */
  public static int elementsPerRead(long chunkBytes, int elementSize, long numel) {
    return (int) Math.min(elementsPerChunk(Math.min(chunkBytes, READ_BYTES), elementSize),
        Math.max(1, numel));
  }

  /** The dtype bits of {@code v} (round to nearest even for F16 and BF16). */
  public static int dtypeBits(DType dtype, float v) {
    return switch (dtype) {
      case F32 -> Float.floatToRawIntBits(v);
      case F16 -> HalfFloats.floatToF16(v) & 0xFFFF;
      case BF16 -> HalfFloats.floatToBf16(v) & 0xFFFF;
      default -> throw new IllegalArgumentException("Cannot decode to " + dtype);
    };
  }

  /** Writes the decoded bytes of encoded tensor {@code t}, whose data file is {@code in}. */
  public static void decode(StoredTensor t, RangeReader in, ByteSink out, long chunkBytes,
      Checkpoint checkpoint) throws IOException {
    if (t.spec().vector()) {
      decodeVectors(t, in, out, chunkBytes, checkpoint);
      return;
    }
    TensorCodec codec = t.codec(in);
    CodeReader reader = CodeReader.open(t, in);
    SparseOutliers outliers = t.readOutliers(in);
    int nextOutlier = 0;
    UnitLayout layout = codec.layout();
    int size = t.dtype().byteSize();
    long numel = t.numel();
    int chunkElems = elementsPerRead(chunkBytes, size, numel);
    byte[] dense = new byte[chunkElems * size];
    // A shared codebook is one table of dtype bits per code; otherwise each weight's unit has its own.
    int[] table = null;
    if (layout.numUnits() == 1) {
      table = new int[codec.numCodes()];
      for (int c = 0; c < table.length; c++) {
        table[c] = dtypeBits(t.dtype(), codec.value(0, c));
      }
    }
    int bits = t.codeBits();
    ByteTable bytes = table != null && reader.bitPacked() ? ByteTable.of(table, bits, size) : null;
    if (bytes != null) {
      byte[] packed = new byte[(int) BitPacking.bytesRequired(chunkElems, bits)];
      for (long first = 0; first < numel; first += chunkElems) {
        checkpoint.check();
        int n = (int) Math.min(chunkElems, numel - first);
        reader.readPackedBytes(first, n, packed);
        bytes.expand(packed, n, dense);
        if (outliers != null) {
          nextOutlier = outliers.patch(first, n, dense, nextOutlier);
        }
        out.write(dense, 0, n * size);
      }
      return;
    }
    int[] codes = new int[chunkElems];
    for (long first = 0; first < numel; first += chunkElems) {
      checkpoint.check();
      int n = (int) Math.min(chunkElems, numel - first);
      reader.read(first, n, codes);
      for (int i = 0, p = 0; i < n; i++, p += size) {
        int code = codes[i];
        int v = table != null ? table[code]
            : dtypeBits(t.dtype(), codec.value((int) layout.unitOf(first + i), code));
        if (size == 2) {
          LittleEndian.put16(dense, p, v);
        } else {
          LittleEndian.put32(dense, p, v);
        }
      }
      if (outliers != null) {
        nextOutlier = outliers.patch(first, n, dense, nextOutlier);
      }
      out.write(dense, 0, n * size);
    }
  }

  /**
   * A shared codebook's dtype bits for every value of a packed byte (all the codes it holds, in
   * order), for widths whose codes fill whole bytes and whose expansion is one 2-, 4- or 8-byte
   * little-endian word: a byte of packed codes decodes with one lookup and one store.
   */
  private static final class ByteTable {
    private final long[] words = new long[256];
    private final int perByte;
    private final int bits;
    private final int size;
    private final int[] table;

    private ByteTable(int[] table, int bits, int size) {
      this.table = table;
      this.bits = bits;
      this.size = size;
      this.perByte = 8 / bits;
      int mask = (1 << bits) - 1;
      for (int b = 0; b < 256; b++) {
        long w = 0;
        for (int k = 0; k < perByte; k++) {
          int code = (b >>> (k * bits)) & mask;
          // A code past the codebook never decodes here: expand checks every byte it reads.
          long v = code < table.length ? table[code] & (size == 2 ? 0xFFFFL : 0xFFFFFFFFL) : 0;
          w |= v << (k * 8 * size);
        }
        words[b] = w;
      }
    }

    /** The table for these widths, or null when the general path decodes them. */
    static ByteTable of(int[] table, int bits, int size) {
      int wordBytes = bits > 0 && 8 % bits == 0 ? 8 / bits * size : 0;
      return wordBytes == 2 || wordBytes == 4 || wordBytes == 8
          ? new ByteTable(table, bits, size) : null;
    }

    /** Decodes the first {@code n} codes packed in {@code packed} into {@code dense}. */
    void expand(byte[] packed, int n, byte[] dense) {
      int whole = n / perByte;
      int wordBytes = perByte * size;
      if (table.length < 1 << bits) {
        checkCodes(packed, whole);
      }
      switch (wordBytes) {
        case 2 -> {
          for (int j = 0; j < whole; j++) {
            LittleEndian.put16(dense, 2 * j, (int) words[packed[j] & 0xFF]);
          }
        }
        case 4 -> {
          for (int j = 0; j < whole; j++) {
            LittleEndian.put32(dense, 4 * j, (int) words[packed[j] & 0xFF]);
          }
        }
        default -> {
          for (int j = 0; j < whole; j++) {
            LittleEndian.put64(dense, 8 * j, words[packed[j] & 0xFF]);
          }
        }
      }
      // The codes of a last, partly filled byte.
      for (int i = whole * perByte, k = 0; i < n; i++, k++) {
        int code = (packed[whole] >>> (k * bits)) & ((1 << bits) - 1);
        put(dense, i * size, size, table[code]);
      }
    }

    /** Fails as the general path's table lookup does on a code the codebook does not have. */
    private void checkCodes(byte[] packed, int whole) {
      int mask = (1 << bits) - 1;
      for (int j = 0; j < whole; j++) {
        for (int k = 0; k < perByte; k++) {
          int code = (packed[j] >>> (k * bits)) & mask;
          if (code >= table.length) {
            throw new ArrayIndexOutOfBoundsException(
                "Index " + code + " out of bounds for length " + table.length);
          }
        }
      }
    }
  }

  /**
   * Elements per chunk of a vq tensor: whole sub-vectors, their codes starting on a byte
   * (a multiple of 8 codes). Sub-vectors along the last axis are {@code dim} consecutive weights;
   * along axis 0 of a tensor with rows of {@code row} weights, a chunk holds whole bands of
   * {@code dim} rows.
   */
  public static int vectorChunkElements(long chunkBytes, int elementSize, int dim, long row,
      boolean strided, long numel) {
    long unit = strided ? dim * row : 8L * dim;
    long n = Math.max(1, chunkBytes / elementSize / unit) * unit;
    return Math.toIntExact(Math.min(n, Math.max(unit, numel)));
  }

  /**
   * vq (FORMAT.md 2.10): sub-vector {@code v}'s weights are {@code codebook[code(v)][t] * scale};
   * along the last axis sub-vector {@code v} is weights {@code [v*dim, v*dim + dim)}; along axis
   * 0, with rows of {@code row} weights, sub-vector {@code i*row + c} is weights
   * {@code (i*dim + t)*row + c}.
   */
  private static void decodeVectors(StoredTensor t, RangeReader in, ByteSink out, long chunkBytes,
      Checkpoint checkpoint) throws IOException {
    int d = t.spec().dim();
    CodeReader reader = CodeReader.open(t, in);
    SparseOutliers outliers = t.readOutliers(in);
    int nextOutlier = 0;
    int size = t.dtype().byteSize();
    long numel = t.numel();
    long[] shape = t.shape();
    boolean strided = t.axis() == 0 && shape.length >= 2;
    long row = strided ? numel / shape[0] : 1;
    int chunk = vectorChunkElements(chunkBytes, size, d, row, strided, numel);
    float[] cw = t.sharedCodebook();
    int k = cw.length / d;
    // The dtype bits of every codeword coordinate at this tensor's scale: one table, as scalar decode.
    int[] table = new int[k * d];
    for (int i = 0; i < table.length; i++) {
      table[i] = dtypeBits(t.dtype(), cw[i] * t.scale());
    }
    int[] codes = new int[chunk / d];
    byte[] dense = new byte[chunk * size];
    for (long first = 0; first < numel; first += chunk) {
      checkpoint.check();
      int n = (int) Math.min(chunk, numel - first);
      int m = n / d;
      reader.read(first / d, m, codes);
      if (!strided) {
        for (int v = 0, p = 0; v < m; v++) {
          int base = codes[v] * d;
          for (int j = 0; j < d; j++, p += size) {
            put(dense, p, size, table[base + j]);
          }
        }
      } else {
        int r = (int) row;
        for (int band = 0; band < n / (d * r); band++) {
          int codeOff = band * r;
          int elemOff = band * d * r;
          for (int j = 0; j < d; j++) {
            int p = (elemOff + j * r) * size;
            for (int c = 0; c < r; c++, p += size) {
              put(dense, p, size, table[codes[codeOff + c] * d + j]);
            }
          }
        }
      }
      if (outliers != null) {
        nextOutlier = outliers.patch(first, n, dense, nextOutlier);
      }
      out.write(dense, 0, n * size);
    }
  }

  private static void put(byte[] dense, int p, int size, int v) {
    if (size == 2) {
      LittleEndian.put16(dense, p, v);
    } else {
      LittleEndian.put32(dense, p, v);
    }
  }
}
