package io.sparticle.format;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Optional;
import org.junit.jupiter.api.Test;

class TensorInfoTest {

  @Test
  void dtypes() {
    assertEquals(15, DType.values().length);
    assertEquals(Optional.of(DType.F8_E4M3), DType.fromName("F8_E4M3"));
    assertEquals(Optional.empty(), DType.fromName("bf16"));
    assertEquals(Optional.empty(), DType.fromName("F4"));
    assertEquals(2, DType.BF16.byteSize());
    assertEquals(8, DType.U64.byteSize());
    assertEquals(1, DType.BOOL.byteSize());
    for (DType d : DType.values()) {
      assertEquals(d == DType.F32 || d == DType.F16 || d == DType.BF16, d.isCompressibleFloat(), d.name());
    }
  }

  @Test
  void accessorsAndValueSemantics() {
    long[] shape = {3, 4};
    TensorInfo t = new TensorInfo("w", DType.F16, shape, 8, 32);
    shape[0] = 99; // defensive copy in
    assertArrayEquals(new long[] {3, 4}, t.shape());
    t.shape()[1] = 99; // defensive copy out
    assertEquals(4, t.dim(1));
    assertEquals(12, t.numel());
    assertEquals(24, t.byteLength());
    assertEquals(2, t.rank());
    TensorInfo same = new TensorInfo("w", DType.F16, new long[] {3, 4}, 8, 32);
    assertEquals(same, t);
    assertEquals(same.hashCode(), t.hashCode());
    assertNotEquals(new TensorInfo("w", DType.F16, new long[] {4, 3}, 8, 32), t);
    assertEquals("TensorInfo[name=w, dtype=F16, shape=[3, 4], begin=8, end=32]", t.toString());
    assertEquals(1, new TensorInfo("s", DType.U8, new long[0], 0, 1).numel());
  }

  @Test
  void nothingInvalidIsConstructed() {
    assertThrows(IllegalArgumentException.class, () -> new TensorInfo("w", DType.U8, new long[] {-1, -1}, 0, 1));
    assertThrows(IllegalArgumentException.class, () -> new TensorInfo("w", DType.U8, new long[] {1}, 1, 0));
    assertThrows(IllegalArgumentException.class, () -> new TensorInfo("w", DType.U8, new long[] {1}, -1, 0));
    assertThrows(IllegalArgumentException.class, () -> new TensorInfo("w", DType.F32, new long[] {2}, 0, 4));
    assertThrows(
        IllegalArgumentException.class, () -> new TensorInfo("w", DType.F64, new long[] {1L << 61}, 0, 8));
  }
}
