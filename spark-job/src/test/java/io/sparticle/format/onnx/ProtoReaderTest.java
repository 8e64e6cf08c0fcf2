package io.sparticle.format.onnx;

import static io.sparticle.format.onnx.ProtoBuilder.proto;
import static org.junit.jupiter.api.Assertions.*;

import io.sparticle.format.CheckpointFormatException;
import io.sparticle.io.RangeReader;
import java.io.EOFException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ProtoReaderTest {
  private static final String FILE = "m.onnx";

  /** A RangeReader over an array that counts bytes and reads. */
  static final class ArrayRangeReader implements RangeReader {
    final byte[] bytes;
    long bytesRead;
    int reads;

    ArrayRangeReader(byte[] bytes) {
      this.bytes = bytes;
    }

    @Override
    public void readFully(long position, byte[] buffer, int offset, int length) throws IOException {
      if (position < 0 || position + length > bytes.length) {
        throw new EOFException("read [" + position + ", +" + length + ") of " + bytes.length);
      }
      System.arraycopy(bytes, (int) position, buffer, offset, length);
      bytesRead += length;
      reads++;
    }

    @Override
    public long bytesRead() {
      return bytesRead;
    }

    @Override
    public void close() {}
  }

  private static CheckpointFormatException fails(byte[] bytes, ThrowingConsumer read) {
    CheckpointFormatException e =
        assertThrows(CheckpointFormatException.class, () -> read.accept(ProtoReader.over(FILE, bytes)));
    assertEquals(CheckpointFormatException.Reason.INVALID_ONNX, e.reason(), e.getMessage());
    assertEquals(FILE, e.file());
    assertTrue(e.getMessage().startsWith(FILE + ": "), e.getMessage());
    return e;
  }

  interface ThrowingConsumer {
    void accept(ProtoReader r) throws IOException;
  }

  /** Reads every field, skipping each. */
  private static void skipAll(ProtoReader r) throws IOException {
    while (r.next()) {
      r.skip();
    }
  }

  @Test
  void readsEveryWireTypeWithAbsoluteOffsets() throws IOException {
    byte[] payload = {9, 8, 7};
    byte[] bytes = proto()
        .varint(1, 150)                       // 08 96 01
        .fixed32(2, 0x01020304)
        .fixed64(3, -2L)
        .bytes(4, payload)
        .string(5, "héllo")
        .message(6, proto().varint(1, 7))
        .build();
    assertArrayEquals(new byte[] {0x08, (byte) 0x96, 0x01}, java.util.Arrays.copyOf(bytes, 3));

    ProtoReader r = ProtoReader.over(FILE, bytes);
    assertTrue(r.next());
    assertEquals(1, r.fieldNumber());
    assertEquals(ProtoReader.VARINT, r.wireType());
    assertEquals(0, r.tagOffset());
    assertEquals(150, r.readVarint());
    assertTrue(r.next());
    assertEquals(ProtoReader.FIXED32, r.wireType());
    assertEquals(0x01020304, r.readFixed32());
    assertTrue(r.next());
    assertEquals(-2L, r.readFixed64());
    assertTrue(r.next());
    assertEquals(4, r.fieldNumber());
    ProtoReader.Range range = r.readLengthDelimited();
    assertEquals(3, range.length());
    // The range is where the bytes are in the file, not a copy.
    for (int i = 0; i < 3; i++) {
      assertEquals(payload[i], bytes[(int) range.offset() + i]);
    }
    assertTrue(r.next());
    assertEquals("héllo", r.readString(100));
    assertTrue(r.next());
    ProtoReader sub = r.message();
    assertTrue(sub.next());
    assertEquals(7, sub.readVarint());
    assertFalse(sub.next());
    assertFalse(r.next());
    assertEquals(bytes.length, r.position());
  }

  @Test
  void skipsUnknownFieldsOfEveryWireType() throws IOException {
    byte[] bytes = proto()
        .varint(100, -1L).fixed32(101, 5).fixed64(102, 6).bytes(103, new byte[1000]).varint(1, 42).build();
    ProtoReader r = ProtoReader.over(FILE, bytes);
    long found = -1;
    while (r.next()) {
      if (r.fieldNumber() == 1) {
        found = r.readVarint();
      } else {
        r.skip();
      }
    }
    assertEquals(42, found);
  }

  @Test
  void varintLimits() throws IOException {
    long[] values = {0, 1, 127, 128, 300, Integer.MAX_VALUE, -1L, Long.MIN_VALUE, Long.MAX_VALUE};
    for (long v : values) {
      ProtoReader r = ProtoReader.over(FILE, proto().rawVarint(v).build());
      assertEquals(v, r.readVarint());
    }
    assertEquals(10, ProtoBuilder.varintBytes(-1L).length);
  }

  @Test
  void packedVarintsThroughSlice() throws IOException {
    ProtoReader r = ProtoReader.over(FILE, proto().packedVarints(1, 3, 300, 0).varint(2, 1).build());
    assertTrue(r.next());
    ProtoReader packed = r.slice(r.readLengthDelimited());
    List<Long> values = new ArrayList<>();
    while (packed.hasRemaining()) {
      values.add(packed.readVarint());
    }
    assertEquals(List.of(3L, 300L, 0L), values);
    assertTrue(r.next());
    assertEquals(2, r.fieldNumber());
  }

  // ---- one test per malformed-input rule ----

  @Test
  void truncatedVarint() {
    CheckpointFormatException e = fails(new byte[] {(byte) 0x96}, ProtoReader::readVarint);
    assertTrue(e.getMessage().contains("truncated varint at byte 0"), e.getMessage());
    fails(proto().tag(1, 0).raw(0x80, 0x80).build(), ProtoReaderTest::skipAll);
  }

  @Test
  void truncatedTag() {
    fails(new byte[] {(byte) 0x80}, ProtoReaderTest::skipAll);
  }

  @Test
  void varintOverflowingSixtyFourBits() {
    // Ten bytes whose last carries more than bit 63.
    byte[] ten = {-1, -1, -1, -1, -1, -1, -1, -1, -1, 0x02};
    assertTrue(fails(ten, ProtoReader::readVarint).getMessage().contains("overflows 64 bits"));
    // Eleven bytes.
    byte[] eleven = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0x01};
    fails(eleven, ProtoReader::readVarint);
  }

  @Test
  void tagBeyondThirtyTwoBits() {
    assertTrue(fails(proto().rawVarint(1L << 35).build(), ProtoReaderTest::skipAll).getMessage().contains("32 bits"));
  }

  @Test
  void fieldNumberZero() {
    assertTrue(fails(proto().tag(0, 0).raw(1).build(), ProtoReaderTest::skipAll).getMessage().contains("field number 0"));
  }

  @Test
  void groupWireTypesRejected() {
    assertTrue(fails(proto().tag(3, 3).build(), ProtoReaderTest::skipAll).getMessage().contains("group wire type 3"));
    assertTrue(fails(proto().tag(3, 4).build(), ProtoReaderTest::skipAll).getMessage().contains("group wire type 4"));
  }

  @Test
  void invalidWireTypes() {
    assertTrue(fails(proto().tag(2, 6).build(), ProtoReaderTest::skipAll).getMessage().contains("invalid wire type 6"));
    fails(proto().tag(2, 7).build(), ProtoReaderTest::skipAll);
  }

  @Test
  void lengthPastEndOfFile() {
    CheckpointFormatException e = fails(proto().tag(1, 2).rawVarint(5).raw(1, 2).build(), ProtoReaderTest::skipAll);
    assertTrue(e.getMessage().contains("length 5 at byte 1 runs past the end of the file"), e.getMessage());
  }

  @Test
  void lengthBeyondLongRange() {
    // 2^64 - 1 as a length: negative as a signed long.
    CheckpointFormatException e = fails(proto().tag(1, 2).rawVarint(-1L).build(), ProtoReaderTest::skipAll);
    assertTrue(e.getMessage().contains("length 18446744073709551615"), e.getMessage());
  }

  @Test
  void lengthPastEndOfEnclosingMessage() {
    // The inner field claims 10 bytes; the message holding it has 3 after its tag and length.
    byte[] inner = proto().tag(1, 2).rawVarint(10).raw(1, 2, 3).build();
    byte[] bytes = proto().bytes(1, inner).raw(new byte[20]).build();
    CheckpointFormatException e = fails(bytes, r -> {
      r.next();
      skipAll(r.message());
    });
    assertTrue(e.getMessage().contains("past the end of the enclosing message"), e.getMessage());
  }

  @Test
  void truncatedFixedWidthValues() {
    fails(proto().tag(1, 5).raw(1, 2, 3).build(), ProtoReaderTest::skipAll);
    fails(proto().tag(1, 1).raw(1, 2, 3, 4, 5, 6, 7).build(), ProtoReaderTest::skipAll);
    fails(proto().tag(1, 1).raw(1, 2, 3, 4, 5, 6, 7).build(), r -> {
      r.next();
      r.readFixed64();
    });
  }

  @Test
  void stringNotUtf8() {
    fails(proto().bytes(1, new byte[] {(byte) 0xC3, 0x28}).build(), r -> {
      r.next();
      r.readString(100);
    });
  }

  @Test
  void stringLongerThanLimit() {
    fails(proto().string(1, "abcdef").build(), r -> {
      r.next();
      r.readString(5);
    });
  }

  @Test
  void wrongWireTypeForKnownField() {
    CheckpointFormatException e = fails(proto().varint(8, 1).build(), r -> {
      r.next();
      r.expectWireType(ProtoReader.LEN, "TensorProto.name");
    });
    assertTrue(e.getMessage().contains("TensorProto.name (field 8) at byte 0 has wire type 0, expected 2"), e.getMessage());
  }

  @Test
  void contextNamesTheTensorInErrorsOfSubReaders() {
    byte[] bytes = proto().bytes(1, proto().tag(1, 6).build()).build();
    CheckpointFormatException e = fails(bytes, r -> {
      r.context("w");
      r.next();
      skipAll(r.message());
    });
    assertEquals("w", e.tensor());
    assertTrue(e.getMessage().startsWith(FILE + ": tensor 'w': "), e.getMessage());
  }

  @Test
  void misuseIsIllegalState() {
    ProtoReader r = ProtoReader.over(FILE, new byte[0]);
    assertThrows(IllegalStateException.class, r::skip);
    assertThrows(IllegalArgumentException.class, () -> r.slice(new ProtoReader.Range(0, 1)));
    assertThrows(IllegalArgumentException.class, () -> ProtoReader.over(FILE, new ArrayRangeReader(new byte[0]), 0, 4));
  }

  // ---- the windowed reader agrees with the array reader and does not read skipped payloads ----

  /** Every field as "number:wire:value", descending into field 1 as a message. */
  private static void walk(ProtoReader r, StringBuilder out) throws IOException {
    while (r.next()) {
      out.append(r.fieldNumber()).append(':').append(r.wireType()).append(':');
      switch (r.wireType()) {
        case ProtoReader.VARINT -> out.append(r.readVarint());
        case ProtoReader.FIXED32 -> out.append(r.readFixed32());
        case ProtoReader.FIXED64 -> out.append(r.readFixed64());
        default -> {
          if (r.fieldNumber() == 1) {
            out.append('{');
            walk(r.message(), out);
            out.append('}');
          } else if (r.fieldNumber() == 2) {
            out.append(r.readString(1 << 20));
          } else {
            out.append(r.readLengthDelimited());
          }
        }
      }
      out.append(';');
    }
  }

  private static ProtoBuilder randomMessage(Random random, int depth) {
    ProtoBuilder b = proto();
    int fields = random.nextInt(8);
    for (int i = 0; i < fields; i++) {
      switch (random.nextInt(6)) {
        case 0 -> b.varint(3 + random.nextInt(100), random.nextLong() >> random.nextInt(64));
        case 1 -> b.fixed32(3 + random.nextInt(100), random.nextInt());
        case 2 -> b.fixed64(3 + random.nextInt(100), random.nextLong());
        case 3 -> b.bytes(3 + random.nextInt(100), new byte[random.nextInt(200)]);
        case 4 -> b.string(2, "s" + random.nextInt());
        default -> {
          if (depth < 3) {
            b.message(1, randomMessage(random, depth + 1));
          }
        }
      }
    }
    return b;
  }

  @Test
  void windowedReaderMatchesArrayReader() throws IOException {
    Random random = new Random(42);
    for (int trial = 0; trial < 200; trial++) {
      byte[] bytes = randomMessage(random, 0).build();
      StringBuilder fromArray = new StringBuilder();
      walk(ProtoReader.over(FILE, bytes), fromArray);
      StringBuilder fromWindow = new StringBuilder();
      walk(ProtoReader.over(FILE, new ArrayRangeReader(bytes), bytes.length, 16 + random.nextInt(64)), fromWindow);
      assertEquals(fromArray.toString(), fromWindow.toString());
    }
  }

  @Test
  void skippedPayloadsAreNotRead() throws IOException {
    byte[] bytes = proto().bytes(9, new byte[1_000_000]).varint(1, 5).bytes(9, new byte[1_000_000]).varint(2, 6).build();
    ArrayRangeReader in = new ArrayRangeReader(bytes);
    ProtoReader r = ProtoReader.over(FILE, in, bytes.length, 1024);
    skipAll(r);
    assertEquals(bytes.length, r.position());
    assertTrue(in.bytesRead() <= 3 * 1024, "read " + in.bytesRead() + " bytes");
    assertEquals(3, in.reads);
  }
}
