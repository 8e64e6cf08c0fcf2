package io.sparticle.format;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/** Little-endian reads and writes of byte arrays: the one place the byte order is spelled out. */
public final class LittleEndian {
  private static final VarHandle SHORT =
      MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle INT =
      MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle LONG =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

  private LittleEndian() {}

  /** The unsigned 16-bit value at {@code p}. */
  public static int u16(byte[] b, int p) {
    return (short) SHORT.get(b, p) & 0xFFFF;
  }

  public static int i32(byte[] b, int p) {
    return (int) INT.get(b, p);
  }

  public static long i64(byte[] b, int p) {
    return (long) LONG.get(b, p);
  }

  public static void put64(byte[] b, int p, long v) {
    LONG.set(b, p, v);
  }

  public static void put16(byte[] b, int p, int v) {
    SHORT.set(b, p, (short) v);
  }

  public static void put32(byte[] b, int p, int v) {
    INT.set(b, p, v);
  }
}
