package io.sparticle.format;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class SafetensorsLayoutTest {

  private static SafetensorsHeader reparse(SafetensorsLayout layout) throws CheckpointFormatException {
    byte[] bytes = layout.headerBytes();
    long n = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
    return SafetensorsReader.parse("out.safetensors", layout.fileLength(), n, Arrays.copyOfRange(bytes, 8, bytes.length));
  }

  @Test
  void handMadeExample() throws Exception {
    SafetensorsLayout layout =
        SafetensorsLayout.builder()
            .metadata("format", "pt")
            .add("b", DType.F32, new long[] {2, 3})
            .add("a", DType.BF16, new long[] {5})
            .build();
    byte[] bytes = layout.headerBytes();
    String expectedJson =
        "{\"__metadata__\":{\"format\":\"pt\"},"
            + "\"b\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
            + "\"a\":{\"dtype\":\"BF16\",\"shape\":[5],\"data_offsets\":[24,34]}}";
    int padded = (expectedJson.length() + 7) / 8 * 8;
    assertEquals(8 + padded, bytes.length);
    assertEquals(padded, ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong());
    assertEquals(
        expectedJson + " ".repeat(padded - expectedJson.length()),
        new String(bytes, 8, padded, StandardCharsets.UTF_8));
    assertEquals(8 + padded, layout.dataStart());
    assertEquals(padded, layout.headerLength());
    assertEquals(8 + padded + 34, layout.fileLength());
    assertEquals(new TensorInfo("a", DType.BF16, new long[] {5}, 24, 34), layout.tensor("a"));
    assertEquals(List.of("b", "a"), layout.tensors().stream().map(TensorInfo::name).toList());
    assertEquals(Map.of("format", "pt"), layout.metadata());
    assertNull(layout.tensor("c"));

    SafetensorsHeader h = reparse(layout);
    assertEquals(layout.tensors(), h.tensors());
    assertEquals(layout.metadata(), h.metadata());
    assertEquals(layout.dataStart(), h.dataStart());
  }

  @Test
  void emptyLayoutIsPaddedEmptyObject() throws Exception {
    SafetensorsLayout layout = SafetensorsLayout.builder().build();
    assertArrayEquals(
        new byte[] {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '}, layout.headerBytes());
    assertEquals(16, layout.fileLength());
    assertTrue(reparse(layout).tensors().isEmpty());
  }

  @Test
  void namesAreEscaped() throws Exception {
    String odd = "quote\" back\\ nl\n tab\t é 🙂";
    SafetensorsLayout layout = SafetensorsLayout.builder().metadata(odd, odd).add(odd, DType.U8, new long[] {3}).build();
    SafetensorsHeader h = reparse(layout);
    assertEquals(3, h.tensor(odd).byteLength());
    assertEquals(odd, h.metadata().get(odd));
  }

  @Test
  void rejectsMisuse() {
    SafetensorsLayout.Builder b = SafetensorsLayout.builder().add("w", DType.F32, new long[] {1}).metadata("k", "v");
    assertThrows(IllegalArgumentException.class, () -> b.add("w", DType.F16, new long[] {1}));
    assertThrows(IllegalArgumentException.class, () -> b.add("__metadata__", DType.F16, new long[] {1}));
    assertThrows(IllegalArgumentException.class, () -> b.add("neg", DType.F16, new long[] {-1, -2}));
    assertThrows(IllegalArgumentException.class, () -> b.add("big", DType.F64, new long[] {1L << 61}));
    assertThrows(IllegalArgumentException.class, () -> b.metadata("k", "again"));
    // The failed calls left the builder usable and unchanged.
    assertEquals(List.of("w"), b.build().tensors().stream().map(TensorInfo::name).toList());
  }

  @Test
  void deterministic() {
    SafetensorsLayout one = SafetensorsLayout.builder().metadata("a", "1").add("x", DType.I32, new long[] {7}).build();
    SafetensorsLayout two = SafetensorsLayout.builder().metadata("a", "1").add("x", DType.I32, new long[] {7}).build();
    assertArrayEquals(one.headerBytes(), two.headerBytes());
  }

  @Test
  void randomRoundTripsOverAllDtypes() throws Exception {
    Random random = new Random(42);
    for (int round = 0; round < 200; round++) {
      SafetensorsLayout.Builder b = SafetensorsLayout.builder();
      int metadataCount = random.nextInt(3);
      for (int i = 0; i < metadataCount; i++) {
        b.metadata("key" + i, "value" + random.nextInt(1000));
      }
      int count = random.nextInt(20);
      for (int i = 0; i < count; i++) {
        DType dtype = DType.values()[random.nextInt(DType.values().length)];
        long[] shape = new long[random.nextInt(5)];
        for (int d = 0; d < shape.length; d++) {
          // Mostly small dims, sometimes zero, sometimes large (offsets only, no data).
          int kind = random.nextInt(10);
          shape[d] = kind == 0 ? 0 : kind == 1 ? random.nextInt(100_000) : 1 + random.nextInt(8);
        }
        b.add("layers." + i + ".w" + random.nextInt(10), dtype, shape);
      }
      SafetensorsLayout layout = b.build();
      assertEquals(0, layout.dataStart() % 8);
      SafetensorsHeader h = reparse(layout);
      assertEquals(layout.tensors(), h.tensors(), "round " + round);
      assertEquals(List.copyOf(layout.metadata().entrySet()), List.copyOf(h.metadata().entrySet()));
      for (TensorInfo t : layout.tensors()) {
        assertEquals(t, h.tensor(t.name()));
      }
    }
  }
}
