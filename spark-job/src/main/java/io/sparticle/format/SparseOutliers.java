package io.sparticle.format;

import io.sparticle.io.RangeReader;
import java.io.IOException;

/**
 * A tensor's outliers, stored sparse beside its codes as FORMAT.md section 2.7 says: U32 counts
 * per segment of 65,536 elements, then each outlier's U16 index within its segment, then its
 * value in the tensor's dtype (exactly the source bits). {@link Sink} collects them in element
 * order as the encoder meets them; {@link #read} loads them for a decoder.
 */
public final class SparseOutliers {
  /** Elements per segment. */
  public static final int SEGMENT = 1 << 16;

  private final long[] positions;
  private final byte[] values;
  private final int valueSize;

  private SparseOutliers(long[] positions, byte[] values, int valueSize) {
    this.positions = positions;
    this.values = values;
    this.valueSize = valueSize;
  }

  /** Segments of a tensor of {@code numel} elements. */
  public static long segments(long numel) {
    return (numel + SEGMENT - 1) / SEGMENT;
  }

  /** Stored bytes of {@code count} outliers of a tensor. */
  public static long bytes(long numel, long count, DType dtype) {
    return segments(numel) * 4 + count * (2 + dtype.byteSize());
  }

  public int size() {
    return positions.length;
  }

  /** The outliers' values, each the tensor's dtype bytes, in position order. */
  public byte[] values() {
    return values.clone();
  }

  /** Element index of outlier {@code i}, ascending. */
  public long position(int i) {
    return positions[i];
  }

  /**
   * Reads the outliers of a tensor of {@code numel} elements: counts, index and values aux
   * tensors as stored, checked (counts summing to the count, indices ascending within a segment
   * and inside the tensor).
   *
   * @throws CheckpointFormatException naming the tensor if they are inconsistent
   */
  static SparseOutliers read(RangeReader in, StoredTensor.Aux counts, StoredTensor.Aux index,
      StoredTensor.Aux values, long numel, DType dtype, String file, String tensor)
      throws IOException {
    int segs = Math.toIntExact(segments(numel));
    byte[] c = new byte[segs * 4];
    in.readFully(counts.offset(), c, 0, c.length);
    int n = Math.toIntExact(index.byteLength() / 2);
    byte[] ix = new byte[n * 2];
    in.readFully(index.offset(), ix, 0, ix.length);
    byte[] v = new byte[Math.toIntExact(values.byteLength())];
    in.readFully(values.offset(), v, 0, v.length);
    long[] pos = new long[n];
    int at = 0;
    for (int s = 0; s < segs; s++) {
      long count = LittleEndian.i32(c, s * 4) & 0xFFFFFFFFL;
      long prev = -1;
      for (long j = 0; j < count; j++, at++) {
        if (at >= n) {
          throw bad(file, tensor, "outlier counts sum past the " + n + " outliers stored");
        }
        long i = LittleEndian.u16(ix, at * 2);
        long p = (long) s * SEGMENT + i;
        if (i <= prev || p >= numel) {
          throw bad(file, tensor, "outlier " + at + " at element " + p
              + " is out of order or past the tensor's " + numel + " elements");
        }
        prev = i;
        pos[at] = p;
      }
    }
    if (at != n) {
      throw bad(file, tensor, "outlier counts sum to " + at + " but " + n + " outliers are stored");
    }
    return new SparseOutliers(pos, v, dtype.byteSize());
  }

  private static CheckpointFormatException bad(String file, String tensor, String detail) {
    return new CheckpointFormatException(CheckpointFormatException.Reason.INVALID_COMPRESSED,
        file, tensor, detail);
  }

  /**
   * Writes the outliers among elements {@code [first, first + n)} over {@code dense}, which holds
   * those elements' bytes; {@code from} is the first outlier not yet written, and the next is
   * returned.
   */
  int patch(long first, int n, byte[] dense, int from) {
    int i = from;
    while (i < positions.length && positions[i] < first + n) {
      System.arraycopy(values, i * valueSize, dense, (int) (positions[i] - first) * valueSize,
          valueSize);
      i++;
    }
    return i;
  }

  /** Collects outliers in element order while encoding. */
  static final class Sink {
  private final DType dtype;
  private final long expected;
  private final int[] perSegment;
  private int[] index = new int[64];
  private float[] values = new float[64];
  private int n;
  private long last = -1;

  Sink(DType dtype, long numel, long expected) {
    this.dtype = dtype;
    this.expected = expected;
    this.perSegment = new int[Math.toIntExact(segments(numel))];
  }

  void add(long position, float x) {
    if (position <= last) {
      throw new IllegalStateException("outliers out of order at element " + position);
    }
    last = position;
    if (n == index.length) {
      index = java.util.Arrays.copyOf(index, n * 2);
      values = java.util.Arrays.copyOf(values, n * 2);
    }
    index[n] = (int) (position % SEGMENT);
    values[n] = x;
    perSegment[(int) (position / SEGMENT)]++;
    n++;
  }

  /**
   * The stored bytes.
   *
   * @throws IllegalStateException if the count differs from the one the plan laid out (the
   *     input changed between the passes)
   */
  byte[] bytes() {
    if (n != expected) {
      throw new IllegalStateException("found " + n + " outliers where the histogram pass counted "
          + expected + "; did the input change during the job?");
    }
    int size = dtype.byteSize();
    byte[] out = new byte[perSegment.length * 4 + n * (2 + size)];
    int p = 0;
    for (int c : perSegment) {
      LittleEndian.put32(out, p, c);
      p += 4;
    }
    for (int i = 0; i < n; i++, p += 2) {
      LittleEndian.put16(out, p, index[i]);
    }
    for (int i = 0; i < n; i++, p += size) {
      int bits = TensorDecoder.dtypeBits(dtype, values[i]);
      if (size == 2) {
        LittleEndian.put16(out, p, bits);
      } else {
        LittleEndian.put32(out, p, bits);
      }
    }
    return out;
  }
}
}
