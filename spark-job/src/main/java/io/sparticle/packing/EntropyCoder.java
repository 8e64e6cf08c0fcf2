package io.sparticle.packing;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Order-0 entropy coding of code streams, one self-contained <em>segment</em> at a time: static
 * rANS or canonical length-limited Huffman.
 *
 * <p>Codes are unsigned integers of {@code bits} = b bits (1..16), alphabet size k = 2^b. A
 * tensor's codes are cut into segments of at most {@link #segmentCodes segmentCodes(b)} codes;
 * each segment carries its own table, so segments decode independently and in parallel. The
 * segment does not store its code count n: the caller knows it (from the segment's position in
 * the tensor) and passes it to {@link #decodeSegment}.
 *
 * <pre>{@code
 * byte[] seg = EntropyCoder.encodeSegment(Kind.RANS, 4, codes, 0, n);
 * int[] back = new int[n];
 * EntropyCoder.decodeSegment(Kind.RANS, 4, seg, 0, seg.length, n, back, 0);
 * }</pre>
 *
 * <h2>Segment layout (format 1)</h2>
 *
 * <p>A segment is: one <b>tag</b> byte, the <b>symbol table</b>, then the <b>stream</b>. Every
 * byte up to the segment's end is accounted for: a decoder rejects trailing bytes.
 *
 * <p><b>Tag.</b> {@code 0x11} = Huffman, format 1; {@code 0x12} = rANS, format 1. Other values are
 * refused.
 *
 * <p><b>Symbol table.</b> A value v[s] &ge; 0 for each symbol s = 0..k-1, in order, written as
 * unsigned LEB128 varints (7 bits per byte, least significant group first, high bit set on all
 * bytes but the last; minimal length, so at most 3 bytes as no value exceeds 2^20):
 *
 * <ul>
 *   <li>an entry v &gt; 0 gives the next symbol the value v;
 *   <li>an entry 0 is followed by a varint r and gives the next r + 1 symbols the value 0.
 * </ul>
 *
 * The entries cover exactly k symbols (a zero run may not pass k). Writers emit maximal zero runs,
 * so the table of a sparse 16-bit alphabet is a few bytes per used symbol. For rANS v[s] is the
 * quantized frequency, for Huffman the code length; u is the number of symbols with v[s] &gt; 0.
 *
 * <ul>
 *   <li>u = 0: the segment has n = 0 codes; no stream (the segment is the tag and one zero run).
 *   <li>u = 1: all n &ge; 1 codes are that symbol, whose value must be 2^scaleBits (rANS) or 1
 *       (Huffman); no stream.
 *   <li>u &ge; 2: the stream follows.
 * </ul>
 *
 * <p><b>rANS stream</b> (ryg_rans byte-wise, two interleaved states). scaleBits = 16 for b &le;
 * 12 and 20 for b = 13..16, M = 2^scaleBits; the frequencies f[s] = v[s] must sum to M; c[s] =
 * f[0] + ... + f[s-1]. The stream is the initial states x0 then x1, each a little-endian U32 in
 * [2^23, 2^31), then the renormalization bytes. Code i (i = 0..n-1) is decoded from state x =
 * x_(i mod 2):
 *
 * <pre>
 *   slot = x mod M;  s = the symbol with c[s] &lt;= slot &lt; c[s] + f[s];  code[i] = s
 *   x = f[s] * (x &gt;&gt; scaleBits) + slot - c[s]
 *   while x &lt; 2^23: x = x * 256 + (next stream byte)
 * </pre>
 *
 * After the n-th code both states must equal 2^23 and the stream must be used up exactly. The
 * encoder runs the inverse backwards: x0 = x1 = 2^23; for i = n-1 down to 0, with x = x_(i mod 2)
 * and s = code[i]: while x &ge; 2^(31 - scaleBits) * f[s], prepend the byte x mod 256 and set x = x
 * &gt;&gt; 8; then x = (x div f[s]) * M + (x mod f[s]) + c[s]. Finally it prepends x1 then x0.
 *
 * <p><b>Huffman stream.</b> The code lengths v[s] are at most {@link #huffmanMaxLength
 * huffmanMaxLength(b)} = max(11, b + 3) and form a complete prefix code (sum of 2^-v[s] over used
 * symbols is exactly 1). Codes are canonical as in deflate (RFC 1951 3.2.2): shorter codes first,
 * equal lengths in increasing symbol order, code values counting up. The stream is one byte P
 * (0..7), the number of zero padding bits in the last byte, then the n codes back to back, padded
 * with P zero bits to a whole byte; there are no other bytes. Bits are LSB-first as in deflate:
 * code bit j is bit (j mod 8) of stream byte 1 + (j div 8), and each code is written from its most
 * significant bit, which goes to the lowest free bit. P makes the bit length exact, so a decoder
 * asked for a wrong n fails instead of decoding padding as codes.
 *
 * <p>Worked example, b = 2, codes 0 0 1 2 0 3 0 1 (counts 4 2 1 1). Huffman lengths are 1 2 3 3,
 * so the codes are 0, 10, 110, 111; the code bits are 0 0 10 110 0 111 0 10 (14 bits, so P = 2),
 * i.e. bytes 0x34 0x17, and the segment is {@code 11 01 02 03 03 02 34 17} (hex). For rANS the
 * frequencies are exactly 32768 16384 8192 8192 (varints {@code 80 80 02 80 80 01 80 40 80 40});
 * the encoder ends with x0 = 0x10010000, x1 = 0x010144e0 and has written one renormalization byte
 * 00, so the segment is {@code 12 80 80 02 80 80 01 80 40 80 40 00 00 01 10 e0 44 01 01 00}.
 *
 * <h2>Guarantees</h2>
 *
 * <p>Encoding is deterministic (same input, same bytes, on any JVM: frequency quantization uses
 * {@link StrictMath}). Decoding never reads outside the given range, terminates, allocates only
 * O(k + 2^scaleBits) or O(k + 2^maxLength) memory, and throws {@link IllegalArgumentException}
 * naming the problem on any corrupt, truncated or oversized input.
 */
public final class EntropyCoder {

  /** The entropy coder of a segment. */
  public enum Kind {
    HUFFMAN("huffman", 0x11),
    RANS("rans", 0x12);

    private final String key;
    private final int tag;

    Kind(String key, int tag) {
      this.key = key;
      this.tag = tag;
    }

    /** The configuration key: {@code "huffman"} or {@code "rans"}. */
    public String key() {
      return key;
    }

    /** The segment's first byte for this kind. */
    public int tag() {
      return tag;
    }

    /**
     * Parses a configuration value: {@code "huffman"}, {@code "rans"}, or {@code "none"} (no
     * entropy coding), which returns {@code null}.
     *
     * @throws IllegalArgumentException for any other value
     */
    public static Kind parse(String value) {
      if ("none".equals(value)) {
        return null;
      }
      for (Kind k : values()) {
        if (k.key.equals(value)) {
          return k;
        }
      }
      throw new IllegalArgumentException(
          "Cannot set entropy to " + value + ": must be one of none, huffman, rans");
    }
  }

  /** The widest code: 16 bits, an alphabet of 65,536 symbols. */
  public static final int MAX_BITS = 16;

  /** rANS lower state bound L; states live in [L, 256 L) = [2^23, 2^31), so they fit an int. */
  static final int RANS_L = 1 << 23;

  private static final VarHandle LE_LONG =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle LE_INT =
      MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);

  private EntropyCoder() {}

  /** Codes per segment for alphabets of 2^bits: max(2^20, 64 * 2^bits). */
  public static int segmentCodes(int bits) {
    checkBits("segment", bits);
    return Math.max(1 << 20, 64 << bits);
  }

  /** rANS frequency precision: 16 for bits up to 12, 20 above. */
  public static int ransScaleBits(int bits) {
    checkBits("code", bits);
    return bits <= 12 ? 16 : 20;
  }

  /**
   * The longest Huffman code for 2^bits symbols: max(11, bits + 3), at most 19. 11 bits keep the
   * decode table of small alphabets in L1; bits + 3 leaves room for skewed wide alphabets.
   */
  public static int huffmanMaxLength(int bits) {
    checkBits("code", bits);
    return Math.max(11, bits + 3);
  }

  /**
   * Order-0 empirical entropy of a histogram in bits per symbol; 0 for an empty histogram.
   *
   * @throws IllegalArgumentException if a count is negative
   */
  public static double entropyBits(long[] counts) {
    long total = 0;
    double sumClogC = 0;
    for (int s = 0; s < counts.length; s++) {
      long c = counts[s];
      if (c < 0) {
        throw new IllegalArgumentException(
            "Cannot take the entropy of count " + c + " at symbol " + s + ": must not be negative");
      }
      if (c > 0) {
        total += c;
        sumClogC += c * Math.log(c);
      }
    }
    if (total == 0) {
      return 0;
    }
    return (Math.log(total) - sumClogC / total) / Math.log(2);
  }

  // ---------------------------------------------------------------------------------------------
  // Encoding

  /**
   * Codes {@code codes[off, off + n)} (each below 2^bits) into one self-contained segment, laid
   * out as the class documentation says. Deterministic: the same input gives the same bytes.
   *
   * @throws IllegalArgumentException if kind is null, bits is not 1..16, the range does not fit
   *     the array, or a code does not fit in bits (the message names the first one)
   */
  public static byte[] encodeSegment(Kind kind, int bits, int[] codes, int off, int n) {
    if (kind == null) {
      throw new IllegalArgumentException("Cannot encode a segment: kind is null");
    }
    checkBits("encode", bits);
    if (codes == null) {
      throw new IllegalArgumentException("Cannot encode a segment: codes is null");
    }
    checkRange("encode", "codes", codes.length, off, n);
    int k = 1 << bits;
    int[] counts = new int[k];
    for (int i = off, end = off + n; i < end; i++) {
      int c = codes[i];
      if ((c >>> bits) != 0) {
        throw new IllegalArgumentException("Cannot encode code " + c + " at index " + (i - off)
            + ": must be between 0 and " + (k - 1) + " for " + bits + "-bit codes");
      }
      counts[c]++;
    }
    int used = 0;
    for (int c : counts) {
      if (c != 0) {
        used++;
      }
    }
    return kind == Kind.RANS
        ? encodeRans(bits, codes, off, n, counts, used)
        : encodeHuffman(bits, codes, off, n, counts, used);
  }

  private static byte[] encodeRans(int bits, int[] codes, int off, int n, int[] counts, int used) {
    int scale = ransScaleBits(bits);
    int k = counts.length;
    int[] freq = quantize(counts, n, used, scale);
    ByteSink head = new ByteSink(16 + 3 * Math.min(k, 2 * used + 1));
    head.put(Kind.RANS.tag);
    writeTable(head, freq);
    if (used <= 1) {
      return head.toArray();
    }
    int[] start = new int[k];
    int[] xmax = new int[k];
    for (int s = 0, c = 0; s < k; s++) {
      start[s] = c;
      c += freq[s];
      // x must be below this before coding s, so that the coded state stays below 2^31.
      xmax[s] = ((RANS_L >>> scale) << 8) * freq[s];
    }
    // One code costs at most ceil(scale / 8) bytes (a frequency of 1 shrinks x by 2^scale).
    byte[] buf = new byte[Math.addExact(Math.multiplyExact(n, (scale + 7) >>> 3), 8)];
    int p = buf.length;
    int x0 = RANS_L;
    int x1 = RANS_L;
    int i = off + n - 1;
    if ((n & 1) == 1) { // the last code has an even index: state 0
      int s = codes[i--];
      int f = freq[s];
      for (int xm = xmax[s]; x0 >= xm; x0 >>>= 8) {
        buf[--p] = (byte) x0;
      }
      int q = x0 / f;
      x0 = (q << scale) + (x0 - q * f) + start[s];
    }
    for (; i > off; i -= 2) {
      int s = codes[i];
      int f = freq[s];
      for (int xm = xmax[s]; x1 >= xm; x1 >>>= 8) {
        buf[--p] = (byte) x1;
      }
      int q = x1 / f;
      x1 = (q << scale) + (x1 - q * f) + start[s];
      s = codes[i - 1];
      f = freq[s];
      for (int xm = xmax[s]; x0 >= xm; x0 >>>= 8) {
        buf[--p] = (byte) x0;
      }
      q = x0 / f;
      x0 = (q << scale) + (x0 - q * f) + start[s];
    }
    p -= 8;
    LE_INT.set(buf, p, x0);
    LE_INT.set(buf, p + 4, x1);
    byte[] out = Arrays.copyOf(head.buf, head.size + buf.length - p);
    System.arraycopy(buf, p, out, head.size, buf.length - p);
    return out;
  }

  /**
   * Quantizes counts to frequencies summing to 2^scale, every used symbol at least 1: rounds
   * proportionally, then moves the rounding surplus or deficit one unit at a time to the symbol
   * where it costs the fewest coded bits (sum of count * log2 of the frequency ratio), which is
   * optimal for the coded size given the rounded start because the cost is convex per symbol.
   */
  static int[] quantize(int[] counts, int n, int used, int scale) {
    int k = counts.length;
    int m = 1 << scale;
    int[] freq = new int[k];
    if (used == 0) {
      return freq;
    }
    long sum = 0;
    int[] heap = new int[used];
    int h = 0;
    for (int s = 0; s < k; s++) {
      if (counts[s] != 0) {
        // round(count * m / n), in integers so every JVM agrees
        long f = ((long) counts[s] * m * 2 + n) / (2L * n);
        freq[s] = (int) Math.max(1, f);
        sum += freq[s];
        heap[h++] = s;
      }
    }
    long diff = m - sum;
    if (diff == 0) {
      return freq;
    }
    boolean grow = diff > 0;
    double[] key = new double[k];
    for (int j = 0; j < used; j++) {
      key[heap[j]] = moveKey(counts[heap[j]], freq[heap[j]], grow);
    }
    for (int j = used / 2 - 1; j >= 0; j--) {
      siftDown(heap, used, j, key);
    }
    for (long left = Math.abs(diff); left > 0; left--) {
      int s = heap[0];
      freq[s] += grow ? 1 : -1;
      key[s] = moveKey(counts[s], freq[s], grow);
      siftDown(heap, used, 0, key);
    }
    return freq;
  }

  /** The gain (higher is better) of moving a symbol's frequency one unit in the needed direction. */
  private static double moveKey(int count, int f, boolean grow) {
    if (grow) {
      return count * StrictMath.log((f + 1.0) / f);
    }
    return f == 1 ? Double.NEGATIVE_INFINITY : -count * StrictMath.log(f / (f - 1.0));
  }

  /** Max-heap on key, ties to the smaller symbol, so the order is fully determined. */
  private static void siftDown(int[] heap, int size, int j, double[] key) {
    int s = heap[j];
    while (true) {
      int c = 2 * j + 1;
      if (c >= size) {
        break;
      }
      if (c + 1 < size && before(heap[c + 1], heap[c], key)) {
        c++;
      }
      if (!before(heap[c], s, key)) {
        break;
      }
      heap[j] = heap[c];
      j = c;
    }
    heap[j] = s;
  }

  private static boolean before(int a, int b, double[] key) {
    return key[a] > key[b] || (key[a] == key[b] && a < b);
  }

  private static byte[] encodeHuffman(
      int bits, int[] codes, int off, int n, int[] counts, int used) {
    int k = counts.length;
    int maxLen = huffmanMaxLength(bits);
    int[] len = huffmanLengths(counts, used, maxLen);
    ByteSink head = new ByteSink(16 + 3 * Math.min(k, 2 * used + 1));
    head.put(Kind.HUFFMAN.tag);
    writeTable(head, len);
    if (used <= 1) {
      return head.toArray();
    }
    int[] rev = canonicalCodes(len, maxLen, true);
    long codeBits = 0;
    for (int s = 0; s < k; s++) {
      codeBits += (long) counts[s] * len[s];
    }
    // the padding byte, the codes, and slack for the 4-byte flushes
    byte[] out =
        Arrays.copyOf(head.buf, Math.toIntExact(head.size + 1 + ((codeBits + 7) >>> 3) + 4));
    int p = head.size;
    out[p++] = (byte) ((8 - (codeBits & 7)) & 7);
    long acc = 0;
    int accBits = 0;
    for (int i = off, end = off + n; i < end; i++) {
      int s = codes[i];
      acc |= (long) rev[s] << accBits;
      accBits += len[s];
      if (accBits >= 32) {
        LE_INT.set(out, p, (int) acc);
        p += 4;
        acc >>>= 32;
        accBits -= 32;
      }
    }
    while (accBits > 0) {
      out[p++] = (byte) acc;
      acc >>>= 8;
      accBits -= 8;
    }
    return Arrays.copyOf(out, p);
  }

  /**
   * Huffman code lengths of at most maxLen bits. Lengths are limited by flattening: counts are
   * shifted right (kept at least 1) until the optimal code fits, which only touches the rare
   * symbols whose ideal length passed maxLen and so costs little.
   */
  static int[] huffmanLengths(int[] counts, int used, int maxLen) {
    int k = counts.length;
    int[] len = new int[k];
    if (used == 1) {
      for (int s = 0; s < k; s++) {
        if (counts[s] != 0) {
          len[s] = 1;
        }
      }
    }
    if (used <= 1) {
      return len;
    }
    long[] sorted = new long[used];
    long[] a = new long[used];
    for (int shift = 0; ; shift++) {
      int j = 0;
      for (int s = 0; s < k; s++) {
        if (counts[s] != 0) {
          // (count, symbol) in one long: sorting is by count, then by symbol
          sorted[j++] = ((long) Math.max(1, counts[s] >>> shift) << 16) | s;
        }
      }
      Arrays.sort(sorted);
      for (j = 0; j < used; j++) {
        a[j] = sorted[j] >>> 16;
      }
      minimumRedundancy(a, used);
      if (a[0] <= maxLen) { // a[0] is the least frequent symbol's, the longest, length
        for (j = 0; j < used; j++) {
          len[(int) (sorted[j] & 0xFFFF)] = (int) a[j];
        }
        return len;
      }
    }
  }

  /**
   * Moffat and Katajainen's in-place minimum-redundancy code (WADS 1995): a[0..n) holds weights
   * in increasing order and is replaced by the code lengths.
   */
  private static void minimumRedundancy(long[] a, int n) {
    a[0] += a[1];
    int root = 0;
    int leaf = 2;
    for (int next = 1; next < n - 1; next++) {
      if (leaf >= n || a[root] < a[leaf]) {
        a[next] = a[root];
        a[root++] = next;
      } else {
        a[next] = a[leaf++];
      }
      if (leaf >= n || (root < next && a[root] < a[leaf])) {
        a[next] += a[root];
        a[root++] = next;
      } else {
        a[next] += a[leaf++];
      }
    }
    a[n - 2] = 0;
    for (int next = n - 3; next >= 0; next--) {
      a[next] = a[(int) a[next]] + 1;
    }
    int avail = 1;
    int usedAtDepth = 0;
    int depth = 0;
    int root2 = n - 2;
    int next = n - 1;
    while (avail > 0) {
      while (root2 >= 0 && a[root2] == depth) {
        usedAtDepth++;
        root2--;
      }
      while (avail > usedAtDepth) {
        a[next--] = depth;
        avail--;
      }
      avail = 2 * usedAtDepth;
      depth++;
      usedAtDepth = 0;
    }
  }

  /**
   * Canonical code values (deflate's rule) for lengths already checked to be at most maxLen;
   * bit-reversed when {@code reversed}, as the LSB-first stream holds them.
   */
  private static int[] canonicalCodes(int[] len, int maxLen, boolean reversed) {
    int[] perLength = new int[maxLen + 2];
    for (int l : len) {
      perLength[l]++;
    }
    perLength[0] = 0;
    int[] next = new int[maxLen + 2];
    for (int l = 1, code = 0; l <= maxLen; l++) {
      code = (code + perLength[l - 1]) << 1;
      next[l] = code;
    }
    int[] codes = new int[len.length];
    for (int s = 0; s < len.length; s++) {
      int l = len[s];
      if (l != 0) {
        int c = next[l]++;
        codes[s] = reversed ? Integer.reverse(c) >>> (32 - l) : c;
      }
    }
    return codes;
  }

  private static void writeTable(ByteSink out, int[] values) {
    int k = values.length;
    for (int s = 0; s < k; ) {
      if (values[s] != 0) {
        out.varint(values[s]);
        s++;
      } else {
        int e = s;
        while (e < k && values[e] == 0) {
          e++;
        }
        out.put(0);
        out.varint(e - s - 1);
        s = e;
      }
    }
  }

  /** A growable byte array for the (small) header. */
  private static final class ByteSink {
    byte[] buf;
    int size;

    ByteSink(int capacity) {
      buf = new byte[capacity];
    }

    void put(int b) {
      if (size == buf.length) {
        buf = Arrays.copyOf(buf, buf.length * 2);
      }
      buf[size++] = (byte) b;
    }

    void varint(int v) {
      while ((v & ~0x7F) != 0) {
        put((v & 0x7F) | 0x80);
        v >>>= 7;
      }
      put(v);
    }

    byte[] toArray() {
      return Arrays.copyOf(buf, size);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Decoding

  /**
   * Decodes a segment of exactly {@code n} codes from {@code buf[off, off + len)} into {@code
   * out[outOff, outOff + n)}. The range must hold the segment and nothing else.
   *
   * @throws IllegalArgumentException if an argument is out of range, or the segment is corrupt,
   *     truncated, has trailing bytes, or is not of this kind and width (the message says which)
   */
  public static void decodeSegment(
      Kind kind, int bits, byte[] buf, int off, int len, int n, int[] out, int outOff) {
    if (kind == null) {
      throw new IllegalArgumentException("Cannot decode a segment: kind is null");
    }
    checkBits("decode", bits);
    if (buf == null || out == null) {
      throw new IllegalArgumentException("Cannot decode a segment: buf or out is null");
    }
    checkRange("decode", "buf", buf.length, off, len);
    checkRange("decode", "out", out.length, outOff, n);
    int end = off + len;
    if (len == 0) {
      throw corrupt(kind, n, "it is empty, a segment has at least a tag and a table");
    }
    int tag = buf[off] & 0xFF;
    if (tag != kind.tag) {
      throw corrupt(kind, n, String.format(
          "tag is 0x%02x, expected 0x%02x (%s, format 1)", tag, kind.tag, kind.key));
    }
    int k = 1 << bits;
    int maxValue = kind == Kind.RANS ? 1 << ransScaleBits(bits) : huffmanMaxLength(bits);
    int[] values = new int[k];
    long[] cursor = {off + 1};
    int used = readTable(kind, n, buf, cursor, end, values, maxValue);
    int p = (int) cursor[0];
    if (used == 0 || n == 0) {
      if (used != 0 || n != 0) {
        throw corrupt(kind, n, "table lists " + used + " used symbols, but the segment has "
            + n + " codes (exactly one of them is 0)");
      }
      checkEnd(kind, n, p, end);
      return;
    }
    if (used == 1) {
      int s = 0;
      while (values[s] == 0) {
        s++;
      }
      int want = kind == Kind.RANS ? maxValue : 1;
      if (values[s] != want) {
        throw corrupt(kind, n, "the only used symbol " + s + " has "
            + (kind == Kind.RANS ? "frequency " : "length ") + values[s] + ", must be " + want);
      }
      checkEnd(kind, n, p, end);
      Arrays.fill(out, outOff, outOff + n, s);
      return;
    }
    if (kind == Kind.RANS) {
      decodeRans(bits, values, buf, p, end, n, out, outOff);
    } else {
      decodeHuffman(bits, values, buf, p, end, n, out, outOff);
    }
  }

  private static void checkEnd(Kind kind, int n, int p, int end) {
    if (p != end) {
      throw corrupt(kind, n, (end - p) + " trailing bytes after the table, expected none");
    }
  }

  /** Reads the symbol table into values; returns the number of used symbols. */
  private static int readTable(
      Kind kind, int n, byte[] buf, long[] cursor, int end, int[] values, int maxValue) {
    int k = values.length;
    int p = (int) cursor[0];
    int used = 0;
    for (int s = 0; s < k; ) {
      int v = readVarint(kind, n, buf, p, end, "symbol " + s);
      p += varintLength(v);
      if (v > maxValue) {
        throw corrupt(kind, n, "table value " + v + " for symbol " + s + " exceeds "
            + (kind == Kind.RANS ? "the total frequency " : "the longest code length ")
            + maxValue);
      }
      if (v != 0) {
        values[s++] = v;
        used++;
      } else {
        int r = readVarint(kind, n, buf, p, end, "the zero run at symbol " + s);
        p += varintLength(r);
        if (r >= k - s) {
          throw corrupt(kind, n, "zero run of " + (r + 1L) + " symbols at symbol " + s
              + " passes the alphabet size " + k);
        }
        s += r + 1;
      }
    }
    cursor[0] = p;
    return used;
  }

  private static int varintLength(int v) {
    return v < 1 << 7 ? 1 : v < 1 << 14 ? 2 : 3;
  }

  /** A minimal LEB128 varint of at most 3 bytes starting at p. */
  private static int readVarint(Kind kind, int n, byte[] buf, int p, int end, String what) {
    int v = 0;
    for (int shift = 0; ; shift += 7) {
      if (p >= end) {
        throw corrupt(kind, n, "table is truncated at " + what);
      }
      int b = buf[p++];
      v |= (b & 0x7F) << shift;
      if (b >= 0) { // no continuation bit
        if (b == 0 && shift > 0) {
          throw corrupt(kind, n, "table has an overlong varint at " + what);
        }
        return v;
      }
      if (shift == 14) {
        throw corrupt(kind, n, "table has a varint longer than 3 bytes at " + what);
      }
    }
  }

  private static void decodeRans(
      int bits, int[] freq, byte[] buf, int p, int end, int n, int[] out, int outOff) {
    int scale = ransScaleBits(bits);
    int m = 1 << scale;
    int k = freq.length;
    long sum = 0;
    for (int f : freq) {
      sum += f;
    }
    if (sum != m) {
      throw corrupt(Kind.RANS, n, "frequencies sum to " + sum + ", must sum to " + m);
    }
    int[] start = new int[k];
    char[] sym = new char[m]; // slot -> symbol
    for (int s = 0, c = 0; s < k; s++) {
      start[s] = c;
      Arrays.fill(sym, c, c + freq[s], (char) s);
      c += freq[s];
    }
    if (end - p < 8) {
      throw corrupt(Kind.RANS, n, "stream is truncated: " + (end - p)
          + " bytes, the two initial states need 8");
    }
    int x0 = (int) LE_INT.get(buf, p);
    int x1 = (int) LE_INT.get(buf, p + 4);
    p += 8;
    // Negative ints are states of 2^31 and up: out of range too.
    if (x0 < RANS_L || x1 < RANS_L) {
      throw corrupt(Kind.RANS, n, "initial states " + Integer.toUnsignedString(x0) + ", "
          + Integer.toUnsignedString(x1) + " are outside [2^23, 2^31)");
    }
    int mask = m - 1;
    int i = outOff;
    int last = outOff + n - 1;
    // x stays in [8, 2^31) whatever the bytes: f * (x >> scale) >= 2^23 >> 20, and renormalized
    // states are below 2^23 * 256. So the loops below end, and ints never overflow.
    for (; i < last; i += 2) {
      int slot = x0 & mask;
      int s = sym[slot];
      x0 = freq[s] * (x0 >>> scale) + slot - start[s];
      out[i] = s;
      while (x0 < RANS_L) {
        if (p >= end) {
          throw truncatedRans(n, i - outOff);
        }
        x0 = (x0 << 8) | (buf[p++] & 0xFF);
      }
      slot = x1 & mask;
      s = sym[slot];
      x1 = freq[s] * (x1 >>> scale) + slot - start[s];
      out[i + 1] = s;
      while (x1 < RANS_L) {
        if (p >= end) {
          throw truncatedRans(n, i + 1 - outOff);
        }
        x1 = (x1 << 8) | (buf[p++] & 0xFF);
      }
    }
    if (i == last) {
      int slot = x0 & mask;
      int s = sym[slot];
      x0 = freq[s] * (x0 >>> scale) + slot - start[s];
      out[i] = s;
      while (x0 < RANS_L) {
        if (p >= end) {
          throw truncatedRans(n, i - outOff);
        }
        x0 = (x0 << 8) | (buf[p++] & 0xFF);
      }
    }
    if (x0 != RANS_L || x1 != RANS_L) {
      throw corrupt(Kind.RANS, n, "final states are " + x0 + ", " + x1 + ", must both be 2^23 = "
          + RANS_L + " (corrupt stream or wrong code count)");
    }
    if (p != end) {
      throw corrupt(Kind.RANS, n, (end - p) + " trailing bytes after the stream, expected none");
    }
  }

  private static IllegalArgumentException truncatedRans(int n, int at) {
    return corrupt(Kind.RANS, n, "stream is truncated: it ends while decoding code " + at);
  }

  private static void decodeHuffman(
      int bits, int[] len, byte[] buf, int p, int end, int n, int[] out, int outOff) {
    int maxLen = huffmanMaxLength(bits);
    int k = len.length;
    int tableBits = 0;
    long kraft = 0; // sum of 2^(maxLen - l): exactly 2^maxLen for a complete code
    for (int l : len) {
      if (l != 0) {
        kraft += 1L << (maxLen - l);
        tableBits = Math.max(tableBits, l);
      }
    }
    if (kraft != 1L << maxLen) {
      throw corrupt(Kind.HUFFMAN, n, "code lengths are not a complete prefix code: Kraft sum is "
          + kraft + "/2^" + maxLen + ", must be 1");
    }
    int[] rev = canonicalCodes(len, maxLen, true);
    // table[low tableBits stream bits] = symbol << 5 | length; complete, so every entry is set
    int size = 1 << tableBits;
    int[] table = new int[size];
    for (int s = 0; s < k; s++) {
      int l = len[s];
      if (l != 0) {
        int e = (s << 5) | l;
        for (int j = rev[s]; j < size; j += 1 << l) {
          table[j] = e;
        }
      }
    }
    if (p >= end) {
      throw corrupt(Kind.HUFFMAN, n, "stream is truncated: the padding byte is missing");
    }
    int pad = buf[p++];
    if (pad < 0 || pad > 7) {
      throw corrupt(Kind.HUFFMAN, n, "padding byte is " + (pad & 0xFF) + ", must be 0..7");
    }
    int mask = size - 1;
    // 56 bits are available after a refill; decode as many whole codes as surely fit.
    int perRefill = 56 / tableBits;
    long bb = 0; // bit buffer: the next stream bit is bit 0
    int bc = 0; // valid bits in bb
    int i = outOff;
    int stop = outOff + n;
    while (end - p >= 8 && stop - i >= perRefill) {
      // Branch-free refill (Giesen's "variant 4"): bits above bc repeat those of byte p, which
      // the next refill ORs in again at the same place.
      bb |= (long) LE_LONG.get(buf, p) << bc;
      p += (63 - bc) >>> 3;
      bc |= 56;
      for (int j = 0; j < perRefill; j++) {
        int e = table[(int) bb & mask];
        out[i++] = e >>> 5;
        int l = e & 31;
        bb >>>= l;
        bc -= l;
      }
    }
    int virtualBits = 0; // zero bits appended past the end of the segment
    while (i < stop) {
      while (bc <= 56) {
        if (p < end) {
          bb |= (long) (buf[p++] & 0xFF) << bc;
        } else {
          virtualBits += 8;
        }
        bc += 8;
      }
      int e = table[(int) bb & mask];
      out[i++] = e >>> 5;
      int l = e & 31;
      bb >>>= l;
      bc -= l;
      if (bc < virtualBits) {
        throw corrupt(Kind.HUFFMAN, n,
            "stream is truncated: it ends while decoding code " + (i - 1 - outOff));
      }
    }
    long left = bc - virtualBits + 8L * (end - p);
    if (left >= 8) {
      throw corrupt(Kind.HUFFMAN, n, (left / 8) + " trailing bytes after the stream, expected none");
    }
    if (left != pad) {
      throw corrupt(Kind.HUFFMAN, n, "stream has " + left + " bits after the last code, the "
          + "padding byte says " + pad + " (corrupt stream or wrong code count)");
    }
    if ((bb & ((1L << left) - 1)) != 0) {
      throw corrupt(Kind.HUFFMAN, n, "padding bits of the last byte are not zero");
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Checks

  private static IllegalArgumentException corrupt(Kind kind, int n, String detail) {
    return new IllegalArgumentException(
        "Cannot decode " + kind.key + " segment of " + n + " codes: " + detail);
  }

  private static void checkBits(String what, int bits) {
    if (bits < 1 || bits > MAX_BITS) {
      throw new IllegalArgumentException(
          "Cannot " + what + " with bits " + bits + ": must be between 1 and " + MAX_BITS);
    }
  }

  private static void checkRange(String what, String array, int length, int off, int n) {
    if (off < 0 || n < 0 || off > length - n) {
      throw new IllegalArgumentException("Cannot " + what + " range [" + off + ", " + off + " + "
          + n + ") of " + array + ": must fit in its length " + length);
    }
  }
}
