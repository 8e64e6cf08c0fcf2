package io.sparticle.packing;

import java.util.Objects;

/**
 * Packs small unsigned integer codes into a dense little-endian bit stream, and back.
 *
 * <h2>Layout</h2>
 *
 * <p>A run of {@code numValues} codes of {@code bitsPerValue} = b bits each is one little-endian
 * bit stream of {@code numValues * b} bits, stored in {@link #bytesRequired
 * bytesRequired(numValues, b)} = ceil(numValues * b / 8) bytes:
 *
 * <ul>
 *   <li>value i occupies stream bits [i*b, (i+1)*b), its least significant bit first;
 *   <li>stream bit j is bit (j % 8) of byte (j / 8), where bit 0 is the least significant bit;
 *   <li>the unused high bits of the last byte are zero.
 * </ul>
 *
 * <p>Equivalently: the bytes, read as one little-endian integer, equal {@code sum(value[i] << (i *
 * b))}. Worked example, b = 3, values 5, 1, 7: {@code 5 | 1 << 3 | 7 << 6 = 0x1CD}, so the bytes
 * are {@code 0xCD 0x01}:
 *
 * <pre>
 *   stream bit:  8 | 7 6 5 4 3 2 1 0
 *   value:       7 | 7 7 1 1 1 5 5 5
 *   bit:         1 | 1 1 0 0 1 1 0 1   -&gt;  byte 0 = 0b11001101 = 0xCD, byte 1 = 0x01
 * </pre>
 *
 * <p>Consequence relied upon by callers that pack a long tensor chunk by chunk: a run whose
 * {@code numValues} is a multiple of 8 ends on a byte boundary, so packing consecutive such
 * chunks and concatenating the bytes gives exactly the packing of the whole run.
 *
 * <p>The layout does not depend on b. The {@code byte[]} methods take b from 1 to
 * {@value #MAX_BITS_PER_VALUE} with codes held one per byte (value = {@code b & 0xFF}); the
 * {@code short[]} methods take b from 1 to {@value #MAX_WIDE_BITS_PER_VALUE} (value =
 * {@code s & 0xFFFF}), for codebooks of up to 65,536 entries.
 *
 * <pre>{@code
 * byte[] codes = {5, 1, 7};
 * byte[] packed = new byte[(int) BitPacking.bytesRequired(codes.length, 3)];
 * BitPacking.pack(codes, 0, codes.length, 3, packed, 0);       // packed = {(byte) 0xCD, 0x01}
 * byte[] back = new byte[codes.length];
 * BitPacking.unpack(packed, 0, codes.length, 3, back, 0);      // back = {5, 1, 7}
 * }</pre>
 */
public final class BitPacking {
  /** The widest code supported by the {@code byte[]} methods. */
  public static final int MAX_BITS_PER_VALUE = 8;
  /** The widest code supported by the {@code short[]} methods and {@link #bytesRequired}. */
  public static final int MAX_WIDE_BITS_PER_VALUE = 16;

  private BitPacking() {}

  /**
   * The number of bytes holding {@code numValues} codes of {@code bitsPerValue} bits:
   * ceil(numValues * bitsPerValue / 8).
   *
   * @throws IllegalArgumentException if {@code numValues} is negative or {@code bitsPerValue} is
   *     not between 1 and {@value #MAX_WIDE_BITS_PER_VALUE}
   * @throws ArithmeticException if the bit count overflows a long
   */
  public static long bytesRequired(long numValues, int bitsPerValue) {
    checkBitsPerValue("pack", bitsPerValue, MAX_WIDE_BITS_PER_VALUE);
    if (numValues < 0) {
      throw new IllegalArgumentException(
          "Cannot pack " + numValues + " values: numValues must not be negative");
    }
    long bits = Math.multiplyExact(numValues, (long) bitsPerValue);
    // bits + 7 cannot overflow: bits <= Long.MAX_VALUE and we divide before adding back.
    return bits / 8 + ((bits & 7) == 0 ? 0 : 1);
  }

