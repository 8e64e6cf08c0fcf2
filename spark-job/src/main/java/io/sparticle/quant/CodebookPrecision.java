package io.sparticle.quant;

import java.io.Serializable;
import java.util.Locale;

/**
 * How codebook centroids are stored; see {@link Codebook#roundTo}. {@link #F32}, {@link #F16} and
 * {@link #BF16} store floats. {@link #step step(Q)} stores each centroid as a signed 16-bit
 * integer m with value {@code float32(m) * Q} (one float32 multiply): "particles compressed with
 * step Q", half the bytes of F16 and exact on the grid.
 *
 * <pre>{@code
 * Codebook stored = codebook.roundTo(CodebookPrecision.BF16);
 * Codebook onGrid = codebook.roundTo(CodebookPrecision.parse("step:0.001"));
 * }</pre>
 */
public final class CodebookPrecision implements Serializable {
  private static final long serialVersionUID = 1L;

  /** binary32: centroids are kept as they are. */
  public static final CodebookPrecision F32 = new CodebookPrecision("F32", 0f);
  /** IEEE binary16. */
  public static final CodebookPrecision F16 = new CodebookPrecision("F16", 0f);
  /** bfloat16. */
  public static final CodebookPrecision BF16 = new CodebookPrecision("BF16", 0f);
  /** The largest |m| a step codebook stores: it is written as a signed 16-bit integer. */
  public static final int MAX_STEPS = Short.MAX_VALUE;

  private final String kind;
  private final float step;

  private CodebookPrecision(String kind, float step) {
    this.kind = kind;
    this.step = step;
  }

  /**
   * Centroids rounded to integer multiples of {@code q} (nearest, ties to even).
   *
   * @throws IllegalArgumentException unless q is finite and positive
   */
  public static CodebookPrecision step(float q) {
    if (!(q > 0) || !Float.isFinite(q)) {
      throw new IllegalArgumentException(
          "Cannot set codebook-precision to step:" + q + ": the step must be finite and positive");
    }
    return new CodebookPrecision("step", q);
  }

  /** Parses {@code F32}, {@code F16}, {@code BF16} (any case) or {@code step:Q}. */
  public static CodebookPrecision parse(String s) {
    String t = s.trim();
    if (t.toLowerCase(Locale.ROOT).startsWith("step:")) {
      float q;
      try {
        q = Float.parseFloat(t.substring(5).trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(
            "Cannot set codebook-precision to " + s + ": step:Q needs a number Q, e.g. step:0.01");
      }
      return step(q);
    }
    return switch (t.toUpperCase(Locale.ROOT)) {
      case "F32" -> F32;
      case "F16" -> F16;
      case "BF16" -> BF16;
      default -> throw new IllegalArgumentException(
          "Cannot set codebook-precision to " + s + ": must be one of F32, F16, BF16, step:Q");
    };
  }

  /** {@code F32}, {@code F16}, {@code BF16} or {@code step}. */
  public String kind() {
    return kind;
  }

  public boolean isStep() {
    return step > 0;
  }

  /** The step Q of a step precision; 0 otherwise. */
  public float step() {
    return step;
  }

  /** Bytes per stored centroid: 4, 2, 2, and 2 for a step (a signed 16-bit integer). */
  public int byteSize() {
    return kind.equals("F32") ? 4 : 2;
  }

  /**
   * {@code value} rounded to this precision (nearest, ties to even); overflow gives infinity,
   * and for a step, a value more than {@link #MAX_STEPS} steps from zero gives infinity too.
   */
  public float round(float value) {
    switch (kind) {
      case "F16":
        return HalfFloats.f16ToFloat(HalfFloats.floatToF16(value));
      case "BF16":
        return HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(value));
      case "step":
        double m = Math.rint((double) value / step);
        if (Math.abs(m) > MAX_STEPS) {
          return value > 0 ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY;
        }
        return fromSteps((int) m);
      default:
        return value;
    }
  }

  /** The stored integer of a centroid already on this step's grid. */
  public int toSteps(float centroid) {
    return (int) Math.rint((double) centroid / step);
  }

  /** The value of stored integer m: {@code float32(m) * Q}, one float32 multiply. */
  public float fromSteps(int m) {
    return (float) m * step;
  }

  /** The spelling in configs and manifests: {@code F32}, {@code F16}, {@code BF16}, {@code step:Q}. */
  public String name() {
    return isStep() ? "step:" + step : kind;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof CodebookPrecision p && kind.equals(p.kind)
        && Float.compare(step, p.step) == 0;
  }

  @Override
  public int hashCode() {
    return kind.hashCode() * 31 + Float.hashCode(step);
  }

  @Override
  public String toString() {
    return name();
  }

  private Object readResolve() {
    return switch (kind) {
      case "F32" -> F32;
      case "F16" -> F16;
      case "BF16" -> BF16;
      default -> step(step);
    };
  }
}
