package io.sparticle.format;

import io.sparticle.format.CheckpointFormatException.Reason;
import io.sparticle.io.RangeReader;
import io.sparticle.packing.BitPacking;
import io.sparticle.quant.BlockScales;
import io.sparticle.quant.CodebookPrecision;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.EncodingSpec.Method;
import io.sparticle.quant.EncodingSpec.ScalePrecision;
import io.sparticle.quant.KMeansCodec;
import io.sparticle.quant.TensorCodec;
import io.sparticle.quant.UniformCodec;
import io.sparticle.quant.UnitLayout;
import java.io.IOException;
import java.io.Serializable;

/**
 * A tensor of a compressed checkpoint, checked against its data file and ready to decode: where
 * its bytes are and, for an encoded tensor, its method and parameters. Serializable, so a Spark
 * task can decode it; {@link #codec} reads the per-tensor parameters (per-channel codebooks,
 * uniform scales and zero points) stored beside the codes.
 *
 * @param dataFile path of the data file holding it (as {@link io.sparticle.io.Directory#child})
 * @param offset absolute offset of its dense bytes or packed codes in {@code dataFile}
 * @param byteLength length of the dense bytes or packed codes
 * @param spec null for a dense tensor
 * @param sharedCodebook the group's codebook (kmeans scope group or block, gmm; vq: k x dim
 *     floats, codeword-major); else null
 * @param scale per-tensor scale of a shared codebook; 1 otherwise
 * @param axis channel axis of a channel-scope tensor, the axis of a vq tensor's sub-vectors,
 *     else -1
 * @param outliers the weights kept exact, or null
 * @param ladder the ladder of block-scale magnitudes (kmeans, scope block, a Qn scale
 *     precision), else null
 * @param segments entropy-coded codes: the end offset (U64, relative to {@code offset}) of each
 *     segment of {@code segmentCodes} codes; else null
 * @param pruned the weights set to the reserved zero code, when the group prunes; else null
 * @param mixture a gmm group's mixture, else null
 */
