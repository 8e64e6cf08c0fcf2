package io.sparticle.format;

import io.sparticle.quant.CodebookPrecision;
import io.sparticle.quant.HalfFloats;

/**
 * Centroids as stored bytes (FORMAT.md section 2.8): little-endian F32, F16 or BF16, or for a
 * step precision the I16 integer m of {@code m * Q}. Shared by the writer of
 * {@code codebooks.safetensors}, the per-channel codebooks of the encoder, and the reader.
 */
public final class Centroids {
  private Centroids() {}

  /** The dtype centroids of {@code p} are stored in. */
  public static DType dtype(CodebookPrecision p) {
    return switch (p.kind()) {
      case "F32" -> DType.F32;
      case "F16" -> DType.F16;
      case "BF16" -> DType.BF16;
      default -> DType.I16;
    };
  }

  /** Writes centroid {@code v} (already on the precision's grid) at {@code out[pos]}. */
  public static void put(byte[] out, int pos, CodebookPrecision p, float v) {
    switch (p.kind()) {
      case "F32" -> LittleEndian.put32(out, pos, Float.floatToRawIntBits(v));
      case "F16" -> LittleEndian.put16(out, pos, HalfFloats.floatToF16(v));
      case "BF16" -> LittleEndian.put16(out, pos, HalfFloats.floatToBf16(v));
      default -> LittleEndian.put16(out, pos, p.toSteps(v));
    }
  }

  /**
   * Centroid {@code i} of {@code raw}, stored as {@code dtype}: a float dtype, or I16 for the
   * step precision {@code p}.
   */
  public static float get(byte[] raw, int i, DType dtype, CodebookPrecision p) {
    return switch (dtype) {
      case F32 -> Float.intBitsToFloat(LittleEndian.i32(raw, i * 4));
      case F16 -> HalfFloats.f16ToFloat((short) LittleEndian.u16(raw, i * 2));
      case BF16 -> HalfFloats.bf16ToFloat((short) LittleEndian.u16(raw, i * 2));
      case I16 -> p.fromSteps((short) LittleEndian.u16(raw, i * 2));
      default -> throw new IllegalArgumentException("Centroids are not stored as " + dtype);
    };
  }
}