  /**
   * Packs {@code codes[codesOffset .. codesOffset + numValues)} into exactly {@code
   * bytesRequired(numValues, bitsPerValue)} bytes of {@code dst} starting at {@code dstOffset}.
   * Bytes of {@code dst} outside that range are not touched.
   *
   * @throws IllegalArgumentException if the width is out of range, {@code numValues} is negative,
   *     or a code does not fit in {@code bitsPerValue} bits (the message names the first one)
   * @throws IndexOutOfBoundsException if a range does not fit its array
   */
  public static void pack(
      byte[] codes, int codesOffset, int numValues, int bitsPerValue, byte[] dst, int dstOffset) {
    checkBitsPerValue("pack", bitsPerValue);
    int numBytes = (int) bytesRequired(numValues, bitsPerValue);
    Objects.checkFromIndexSize(codesOffset, numValues, codes.length);
    Objects.checkFromIndexSize(dstOffset, numBytes, dst.length);
    checkCodesFit(codes, codesOffset, numValues, bitsPerValue);

    int done; // values already written; always a whole number of bytes' worth
    switch (bitsPerValue) {
      case 8:
        System.arraycopy(codes, codesOffset, dst, dstOffset, numValues);
        return;
      case 4:
        done = pack4(codes, codesOffset, numValues, dst, dstOffset);
        break;
      case 2:
        done = pack2(codes, codesOffset, numValues, dst, dstOffset);
        break;
      case 1:
        done = pack1(codes, codesOffset, numValues, dst, dstOffset);
        break;
      default:
        done = 0;
    }
    // The fast paths stop at a byte boundary; the general path finishes the tail.
    packGeneral(
        codes,
        codesOffset + done,
        numValues - done,
        bitsPerValue,
        dst,
        dstOffset + (int) ((long) done * bitsPerValue / 8)); // long: done * 8 may pass 2^31
  }

  /**
   * Unpacks {@code numValues} codes of {@code bitsPerValue} bits from {@code src} starting at
   * {@code srcOffset} (reading exactly {@code bytesRequired(numValues, bitsPerValue)} bytes) into
   * {@code codes[codesOffset .. codesOffset + numValues)}. Padding bits are ignored.
   *
   * @throws IllegalArgumentException if the width is out of range or {@code numValues} is negative
   * @throws IndexOutOfBoundsException if a range does not fit its array
   */
  public static void unpack(
      byte[] src, int srcOffset, int numValues, int bitsPerValue, byte[] codes, int codesOffset) {
    checkBitsPerValue("unpack", bitsPerValue);
    if (numValues < 0) {
      throw new IllegalArgumentException(
          "Cannot unpack " + numValues + " values: numValues must not be negative");
    }
    int numBytes = (int) bytesRequired(numValues, bitsPerValue);
    Objects.checkFromIndexSize(srcOffset, numBytes, src.length);
    Objects.checkFromIndexSize(codesOffset, numValues, codes.length);

    int done;
    switch (bitsPerValue) {
      case 8:
        System.arraycopy(src, srcOffset, codes, codesOffset, numValues);
        return;
      case 4:
        done = unpack4(src, srcOffset, numValues, codes, codesOffset);
        break;
      case 2:
        done = unpack2(src, srcOffset, numValues, codes, codesOffset);
        break;
      case 1:
        done = unpack1(src, srcOffset, numValues, codes, codesOffset);
        break;
      default:
        done = 0;
    }
    unpackGeneral(
        src,
        srcOffset + (int) ((long) done * bitsPerValue / 8),
        numValues - done,
        bitsPerValue,
        codes,
        codesOffset + done);
  }

