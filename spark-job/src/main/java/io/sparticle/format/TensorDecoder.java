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
    TensorCodec codec = t.codec(in);
    SparseOutliers outliers = t.readOutliers(in);
    int nextOutlier = 0;
    UnitLayout layout = codec.layout();
    int size = t.dtype().byteSize();
    int bits = t.bits();
    long numel = t.numel();
    int chunkElems = (int) Math.min(elementsPerChunk(chunkBytes, size), Math.max(1, numel));
    byte[] packed = new byte[(int) BitPacking.bytesRequired(chunkElems, bits)];
    byte[] codes = new byte[chunkElems];
    byte[] dense = new byte[chunkElems * size];
    // A shared codebook is one table of dtype bits per code; otherwise each weight's unit has its own.
    int[] table = null;
    if (layout.numUnits() == 1) {
      table = new int[codec.numCodes()];
      for (int c = 0; c < table.length; c++) {
        table[c] = dtypeBits(t.dtype(), codec.value(0, c));
      }
    }
    for (long first = 0; first < numel; first += chunkElems) {
      checkpoint.check();
      int n = (int) Math.min(chunkElems, numel - first);
      int packedBytes = (int) BitPacking.bytesRequired(n, bits);
      // first is a multiple of 8, so its codes start on a byte boundary.
      in.readFully(t.offset() + first / 8 * bits, packed, 0, packedBytes);
      BitPacking.unpack(packed, 0, n, bits, codes, 0);
      for (int i = 0, p = 0; i < n; i++, p += size) {
        int code = codes[i] & 0xFF;
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
}
