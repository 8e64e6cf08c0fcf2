package io.sparticle.quant;

/**
 * Codes index a codebook. {@link #shared}: one codebook for a whole tensor, at a per-tensor
 * scale (value = {@code centroid[c] * scale}, one float32 multiply; format version 1's only
 * encoding). {@link #perUnit}: one codebook per unit (per output channel), no scale
 * (value = {@code centroid[unit][c]}).
 *
 * <p>Centroids are used in the order given: a decoder indexes the stored array as it is. Encoding
 * searches the nearest centroid (the lowest code on ties), so a codebook that is encoded with
 * must be ascending, as Sparticle writes them.
 *
 * <pre>{@code
 * TensorCodec c = KMeansCodec.perUnit(UnitLayout.channels(shape, 0), centroidsPerRow, 4);
 * }</pre>
 */
public final class KMeansCodec extends TensorCodec {
  private final float[][] centroids;
  private final Codebook[] books; // built on first encode
  private final float scale;
  private final float[] unitScales; // block-scaled: one per unit; else null

  private KMeansCodec(UnitLayout layout, float[][] centroids, float scale, float[] unitScales,
      int bits) {
    super(layout, bits);
    this.centroids = centroids;
    this.books = new Codebook[centroids.length];
    this.scale = scale;
    this.unitScales = unitScales;
  }

  /**
   * One codebook for the whole tensor, scaled per unit (block):
   * value = {@code centroid[c] * scales[unit]}, one float32 multiply; a scale may be negative or
   * zero (a block of zeros).
   */
  public static KMeansCodec blocks(UnitLayout layout, float[] codebook, float[] scales) {
    int bits = Integer.numberOfTrailingZeros(codebook.length);
    if (codebook.length != 1 << bits) {
      throw new IllegalArgumentException("A codebook of " + codebook.length + " centroids is not 2^bits");
    }
    if (scales.length != layout.numUnits()) {
      throw new IllegalArgumentException(scales.length + " block scales for " + layout.numUnits() + " blocks");
    }
    for (int i = 0; i < scales.length; i++) {
      if (!Float.isFinite(scales[i])) {
        throw new IllegalArgumentException("block scale " + i + " is " + scales[i] + "; must be finite");
      }
    }
    return new KMeansCodec(layout, new float[][] {codebook}, 1f, scales, bits);
  }

  /** One codebook of 2^bits centroids for the whole tensor, at {@code scale}. */
  public static KMeansCodec shared(float[] codebook, float scale, long numel) {
    int bits = Integer.numberOfTrailingZeros(codebook.length);
    if (codebook.length != 1 << bits) {
      throw new IllegalArgumentException("A codebook of " + codebook.length + " centroids is not 2^bits");
    }
    if (!(scale > 0) || !Float.isFinite(scale)) {
      throw new IllegalArgumentException("Cannot use scale " + scale + ": must be finite and positive");
    }
    return new KMeansCodec(UnitLayout.whole(numel), new float[][] {codebook}, scale, null, bits);
  }

  /** One codebook of 2^bits centroids per unit of {@code layout}. */
  public static KMeansCodec perUnit(UnitLayout layout, float[][] codebooks, int bits) {
    if (codebooks.length != layout.numUnits()) {
      throw new IllegalArgumentException(
          codebooks.length + " codebooks for " + layout.numUnits() + " units");
    }
    for (float[] b : codebooks) {
      if (b.length != 1 << bits) {
        throw new IllegalArgumentException("A codebook of " + b.length + " centroids for " + bits + " bits");
      }
    }
    return new KMeansCodec(layout, codebooks, 1f, null, bits);
  }

  public float[] centroids(int unit) {
    return centroids[unitScales != null ? 0 : unit];
  }

  /** The scale of block {@code unit} of a block-scaled codec. */
  public float unitScale(int unit) {
    return unitScales[unit];
  }

  public float scale() {
    return scale;
  }

  /** The codebook searched for unit {@code unit}'s codes. */
  public Codebook codebook(int unit) {
    Codebook b = books[unit];
    if (b == null) {
      // One codebook for many weights (shared, or scaled per block): worth a finer grid.
      b = centroids.length == 1 ? Codebook.of(centroids[unit]).dense() : Codebook.of(centroids[unit]);
      books[unit] = b;
    }
    return b;
  }

  @Override
  public int encode(int unit, float x) {
    if (unitScales != null) {
      float s = unitScales[unit];
      return codebook(0).nearest(s == 0 ? 0f : x / s);
    }
    return codebook(unit).nearest(x / scale);
  }

  @Override
  public float value(int unit, int code) {
    if (unitScales != null) {
      return centroids[0][code] * unitScales[unit];
    }
    return centroids[unit][code] * scale;
  }
}