  /**
   * As {@link #pack(byte[], int, int, int, byte[], int)} for codes of 1 to
   * {@value #MAX_WIDE_BITS_PER_VALUE} bits held in shorts (value = {@code s & 0xFFFF}).
   */
  public static void pack(
      short[] codes, int codesOffset, int numValues, int bitsPerValue, byte[] dst, int dstOffset) {
    int numBytes = (int) bytesRequired(numValues, bitsPerValue);
    Objects.checkFromIndexSize(codesOffset, numValues, codes.length);
    Objects.checkFromIndexSize(dstOffset, numBytes, dst.length);
    long acc = 0;
    int accBits = 0;
    int d = dstOffset;
    for (int i = codesOffset, end = codesOffset + numValues; i < end; i++) {
      int v = codes[i] & 0xFFFF;
      if ((v >>> bitsPerValue) != 0) {
        throw new IllegalArgumentException("Cannot pack value " + v + " at index "
            + (i - codesOffset) + ": does not fit in bitsPerValue " + bitsPerValue);
      }
      acc |= (long) v << accBits;
      accBits += bitsPerValue;
      while (accBits >= 8) {
        dst[d++] = (byte) acc;
        acc >>>= 8;
        accBits -= 8;
      }
    }
    if (accBits > 0) {
      dst[d] = (byte) acc;
    }
  }

  /**
   * As {@link #unpack(byte[], int, int, int, byte[], int)} for codes of 1 to
   * {@value #MAX_WIDE_BITS_PER_VALUE} bits, into shorts.
   */
  public static void unpack(
      byte[] src, int srcOffset, int numValues, int bitsPerValue, short[] codes, int codesOffset) {
    checkBitsPerValue("unpack", bitsPerValue, MAX_WIDE_BITS_PER_VALUE);
    if (numValues < 0) {
      throw new IllegalArgumentException(
          "Cannot unpack " + numValues + " values: numValues must not be negative");
    }
    int numBytes = (int) bytesRequired(numValues, bitsPerValue);
    Objects.checkFromIndexSize(srcOffset, numBytes, src.length);
    Objects.checkFromIndexSize(codesOffset, numValues, codes.length);
    long mask = (1L << bitsPerValue) - 1;
    long acc = 0;
    int accBits = 0;
    int s = srcOffset;
    for (int i = codesOffset, end = codesOffset + numValues; i < end; i++) {
      while (accBits < bitsPerValue) {
        acc |= (long) (src[s++] & 0xFF) << accBits;
        accBits += 8;
      }
      codes[i] = (short) (acc & mask);
      acc >>>= bitsPerValue;
      accBits -= bitsPerValue;
    }
  }

  private static void checkBitsPerValue(String verb, int bitsPerValue) {
    checkBitsPerValue(verb, bitsPerValue, MAX_BITS_PER_VALUE);
  }

  private static void checkBitsPerValue(String verb, int bitsPerValue, int max) {
    if (bitsPerValue < 1 || bitsPerValue > max) {
      throw new IllegalArgumentException(
          "Cannot "
              + verb
              + " with bitsPerValue "
              + bitsPerValue
              + ": must be between 1 and "
              + max);
    }
  }

  private static void checkCodesFit(byte[] codes, int offset, int numValues, int bitsPerValue) {
    if (bitsPerValue == 8) {
      return;
    }
    // One branch-free pass; the slow search runs only when the input is already known to be bad.
    int or = 0;
    int end = offset + numValues;
    for (int i = offset; i < end; i++) {
      or |= codes[i];
    }
    if (((or & 0xFF) >>> bitsPerValue) != 0) {
      for (int i = offset; i < end; i++) {
        int v = codes[i] & 0xFF;
        if ((v >>> bitsPerValue) != 0) {
          throw new IllegalArgumentException(
              "Cannot pack value "
                  + v
                  + " at index "
                  + (i - offset)
                  + ": does not fit in bitsPerValue "
                  + bitsPerValue);
        }
      }
    }
  }

  private static int pack4(byte[] codes, int c, int numValues, byte[] dst, int d) {
    int pairs = numValues >>> 1;
    for (int p = 0; p < pairs; p++, c += 2) {
      dst[d + p] = (byte) (codes[c] | codes[c + 1] << 4);
    }
    return pairs << 1;
  }

