package io.sparticle.fuzz;

import static org.junit.jupiter.api.Assertions.*;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.sparticle.packing.BitPacking;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Fuzzes {@link BitPacking#unpack} with arbitrary arguments and buffers.
 *
 * <p>An input is a 12-byte little-endian argument block, then the packed bytes (shorter inputs
 * are padded with zeros):
 *
 * <pre>
 *   byte  0     bitsPerValue (signed)
 *   bytes 1..4  numValues (int)
 *   byte  5     srcOffset (signed)
 *   byte  6     codesOffset (signed)
 *   byte  7     unused
 *   bytes 8..11 codes array length (int; 0..4096 after masking)
 *   bytes 12..  src
 * </pre>
 *
 * <p>Contract: unpack either throws what its Javadoc documents (IllegalArgumentException for a
 * bad width or count, IndexOutOfBoundsException for a range that does not fit) exactly when the
 * arguments deserve it, or writes each code as the layout defines it and nothing else; packing
 * the codes again gives the source bytes with the padding bits cleared; and for codes made from
 * the input, unpack(pack(codes)) == codes.
 */
class BitPackingFuzzTest {
  private static final int ARGS = 12;
  private static final byte UNTOUCHED = (byte) 0xA5;

  @FuzzTest
  void unpack(byte[] input) {
    ByteBuffer args =
        ByteBuffer.wrap(Arrays.copyOf(input, Math.max(ARGS, input.length))).order(ByteOrder.LITTLE_ENDIAN);
    int bits = args.get(0);
    int numValues = args.getInt(1);
    int srcOffset = args.get(5);
    int codesOffset = args.get(6);
    int codesLength = args.getInt(8) & 0xFFF;
    byte[] src = Arrays.copyOfRange(input, Math.min(ARGS, input.length), input.length);
    byte[] codes = new byte[codesLength];
    Arrays.fill(codes, UNTOUCHED);

    boolean badArguments = bits < 1 || bits > 8 || numValues < 0;
    long srcBytes = badArguments ? 0 : BitPacking.bytesRequired(numValues, bits);
    boolean outOfRange =
        srcOffset < 0 || srcOffset + srcBytes > src.length || codesOffset < 0
            || (long) codesOffset + numValues > codes.length;
    try {
      BitPacking.unpack(src, srcOffset, numValues, bits, codes, codesOffset);
    } catch (IllegalArgumentException e) {
      assertTrue(badArguments, "rejected good arguments: " + e.getMessage());
      return;
    } catch (IndexOutOfBoundsException e) {
      assertTrue(!badArguments && outOfRange, "rejected ranges that fit: " + e.getMessage());
      return;
    }
    assertFalse(badArguments || outOfRange, "accepted bad arguments");

    for (int i = 0; i < codes.length; i++) {
      if (i < codesOffset || i >= codesOffset + numValues) {
        assertEquals(UNTOUCHED, codes[i], "wrote outside the range at " + i);
      } else {
        assertEquals(reference(src, srcOffset, i - codesOffset, bits), codes[i] & 0xFF, "value " + i);
      }
    }

    // Packing the codes again gives the source bytes, padding bits cleared.
    byte[] packed = new byte[(int) srcBytes];
    BitPacking.pack(codes, codesOffset, numValues, bits, packed, 0);
    byte[] expected = Arrays.copyOfRange(src, srcOffset, srcOffset + (int) srcBytes);
    int usedBits = (int) ((long) numValues * bits % 8);
    if (usedBits != 0) {
      expected[expected.length - 1] &= (byte) ((1 << usedBits) - 1);
    }
    assertArrayEquals(expected, packed);

    // unpack(pack(x)) == x for codes taken from the input.
    byte[] values = new byte[src.length];
    for (int i = 0; i < values.length; i++) {
      values[i] = (byte) (src[i] & ((1 << bits) - 1));
    }
    byte[] repacked = new byte[(int) BitPacking.bytesRequired(values.length, bits)];
    BitPacking.pack(values, 0, values.length, bits, repacked, 0);
    byte[] back = new byte[values.length];
    BitPacking.unpack(repacked, 0, values.length, bits, back, 0);
    assertArrayEquals(values, back);
  }

  /** Value {@code i} by the layout's definition: stream bit j is bit j % 8 of byte j / 8. */
  private static int reference(byte[] src, int srcOffset, int i, int bits) {
    int v = 0;
    for (int k = 0; k < bits; k++) {
      long j = (long) i * bits + k;
      v |= ((src[srcOffset + (int) (j / 8)] >>> (j % 8)) & 1) << k;
    }
    return v;
  }
}
