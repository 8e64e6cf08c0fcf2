package io.sparticle.format;

import io.sparticle.format.CheckpointFormatException.Reason;
import io.sparticle.io.RangeReader;
import io.sparticle.packing.BitPacking;
import io.sparticle.packing.EntropyCoder;
import io.sparticle.quant.EncodingSpec;
import java.io.IOException;

/**
 * Reads an encoded tensor's codes in order, whatever their packing (FORMAT.md 2.2 and 2.9):
 * bit-packed ({@code lsb}) codes straight from their bytes, entropy-coded ones segment by
 * segment, each segment decoded once and kept while reads stay inside it. The one place decode,
 * verify and tools get codes from.
 *
 * <pre>{@code
 * CodeReader codes = CodeReader.open(stored, in);
 * int[] out = new int[n];
 * codes.read(first, n, out);
 * }</pre>
 */
public final class CodeReader {
  private final StoredTensor t;
  private final RangeReader in;
  private final int bits;
  private final long numCodes;
  // lsb
  private byte[] packed = new byte[0];
  private byte[] narrow = new byte[0];
  private short[] wide = new short[0];
  // entropy-coded
  private final EntropyCoder.Kind kind;
  private final long[] ends;
  private final int segmentCodes;
  private int[] segment;
  private long loaded = -1;
  private byte[] coded = new byte[0];

  private CodeReader(StoredTensor t, RangeReader in, long[] ends) {
    this.t = t;
    this.in = in;
    this.bits = t.codeBits();
    this.numCodes = t.numCodes();
    this.ends = ends;
    this.kind = ends == null ? null : EntropyCoder.Kind.valueOf(t.spec().entropy().name());
    this.segmentCodes = t.segmentCodes();
  }

  /** A reader of encoded tensor {@code t}'s codes; its segment index is read and checked here. */
  public static CodeReader open(StoredTensor t, RangeReader in) throws IOException {
    if (t.spec().entropy() == EncodingSpec.Entropy.NONE) {
      return new CodeReader(t, in, null);
    }
    StoredTensor.Aux s = t.segments();
    int count = Math.toIntExact(s.byteLength() / 8);
    byte[] raw = new byte[count * 8];
    in.readFully(s.offset(), raw, 0, raw.length);
    long[] ends = new long[count];
    long prev = 0;
    for (int i = 0; i < count; i++) {
      ends[i] = LittleEndian.i64(raw, i * 8);
      if (ends[i] < prev || ends[i] > t.byteLength()) {
        throw bad(t, "segment " + i + " ends at byte " + ends[i] + ", outside ["
            + prev + ", " + t.byteLength() + "]");
      }
      prev = ends[i];
    }
    if (count > 0 && ends[count - 1] != t.byteLength()) {
      throw bad(t, "its segments end at byte " + ends[count - 1] + " but its codes hold "
          + t.byteLength() + " bytes");
    }
    return new CodeReader(t, in, ends);
  }

  /** Codes {@code [first, first + n)} into {@code out[0, n)}. */
  public void read(long first, int n, int[] out) throws IOException {
    if (first < 0 || n < 0 || first + n > numCodes) {
      throw new IllegalArgumentException(
          "codes [" + first + ", " + (first + n) + ") of " + numCodes + " in '" + t.name() + "'");
    }
    if (ends == null) {
      readPacked(first, n, out);
      return;
    }
    int done = 0;
    while (done < n) {
      long at = first + done;
      long s = at / segmentCodes;
      if (s != loaded) {
        load((int) s);
      }
      int from = (int) (at - s * segmentCodes);
      int len = (int) Math.min(n - done, Math.min(segmentCodes, numCodes - s * segmentCodes) - from);
      System.arraycopy(segment, from, out, done, len);
      done += len;
    }
  }

  /** Whether the codes are bit-packed as they are, so {@link #readPackedBytes} can read them. */
  public boolean bitPacked() {
    return ends == null;
  }

  /**
   * The bit-packed bytes of codes {@code [first, first + n)} into {@code dst[0,
   * BitPacking.bytesRequired(n, bits))}, for a caller that unpacks them itself; {@code first} is
   * a multiple of 8 (its code starts a byte). Bit-packed codes only.
   */
  public void readPackedBytes(long first, int n, byte[] dst) throws IOException {
    if (first < 0 || n < 0 || first + n > numCodes || (first & 7) != 0 || ends != null) {
      throw new IllegalArgumentException("packed bytes of codes [" + first + ", " + (first + n)
          + ") of " + numCodes + " in '" + t.name() + "'");
    }
    in.readFully(t.offset() + first / 8 * bits, dst, 0, (int) BitPacking.bytesRequired(n, bits));
  }

  private void readPacked(long first, int n, int[] out) throws IOException {
    // Every 8th code starts on a byte: read from the one at or before first.
    int skip = (int) (first & 7);
    long from = first - skip;
    int count = n + skip;
    int bytes = (int) BitPacking.bytesRequired(count, bits);
    if (packed.length < bytes) {
      packed = new byte[bytes];
    }
    in.readFully(t.offset() + from / 8 * bits, packed, 0, bytes);
    if (bits <= BitPacking.MAX_BITS_PER_VALUE) {
      if (narrow.length < count) {
        narrow = new byte[count];
      }
      BitPacking.unpack(packed, 0, count, bits, narrow, 0);
      for (int i = 0; i < n; i++) {
        out[i] = narrow[skip + i] & 0xFF;
      }
    } else {
      if (wide.length < count) {
        wide = new short[count];
      }
      BitPacking.unpack(packed, 0, count, bits, wide, 0);
      for (int i = 0; i < n; i++) {
        out[i] = wide[skip + i] & 0xFFFF;
      }
    }
  }

  private void load(int s) throws IOException {
    long start = s == 0 ? 0 : ends[s - 1];
    int len = Math.toIntExact(ends[s] - start);
    int n = (int) Math.min(segmentCodes, numCodes - (long) s * segmentCodes);
    if (coded.length < len) {
      coded = new byte[len];
    }
    in.readFully(t.offset() + start, coded, 0, len);
    if (segment == null) {
      segment = new int[(int) Math.min(segmentCodes, Math.max(1, numCodes))];
    }
    try {
      EntropyCoder.decodeSegment(kind, bits, coded, 0, len, n, segment, 0);
    } catch (IllegalArgumentException e) {
      loaded = -1;
      throw bad(t, "segment " + s + " of its " + kind.key() + " codes: " + e.getMessage());
    }
    loaded = s;
  }

  private static CheckpointFormatException bad(StoredTensor t, String detail) {
    return new CheckpointFormatException(Reason.INVALID_COMPRESSED, t.dataFile(), t.name(), detail);
  }
}