public record StoredTensor(
    String name, DType dtype, long[] shape, String dataFile, long dataFileLength, long offset,
    long byteLength, EncodingSpec spec, float[] sharedCodebook, float scale, int axis,
    Aux codebook, Aux scales, Aux zeros, Aux ladder, Sparse outliers, Aux segments,
    io.sparticle.quant.ValueHistogram.Pruned pruned, Manifest.Mixture mixture, int segmentCodes)
    implements Serializable {

  public StoredTensor(String name, DType dtype, long[] shape, String dataFile,
      long dataFileLength, long offset, long byteLength, EncodingSpec spec, float[] sharedCodebook,
      float scale, int axis, Aux codebook, Aux scales, Aux zeros, Aux ladder, Sparse outliers) {
    this(name, dtype, shape, dataFile, dataFileLength, offset, byteLength, spec, sharedCodebook,
        scale, axis, codebook, scales, zeros, ladder, outliers, null, null, null, 0);
  }

  /** Codes stored: one per weight, or one per sub-vector of {@code dim} weights (vq). */
  public long numCodes() {
    return numel() / spec.dim();
  }

  /** A tensor's outliers: {@code count} weights with {@code |x| > threshold}, stored sparse. */
  public record Sparse(long count, float threshold, Aux counts, Aux index, Aux values)
      implements Serializable {
    /** The rule the encoder applied. */
    public io.sparticle.quant.ValueHistogram.Outliers rule() {
      return new io.sparticle.quant.ValueHistogram.Outliers(threshold, count);
    }
  }

  /** The outliers of this tensor, read from its data file {@code in}; null if it keeps none. */
  public SparseOutliers readOutliers(RangeReader in) throws IOException {
    return outliers == null ? null : SparseOutliers.read(in, outliers.counts(), outliers.index(),
        outliers.values(), numel(), dtype, dataFile, name);
  }

  /** A per-tensor parameter tensor in the same data file. */
  public record Aux(String key, DType dtype, long offset, long byteLength) implements Serializable {}

  public boolean dense() {
    return spec == null;
  }

  public long numel() {
    return TensorInfo.numel(shape);
  }

  public int bits() {
    return spec == null ? 0 : spec.bits();
  }

  /** Bits of one code: bits, or bits x dim for vq. */
  public int codeBits() {
    return spec == null ? 0 : spec.codeBits();
  }

  /** Which weights share parameters, as the spec says. */
  public UnitLayout layout() {
    return layout(spec, shape, axis);
  }

  /** The unit layout of a tensor of {@code shape} encoded by {@code spec}. */
  public static UnitLayout layout(EncodingSpec spec, long[] shape, int axis) {
    long numel = TensorInfo.numel(shape);
    return switch (spec.scope()) {
      case GROUP, TENSOR -> UnitLayout.whole(numel);
      case CHANNEL -> UnitLayout.channels(shape, axis);
      case BLOCK -> UnitLayout.blocks(numel, spec.blockSize());
    };
  }

  /** The codec of this encoded tensor, reading its per-tensor parameters from {@code in}. */
  public TensorCodec codec(RangeReader in) throws IOException {
    if (spec.blockScaled()) {
      return blockCodec(in);
    }
    if (spec.sharedCodebook()) {
      return KMeansCodec.shared(sharedCodebook, scale, numel());
    }
    UnitLayout layout = layout();
    int units = Math.toIntExact(layout.numUnits());
    if (spec.method() == Method.KMEANS) {
      int k = spec.k();
      float[] flat = readFloats(in, codebook, spec.codebookPrecision(), (long) units * k);
      float[][] books = new float[units][k];
      for (int u = 0; u < units; u++) {
        System.arraycopy(flat, u * k, books[u], 0, k);
      }
      return KMeansCodec.perUnit(layout, books, spec.bits());
    }
    float[] s = readFloats(in, scales, null, units);
    byte[] z = new byte[units];
    in.readFully(zeros.offset(), z, 0, units);
    int[] zero = new int[units];
    int qmax = (1 << spec.bits()) - 1;
    for (int u = 0; u < units; u++) {
      if (!(s[u] > 0)) {
        throw bad("uniform scale " + u + " is " + s[u] + "; scales must be positive and finite");
      }
      zero[u] = z[u] & 0xFF;
      if (zero[u] > qmax) {
        throw bad("uniform zero point " + u + " is " + zero[u] + ", beyond " + qmax + " for "
            + spec.bits() + " bits");
      }
    }
    return new UniformCodec(layout, spec.bits(), s, zero);
  }

  private TensorCodec blockCodec(RangeReader in) throws IOException {
    UnitLayout layout = layout();
    int blocks = Math.toIntExact(layout.numUnits());
    ScalePrecision p = spec.scalePrecision();
    float[] s;
    if (p.ladder()) {
      float[] magnitudes = readFloats(in, ladder, null, p.ladderSize());
      for (int i = 0; i < magnitudes.length; i++) {
        if (magnitudes[i] < 0 || (i > 0 && magnitudes[i] < magnitudes[i - 1])) {
          throw bad("ladder entry " + i + " is " + magnitudes[i]
              + "; a ladder's magnitudes are non-negative and ascending");
        }
      }
      byte[] packed = new byte[Math.toIntExact(scales.byteLength())];
      in.readFully(scales.offset(), packed, 0, packed.length);
      byte[] codes = new byte[blocks];
      BitPacking.unpack(packed, 0, blocks, p.bits(), codes, 0);
      s = new float[blocks];
      for (int b = 0; b < blocks; b++) {
        s[b] = BlockScales.ladderScale(codes[b] & 0xFF, magnitudes, p.bits());
      }
    } else {
      s = readFloats(in, scales, null, blocks);
    }
    return KMeansCodec.blocks(layout, sharedCodebook, s);
  }

  /** {@code count} finite values of a float (or, for a step precision, I16) aux tensor. */
  private float[] readFloats(RangeReader in, Aux aux, CodebookPrecision step, long count)
      throws IOException {
    int size = aux.dtype().byteSize();
    byte[] raw = new byte[Math.toIntExact(count * size)];
    in.readFully(aux.offset(), raw, 0, raw.length);
    float[] out = new float[(int) count];
    for (int i = 0; i < out.length; i++) {
      out[i] = Centroids.get(raw, i, aux.dtype(), step);
      if (!Float.isFinite(out[i])) {
        throw bad("'" + aux.key() + "' entry " + i + " is not finite");
      }
    }
    return out;
  }

  private CheckpointFormatException bad(String detail) {
    return new CheckpointFormatException(Reason.INVALID_COMPRESSED, dataFile, name, detail);
  }
}