  private static int pack2(byte[] codes, int c, int numValues, byte[] dst, int d) {
    int quads = numValues >>> 2;
    for (int q = 0; q < quads; q++, c += 4) {
      dst[d + q] = (byte) (codes[c] | codes[c + 1] << 2 | codes[c + 2] << 4 | codes[c + 3] << 6);
    }
    return quads << 2;
  }

  private static int pack1(byte[] codes, int c, int numValues, byte[] dst, int d) {
    int octets = numValues >>> 3;
    for (int o = 0; o < octets; o++, c += 8) {
      dst[d + o] =
          (byte)
              (codes[c]
                  | codes[c + 1] << 1
                  | codes[c + 2] << 2
                  | codes[c + 3] << 3
                  | codes[c + 4] << 4
                  | codes[c + 5] << 5
                  | codes[c + 6] << 6
                  | codes[c + 7] << 7);
    }
    return octets << 3;
  }

  /** Any width 1..8 (and, unchanged, up to 56): a 64-bit accumulator flushed a byte at a time. */
  private static void packGeneral(
      byte[] codes, int c, int numValues, int bitsPerValue, byte[] dst, int d) {
    long acc = 0;
    int accBits = 0;
    int end = c + numValues;
    for (int i = c; i < end; i++) {
      acc |= (long) (codes[i] & 0xFF) << accBits;
      accBits += bitsPerValue;
      while (accBits >= 8) {
        dst[d++] = (byte) acc;
        acc >>>= 8;
        accBits -= 8;
      }
    }
    if (accBits > 0) {
      dst[d] = (byte) acc; // high bits are zero: codes were checked to fit
    }
  }

  private static int unpack4(byte[] src, int s, int numValues, byte[] codes, int c) {
    int pairs = numValues >>> 1;
    for (int p = 0; p < pairs; p++, c += 2) {
      int b = src[s + p];
      codes[c] = (byte) (b & 0x0F);
      codes[c + 1] = (byte) ((b >>> 4) & 0x0F);
    }
    return pairs << 1;
  }

  private static int unpack2(byte[] src, int s, int numValues, byte[] codes, int c) {
    int quads = numValues >>> 2;
    for (int q = 0; q < quads; q++, c += 4) {
      int b = src[s + q];
      codes[c] = (byte) (b & 3);
      codes[c + 1] = (byte) ((b >>> 2) & 3);
      codes[c + 2] = (byte) ((b >>> 4) & 3);
      codes[c + 3] = (byte) ((b >>> 6) & 3);
    }
    return quads << 2;
  }

  private static int unpack1(byte[] src, int s, int numValues, byte[] codes, int c) {
    int octets = numValues >>> 3;
    for (int o = 0; o < octets; o++, c += 8) {
      int b = src[s + o];
      codes[c] = (byte) (b & 1);
      codes[c + 1] = (byte) ((b >>> 1) & 1);
      codes[c + 2] = (byte) ((b >>> 2) & 1);
      codes[c + 3] = (byte) ((b >>> 3) & 1);
      codes[c + 4] = (byte) ((b >>> 4) & 1);
      codes[c + 5] = (byte) ((b >>> 5) & 1);
      codes[c + 6] = (byte) ((b >>> 6) & 1);
      codes[c + 7] = (byte) ((b >>> 7) & 1);
    }
    return octets << 3;
  }

  private static void unpackGeneral(
      byte[] src, int s, int numValues, int bitsPerValue, byte[] codes, int c) {
    long mask = (1L << bitsPerValue) - 1;
    long acc = 0;
    int accBits = 0;
    int end = c + numValues;
    for (int i = c; i < end; i++) {
      // Read a byte only when needed, so exactly bytesRequired bytes are touched.
      while (accBits < bitsPerValue) {
        acc |= (long) (src[s++] & 0xFF) << accBits;
        accBits += 8;
      }
      codes[i] = (byte) (acc & mask);
      acc >>>= bitsPerValue;
      accBits -= bitsPerValue;
    }
  }
}
