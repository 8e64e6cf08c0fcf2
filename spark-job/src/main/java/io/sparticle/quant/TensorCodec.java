package io.sparticle.quant;

/**
 * How the weights of one tensor map to codes and back: one per method. {@link #value} is the
 * one reconstruction function; the encoder measures its error against {@link #levels} and the
 * decoder writes {@link #levels}, so the error in the report is by construction what
 * decompress writes.
 *
 * <pre>{@code
 * TensorCodec codec = KMeansCodec.shared(codebook, scale);
 * int code = codec.encode(0, weight);
 * float[] levels = new float[codec.numCodes()];
 * codec.levels(0, ValueKind.BF16, levels);     // what a decoder writes for each code
 * }</pre>
 */
public abstract class TensorCodec {
  private final UnitLayout layout;
  private final int bits;

  protected TensorCodec(UnitLayout layout, int bits) {
    this.layout = layout;
    this.bits = bits;
  }

  public final UnitLayout layout() {
    return layout;
  }

  public final int bits() {
    return bits;
  }

  public final int numCodes() {
    return 1 << bits;
  }

  /** The code of weight {@code x} of unit {@code unit}. */
  public abstract int encode(int unit, float x);

  /**
   * The reconstruction of {@code code} in {@code unit}, in float32, before rounding to the
   * tensor's dtype. FORMAT.md specifies it per method.
   */
  public abstract float value(int unit, int code);

  /** {@code out[c]} = {@link #value value(unit, c)} rounded to {@code kind}, for every code. */
  public final void levels(int unit, ValueKind kind, float[] out) {
    for (int c = 0, n = numCodes(); c < n; c++) {
      out[c] = kind.roundTrip(value(unit, c));
    }
  }
}
