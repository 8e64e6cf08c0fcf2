package io.sparticle.fuzz;

import static org.junit.jupiter.api.Assertions.*;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.sparticle.format.CheckpointFormatException;
import io.sparticle.format.SafetensorsHeader;
import io.sparticle.format.SafetensorsLayout;
import io.sparticle.format.SafetensorsReader;
import io.sparticle.format.TensorInfo;
import io.sparticle.io.InputFile;
import io.sparticle.io.RangeReader;
import java.io.EOFException;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;

/**
 * Fuzzes the safetensors header reader on whole files held in memory: each input is the file's
 * bytes (8-byte prefix, header JSON, data section).
 *
 * <p>Contract: {@link SafetensorsReader#readHeader} returns a header that tiles the data section
 * exactly, or throws {@link CheckpointFormatException}; nothing else. A header that parses is
 * rebuilt with {@link SafetensorsLayout} and must read back the same.
 */
class SafetensorsHeaderFuzzTest {
  static final String FILE = "fuzz.safetensors";

  @FuzzTest
  @DictionaryEntries({
    "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\"F32\"", "\"F16\"",
    "\"BF16\"", "\"I64\"", "\"U8\"", "\"BOOL\"", "\"F8_E4M3\""
  })
  void readHeader(byte[] bytes) throws IOException {
    SafetensorsHeader header;
    try {
      header = SafetensorsReader.readHeader(new BytesInputFile(FILE, bytes));
    } catch (CheckpointFormatException e) {
      assertEquals(FILE, e.file(), e.getMessage());
      return;
    }
    assertValid(header, bytes.length);
    assertRoundTrips(header);
  }

  private static void assertValid(SafetensorsHeader header, long fileLength) {
    assertEquals(fileLength, header.fileLength());
    assertEquals(8 + header.headerLength(), header.dataStart());
    long expected = 0;
    for (TensorInfo t : header.tensors()) {
      assertEquals(expected, t.begin(), "tensors do not tile the data section: " + t);
      assertSame(t, header.tensor(t.name()));
      assertNotEquals("__metadata__", t.name());
      expected = t.end();
    }
    assertEquals(fileLength - header.dataStart(), expected, "tensors do not end where the file does");
  }

  /** The layout writer's header for the same metadata and tensors reads back as equal. */
  private static void assertRoundTrips(SafetensorsHeader header) throws CheckpointFormatException {
    SafetensorsLayout.Builder b = SafetensorsLayout.builder();
    header.metadata().forEach(b::metadata);
    for (TensorInfo t : header.tensors()) {
      b.add(t.name(), t.dtype(), t.shape());
    }
    SafetensorsLayout layout = b.build();
    assertEquals(header.tensors(), layout.tensors());
    byte[] headerBytes = layout.headerBytes();
    long dataLength = header.fileLength() - header.dataStart();
    SafetensorsHeader back =
        SafetensorsReader.parse(
            FILE,
            headerBytes.length + dataLength,
            layout.headerLength(),
            Arrays.copyOfRange(headerBytes, 8, headerBytes.length));
    assertEquals(header.tensors(), back.tensors());
    assertEquals(List.copyOf(header.metadata().entrySet()), List.copyOf(back.metadata().entrySet()));
  }

  /** A file held in memory. */
  record BytesInputFile(String path, byte[] bytes) implements InputFile {
    @Override
    public long length() {
      return bytes.length;
    }

    @Override
    public RangeReader open() {
      return new RangeReader() {
        @Override
        public void readFully(long position, byte[] buffer, int offset, int length) throws IOException {
          if (position < 0 || position > bytes.length - length) {
            throw new EOFException(path + ": cannot read " + length + " bytes at " + position);
          }
          System.arraycopy(bytes, (int) position, buffer, offset, length);
        }

        @Override
        public void close() {}
      };
    }
  }
}
