package io.sparticle.packing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class BitPackingTest {

  // ---- hand-made examples ----

  @Test
  void workedExampleFromTheJavadoc() {
    byte[] packed = new byte[2];
    BitPacking.pack(new byte[] {5, 1, 7}, 0, 3, 3, packed, 0);
    assertArrayEquals(new byte[] {(byte) 0xCD, 0x01}, packed);

    byte[] back = new byte[3];
    BitPacking.unpack(packed, 0, 3, 3, back, 0);
    assertArrayEquals(new byte[] {5, 1, 7}, back);
  }

  @Test
  void fastPathWidthsByHand() {
    byte[] out = new byte[1];
    BitPacking.pack(new byte[] {1, 0, 1, 1, 0, 0, 0, 1}, 0, 8, 1, out, 0);
    assertArrayEquals(new byte[] {(byte) 0b1000_1101}, out);

    BitPacking.pack(new byte[] {3, 0, 1, 2}, 0, 4, 2, out, 0);
    assertArrayEquals(new byte[] {(byte) 0b10_01_00_11}, out);

    out = new byte[2];
    BitPacking.pack(new byte[] {0xA, 0x3, 0xF}, 0, 3, 4, out, 0);
    assertArrayEquals(new byte[] {0x3A, 0x0F}, out);

    out = new byte[2];
    BitPacking.pack(new byte[] {(byte) 0xFE, 0x01}, 0, 2, 8, out, 0);
    assertArrayEquals(new byte[] {(byte) 0xFE, 0x01}, out);
  }

  @Test
  void fiveBitExampleCrossesByteBoundaries() {
    // 31 | 0 << 5 | 17 << 10 | 2 << 15 = 0x1441F -> 1F 44 01
    byte[] out = new byte[3];
    BitPacking.pack(new byte[] {31, 0, 17, 2}, 0, 4, 5, out, 0);
    assertArrayEquals(new byte[] {0x1F, 0x44, 0x01}, out);
  }

  @Test
  void bytesRequired() {
    assertEquals(0, BitPacking.bytesRequired(0, 3));
    assertEquals(2, BitPacking.bytesRequired(3, 3));
    assertEquals(3, BitPacking.bytesRequired(8, 3));
    assertEquals(1, BitPacking.bytesRequired(1, 1));
    assertEquals(1, BitPacking.bytesRequired(8, 1));
    assertEquals(2, BitPacking.bytesRequired(9, 1));
    assertEquals(7, BitPacking.bytesRequired(7, 8));
    assertEquals(Long.MAX_VALUE / 8, BitPacking.bytesRequired(Long.MAX_VALUE / 8, 8));
  }

  @Test
  void onlyTheRequiredBytesAreWritten() {
    byte[] dst = new byte[6];
    Arrays.fill(dst, (byte) 0x55);
    BitPacking.pack(new byte[] {1, 1, 1}, 0, 3, 3, dst, 2); // 2 bytes at offset 2
    assertArrayEquals(new byte[] {0x55, 0x55, 0x49, 0x00, 0x55, 0x55}, dst);
  }

  // ---- error rules ----

  @Test
  void rejectsWidthsOutside1To8() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> BitPacking.bytesRequired(10, 17));
    assertEquals("Cannot pack with bitsPerValue 17: must be between 1 and 16", e.getMessage());
    assertEquals(15, BitPacking.bytesRequired(10, 12)); // bytesRequired takes 1..16
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> BitPacking.pack(new byte[1], 0, 1, 12, new byte[2], 0));
    assertEquals("Cannot pack with bitsPerValue 12: must be between 1 and 8", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> BitPacking.bytesRequired(10, 0));
    assertEquals("Cannot pack with bitsPerValue 0: must be between 1 and 16", e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> BitPacking.pack(new byte[1], 0, 1, 9, new byte[2], 0));
    assertEquals("Cannot pack with bitsPerValue 9: must be between 1 and 8", e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> BitPacking.unpack(new byte[2], 0, 1, -1, new byte[1], 0));
    assertEquals("Cannot unpack with bitsPerValue -1: must be between 1 and 8", e.getMessage());
  }

  @Test
  void rejectsNegativeCounts() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> BitPacking.bytesRequired(-1, 3));
    assertEquals("Cannot pack -1 values: numValues must not be negative", e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> BitPacking.unpack(new byte[2], 0, -5, 3, new byte[1], 0));
    assertEquals("Cannot unpack -5 values: numValues must not be negative", e.getMessage());
  }

  @Test
  void rejectsOverflowingSizes() {
    assertThrows(ArithmeticException.class, () -> BitPacking.bytesRequired(Long.MAX_VALUE / 2, 3));
  }

  @Test
  void rejectsValuesThatDoNotFit() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> BitPacking.pack(new byte[] {9, 1, 8, 3}, 1, 3, 3, new byte[2], 0));
    assertEquals("Cannot pack value 8 at index 1: does not fit in bitsPerValue 3", e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> BitPacking.pack(new byte[] {0, (byte) 0x80}, 0, 2, 4, new byte[1], 0));
    assertEquals(
        "Cannot pack value 128 at index 1: does not fit in bitsPerValue 4", e.getMessage());
  }

  @Test
  void rejectsRangesOutsideTheArrays() {
    assertThrows(
        IndexOutOfBoundsException.class,
        () -> BitPacking.pack(new byte[3], 1, 3, 3, new byte[2], 0));
    assertThrows(
        IndexOutOfBoundsException.class,
        () -> BitPacking.pack(new byte[3], 0, 3, 3, new byte[2], 1));
    assertThrows(
        IndexOutOfBoundsException.class,
        () -> BitPacking.unpack(new byte[1], 0, 3, 3, new byte[3], 0));
    assertThrows(
        IndexOutOfBoundsException.class,
        () -> BitPacking.unpack(new byte[2], 0, 3, 3, new byte[3], 1));
  }

  // ---- randomized ----

  /** The layout spec, bit by bit, as the oracle for every fast and general path. */
  private static byte[] referencePack(byte[] codes, int numValues, int b) {
    byte[] out = new byte[(int) BitPacking.bytesRequired(numValues, b)];
    for (int i = 0; i < numValues; i++) {
      for (int k = 0; k < b; k++) {
        if (((codes[i] >>> k) & 1) != 0) {
          int j = i * b + k;
          out[j / 8] |= (byte) (1 << (j % 8));
        }
      }
    }
    return out;
  }

  private static byte[] randomCodes(SplittableRandom random, int n, int b) {
    byte[] codes = new byte[n];
    for (int i = 0; i < n; i++) {
      codes[i] = (byte) random.nextInt(1 << b);
    }
    return codes;
  }

  @Test
  void everyWidthAndEveryShortLengthMatchesTheSpec() {
    SplittableRandom random = new SplittableRandom(42);
    for (int b = 1; b <= 8; b++) {
      for (int n = 0; n <= 300; n++) {
        byte[] codes = randomCodes(random, n, b);
        int codesOffset = random.nextInt(4);
        int dstOffset = random.nextInt(4);
        byte[] shiftedCodes = new byte[codesOffset + n + 3];
        System.arraycopy(codes, 0, shiftedCodes, codesOffset, n);
        int numBytes = (int) BitPacking.bytesRequired(n, b);
        byte[] dst = new byte[dstOffset + numBytes + 3];

        BitPacking.pack(shiftedCodes, codesOffset, n, b, dst, dstOffset);
        assertArrayEquals(
            referencePack(codes, n, b),
            Arrays.copyOfRange(dst, dstOffset, dstOffset + numBytes),
            "b=" + b + " n=" + n);

        byte[] back = new byte[codesOffset + n];
        BitPacking.unpack(dst, dstOffset, n, b, back, codesOffset);
        assertArrayEquals(codes, Arrays.copyOfRange(back, codesOffset, codesOffset + n));
      }
    }
  }

  @Test
  void unpackIgnoresPaddingBits() {
    for (int b = 1; b <= 7; b++) {
      int n = 1; // one value leaves padding bits for every width below 8
      byte[] src = {(byte) 0xFF};
      byte[] out = new byte[n];
      BitPacking.unpack(src, 0, n, b, out, 0);
      assertEquals((1 << b) - 1, out[0] & 0xFF);
    }
  }

  @Test
  void chunksOfMultiplesOf8ConcatenateToTheWhole() {
    SplittableRandom random = new SplittableRandom(7);
    for (int b = 1; b <= 8; b++) {
      int n = 10_000 + random.nextInt(100);
      byte[] codes = randomCodes(random, n, b);
      byte[] whole = new byte[(int) BitPacking.bytesRequired(n, b)];
      BitPacking.pack(codes, 0, n, b, whole, 0);

      byte[] chunked = new byte[whole.length];
      int done = 0;
      int written = 0;
      while (done < n) {
        // Every chunk but the last is a multiple of 8 values; the last takes the remainder.
        int chunk = Math.min(8 * (1 + random.nextInt(100)), n - done);
        BitPacking.pack(codes, done, chunk, b, chunked, written);
        written += (int) BitPacking.bytesRequired(chunk, b);
        done += chunk;
      }
      assertEquals(whole.length, written);
      assertArrayEquals(whole, chunked, "b=" + b);

      // And chunked unpacking of the whole stream also works at those byte boundaries.
      byte[] back = new byte[n];
      int read = 0;
      done = 0;
      while (done < n) {
        int chunk = Math.min(8 * (1 + random.nextInt(50)), n - done);
        BitPacking.unpack(whole, read, chunk, b, back, done);
        read += (int) BitPacking.bytesRequired(chunk, b);
        done += chunk;
      }
      assertArrayEquals(codes, back);
    }
  }

  @Test
  void bigRandomArraysRoundTrip() {
    SplittableRandom random = new SplittableRandom(1234);
    int n = 1_000_003;
    for (int b = 1; b <= 8; b++) {
      byte[] codes = randomCodes(random, n, b);
      byte[] packed = new byte[(int) BitPacking.bytesRequired(n, b)];
      BitPacking.pack(codes, 0, n, b, packed, 0);
      byte[] back = new byte[n];
      BitPacking.unpack(packed, 0, n, b, back, 0);
      assertArrayEquals(codes, back, "b=" + b);
    }
  }

  // ---- short[] codes, widths 1..16 ----

  @Test
  void workedExampleThroughShorts() {
    byte[] packed = new byte[2];
    BitPacking.pack(new short[] {5, 1, 7}, 0, 3, 3, packed, 0);
    assertArrayEquals(new byte[] {(byte) 0xCD, 0x01}, packed);
    short[] back = new short[3];
    BitPacking.unpack(packed, 0, 3, 3, back, 0);
    assertArrayEquals(new short[] {5, 1, 7}, back);
  }

  @Test
  void twelveAndSixteenBitsByHand() {
    // 0xABC | 0x123 << 12 = 0x123ABC -> BC 3A 12
    byte[] out = new byte[3];
    BitPacking.pack(new short[] {0xABC, 0x123}, 0, 2, 12, out, 0);
    assertArrayEquals(new byte[] {(byte) 0xBC, 0x3A, 0x12}, out);
    out = new byte[4];
    BitPacking.pack(new short[] {(short) 0xFFEE, 0x0102}, 0, 2, 16, out, 0);
    assertArrayEquals(new byte[] {(byte) 0xEE, (byte) 0xFF, 0x02, 0x01}, out);
    short[] back = new short[2];
    BitPacking.unpack(out, 0, 2, 16, back, 0);
    assertEquals(0xFFEE, back[0] & 0xFFFF);
    assertEquals(0x0102, back[1]);
  }

  @Test
  void shortPathGivesTheByteBytesForWidths1To8() {
    SplittableRandom random = new SplittableRandom(11);
    for (int b = 1; b <= 8; b++) {
      for (int n : new int[] {0, 1, 3, 7, 8, 9, 63, 257}) {
        byte[] codes = randomCodes(random, n, b);
        short[] wide = new short[n];
        for (int i = 0; i < n; i++) {
          wide[i] = (short) (codes[i] & 0xFF);
        }
        int numBytes = (int) BitPacking.bytesRequired(n, b);
        byte[] viaBytes = new byte[numBytes];
        byte[] viaShorts = new byte[numBytes];
        BitPacking.pack(codes, 0, n, b, viaBytes, 0);
        BitPacking.pack(wide, 0, n, b, viaShorts, 0);
        assertArrayEquals(viaBytes, viaShorts, "b=" + b + " n=" + n);
      }
    }
  }

  /** The layout spec, bit by bit, for codes of up to 16 bits. */
  private static byte[] referencePackWide(short[] codes, int numValues, int b) {
    byte[] out = new byte[(int) BitPacking.bytesRequired(numValues, b)];
    for (int i = 0; i < numValues; i++) {
      for (int k = 0; k < b; k++) {
        if ((((codes[i] & 0xFFFF) >>> k) & 1) != 0) {
          int j = i * b + k;
          out[j / 8] |= (byte) (1 << (j % 8));
        }
      }
    }
    return out;
  }

  @Test
  void everyWideWidthRoundTripsAndMatchesTheSpec() {
    SplittableRandom random = new SplittableRandom(16);
    for (int b = 1; b <= 16; b++) {
      for (int t = 0; t < 40; t++) {
        int n = 1 + 2 * random.nextInt(600); // odd counts
        short[] codes = new short[n];
        for (int i = 0; i < n; i++) {
          codes[i] = (short) random.nextInt(1 << b);
        }
        codes[random.nextInt(n)] = (short) ((1 << b) - 1); // the largest code appears
        int codesOffset = random.nextInt(4);
        int dstOffset = random.nextInt(4);
        short[] shifted = new short[codesOffset + n + 2];
        System.arraycopy(codes, 0, shifted, codesOffset, n);
        int numBytes = (int) BitPacking.bytesRequired(n, b);
        assertEquals(((long) n * b + 7) / 8, numBytes);
        byte[] dst = new byte[dstOffset + numBytes + 2];
        BitPacking.pack(shifted, codesOffset, n, b, dst, dstOffset);
        assertArrayEquals(referencePackWide(codes, n, b),
            Arrays.copyOfRange(dst, dstOffset, dstOffset + numBytes), "b=" + b + " n=" + n);
        assertEquals(0, dst[dstOffset + numBytes]); // nothing written past the end
        short[] back = new short[codesOffset + n];
        BitPacking.unpack(dst, dstOffset, n, b, back, codesOffset);
        assertArrayEquals(codes, Arrays.copyOfRange(back, codesOffset, codesOffset + n),
            "b=" + b + " n=" + n);
      }
    }
  }

  @Test
  void wideCodeThatDoesNotFitIsRejectedByIndex() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> BitPacking.pack(new short[] {9, 1, 1024, 3}, 1, 3, 10, new byte[4], 0));
    assertEquals(
        "Cannot pack value 1024 at index 1: does not fit in bitsPerValue 10", e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> BitPacking.pack(new short[] {0, (short) 0x8000}, 0, 2, 15, new byte[4], 0));
    assertEquals(
        "Cannot pack value 32768 at index 1: does not fit in bitsPerValue 15", e.getMessage());
  }

  @Test
  void wideWidths0And17AreRejected() {
    for (int b : new int[] {0, 17}) {
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () -> BitPacking.pack(new short[1], 0, 1, b, new byte[4], 0));
      assertEquals("Cannot pack with bitsPerValue " + b + ": must be between 1 and 16",
          e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> BitPacking.unpack(new byte[4], 0, 1, b, new short[1], 0));
      assertEquals("Cannot unpack with bitsPerValue " + b + ": must be between 1 and 16",
          e.getMessage());
    }
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> BitPacking.unpack(new byte[4], 0, -1, 9, new short[1], 0));
    assertEquals("Cannot unpack -1 values: numValues must not be negative", e.getMessage());
    assertThrows(
        IndexOutOfBoundsException.class,
        () -> BitPacking.unpack(new byte[2], 0, 2, 9, new short[2], 0));
  }
}
