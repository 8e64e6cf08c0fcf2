package io.sparticle.quant;

import java.io.Serializable;
import java.util.Locale;
import java.util.Objects;

/**
 * How the tensors of one group are encoded: the method and every parameter of it. The planner
 * makes one per group and the manifest carries it unchanged, so what a decoder reads is what the
 * encoder did.
 *
 * <ul>
 *   <li>{@code kmeans}: codes index a codebook of 2^bits particles (centroids). Scope
 *       {@code group}: one codebook fitted with MLlib for all tensors of the group, optionally on
 *       RMS-normalized values ({@code perTensorScale}). Scope {@code channel}: one codebook per
 *       output channel of each tensor, fitted exactly (weighted Lloyd on the channel's distinct
 *       values) on the executors. Scope {@code block}: one MLlib-fitted codebook for the group, on
 *       block-normalized weights, and a signed scale per block of {@code blockSize} consecutive
 *       weights chosen on the executors to minimize the block's error ({@link BlockScales}); the
 *       scales stored as F16, F32 or codes into a per-tensor ladder ({@link ScalePrecision}).
 *   <li>{@code uniform}: asymmetric integer quantization, {@code w = scale * (q - zero)} with
 *       q in [0, 2^bits - 1] and an integer zero point, per {@code tensor}, {@code channel} or
 *       {@code block} of {@code blockSize} consecutive weights; scales stored in
 *       {@code scalePrecision} (F16 or F32).
 * </ul>
 *
 * <p>{@code outliers}: the fraction of each tensor's largest-magnitude weights stored exactly,
 * sparse, beside the codes (SqueezeLLM's dense-and-sparse); the rest are fitted and encoded
 * without them. 0 (the default) keeps none.
 *
 * <pre>{@code
 * EncodingSpec s = EncodingSpec.kmeans(4, Scope.CHANNEL, CodebookPrecision.F16);
 * EncodingSpec u = EncodingSpec.uniform(8, Scope.BLOCK, 64, ScalePrecision.F16);
 * }</pre>
 */
public record EncodingSpec(
    Method method,
    int bits,
    Scope scope,
    int blockSize,
    CodebookPrecision codebookPrecision,
    ScalePrecision scalePrecision,
    boolean perTensorScale,
    double outliers)
    implements Serializable {

  public static final int DEFAULT_BLOCK_SIZE = 64;
  /** Block size of kmeans with scope block when none is given: llama.cpp's 32. */
  public static final int DEFAULT_KMEANS_BLOCK_SIZE = 32;
  /** The largest outlier fraction accepted: beyond it, sparse storage costs more than it saves. */
  public static final double MAX_OUTLIERS = 0.1;

  /** A spec without outliers. */
  public EncodingSpec(Method method, int bits, Scope scope, int blockSize,
      CodebookPrecision codebookPrecision, ScalePrecision scalePrecision, boolean perTensorScale) {
    this(method, bits, scope, blockSize, codebookPrecision, scalePrecision, perTensorScale, 0);
  }

  /** This spec at another code width. */
  public EncodingSpec withBits(int b) {
    return new EncodingSpec(method, b, scope, blockSize, codebookPrecision, scalePrecision,
        perTensorScale, outliers);
  }

  /** This spec with {@code fraction} of each tensor's largest-magnitude weights kept exact. */
  public EncodingSpec withOutliers(double fraction) {
    return new EncodingSpec(method, bits, scope, blockSize, codebookPrecision, scalePrecision,
        perTensorScale, fraction);
  }

  /** A particleization method; its spelling in configs and manifests is {@link #key()}. */
  public enum Method {
    KMEANS,
    UNIFORM;

    public String key() {
      return name().toLowerCase(Locale.ROOT);
    }

    public static Method parse(String s) {
      for (Method m : values()) {
        if (m.key().equalsIgnoreCase(s.trim())) {
          return m;
        }
      }
      throw new IllegalArgumentException("Cannot set method to " + s + ": must be one of kmeans, uniform");
    }
  }

  /** Which weights share parameters. */
  public enum Scope {
    /** All tensors of a group share one codebook (kmeans only). */
    GROUP,
    /** One set of parameters per tensor (uniform). */
    TENSOR,
    /** One per output channel: a row of a [out, in] safetensors Linear weight, a column of an ONNX [in, out] MatMul initializer. */
    CHANNEL,
    /** One per block of blockSize consecutive weights in row-major order (uniform). */
    BLOCK;

    public String key() {
      return name().toLowerCase(Locale.ROOT);
    }

    public static Scope parse(String s) {
      for (Scope v : values()) {
        if (v.key().equalsIgnoreCase(s.trim())) {
          return v;
        }
      }
      throw new IllegalArgumentException(
          "Cannot set scope to " + s + ": must be one of group, tensor, channel, block");
    }
  }

  /**
   * Storage of scales. F16 and F32: each unit's scale as a float. {@code Q3}..{@code Q8} (kmeans
   * with scope block only): each block's scale is an n-bit code, a sign bit above an index into a
   * per-tensor ladder of 2^(n-1) F32 magnitudes, themselves fitted by 1-D k-means on the
   * logarithms of the blocks' best scales ("particles for the scales").
   */
  public enum ScalePrecision {
    F16,
    F32,
    Q3,
    Q4,
    Q5,
    Q6,
    Q7,
    Q8;

    /** Bytes of one F16 or F32 scale. */
    public int byteSize() {
      if (ladder()) {
        throw new IllegalStateException(this + " scales are bit-packed codes");
      }
      return this == F32 ? 4 : 2;
    }

    /** Whether scales are codes into a per-tensor ladder. */
    public boolean ladder() {
      return this != F16 && this != F32;
    }

    /** Bits per stored scale: 16, 32, or the code width of a ladder. */
    public int bits() {
      return switch (this) {
        case F16 -> 16;
        case F32 -> 32;
        case Q3 -> 3;
        case Q4 -> 4;
        case Q5 -> 5;
        case Q6 -> 6;
        case Q7 -> 7;
        case Q8 -> 8;
      };
    }

    /** Entries of the ladder: 2^(bits - 1) magnitudes (the top code bit is the sign). */
    public int ladderSize() {
      return 1 << (bits() - 1);
    }

    /** Rounds to this precision, nearest, ties to even; overflow gives infinity. */
    public float round(float x) {
      return this == F32 ? x : HalfFloats.f16ToFloat(HalfFloats.floatToF16(x));
    }

    public static ScalePrecision parse(String s) {
      try {
        return valueOf(s.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "Cannot set scale-precision to " + s + ": must be one of F16, F32, Q3 to Q8");
      }
    }
  }

  public EncodingSpec {
    Objects.requireNonNull(method, "method");
    Objects.requireNonNull(scope, "scope");
    Objects.requireNonNull(codebookPrecision, "codebookPrecision");
    Objects.requireNonNull(scalePrecision, "scalePrecision");
    if (method == Method.KMEANS) {
      if (bits < 1 || bits > 8) {
        throw new IllegalArgumentException("Cannot set bits to " + bits + ": kmeans takes 1 to 8");
      }
      if (scope == Scope.TENSOR) {
        throw new IllegalArgumentException("Cannot use scope " + scope.key()
            + " with method kmeans: it takes group, channel or block");
      }
      if (scalePrecision.ladder() && scope != Scope.BLOCK) {
        throw new IllegalArgumentException("scale-precision " + scalePrecision
            + " (a ladder of block scales) applies to scope block only");
      }
      if (perTensorScale && scope != Scope.GROUP) {
        throw new IllegalArgumentException("per-tensor-scale applies to kmeans with scope group only");
      }
    } else {
      if (bits < 2 || bits > 8) {
        throw new IllegalArgumentException("Cannot set bits to " + bits + ": uniform takes 2 to 8");
      }
      if (scope == Scope.GROUP) {
        throw new IllegalArgumentException(
            "Cannot use scope group with method uniform: it takes tensor, channel or block");
      }
      if (perTensorScale) {
        throw new IllegalArgumentException("per-tensor-scale applies to kmeans with scope group only");
      }
      if (scalePrecision.ladder()) {
        throw new IllegalArgumentException("scale-precision " + scalePrecision
            + " applies to kmeans with scope block; uniform takes F16 or F32");
      }
    }
    if (!(outliers >= 0 && outliers <= MAX_OUTLIERS)) {
      throw new IllegalArgumentException(
          "Cannot set outliers to " + outliers + ": must be a fraction between 0 and " + MAX_OUTLIERS);
    }
    if (scope == Scope.BLOCK) {
      if (blockSize < 8 || blockSize > (1 << 20) || blockSize % 8 != 0) {
        throw new IllegalArgumentException(
            "Cannot set block-size to " + blockSize + ": must be a multiple of 8 between 8 and 1048576");
      }
    } else {
      blockSize = 0;
    }
  }

  /** Today's default: one MLlib-fitted codebook per group. */
  public static EncodingSpec kmeansGroup(int bits, CodebookPrecision precision, boolean perTensorScale) {
    return new EncodingSpec(Method.KMEANS, bits, Scope.GROUP, 0, precision, ScalePrecision.F16,
        perTensorScale);
  }

  /** Codes per weight: 2^bits. */
  public int k() {
    return 1 << bits;
  }

  /**
   * Whether all tensors of the group share one codebook, fitted on the driver with MLlib and
   * stored in {@code codebooks.safetensors}: kmeans with scope group, or block (whose blocks
   * each scale it).
   */
  public boolean sharedCodebook() {
    return method == Method.KMEANS && (scope == Scope.GROUP || scope == Scope.BLOCK);
  }

  /** kmeans with scope block: the group's codebook, scaled per block. */
  public boolean blockScaled() {
    return method == Method.KMEANS && scope == Scope.BLOCK;
  }

  /** kmeans with scope channel: a codebook per output channel, stored beside the codes. */
  public boolean perChannelCodebooks() {
    return method == Method.KMEANS && scope == Scope.CHANNEL;
  }

  /** The short form shown by inspect and the report, e.g. {@code kmeans/channel 4b F16}. */
  public String describe() {
    StringBuilder s = new StringBuilder(method.key()).append('/').append(scope.key());
    if (scope == Scope.BLOCK) {
      s.append(blockSize);
    }
    s.append(' ').append(bits).append('b');
    if (method == Method.KMEANS) {
      s.append(' ').append(codebookPrecision.name());
      if (perTensorScale) {
        s.append(" scaled");
      }
      if (scope == Scope.BLOCK) {
        s.append(" scale ").append(scalePrecision.name());
      }
    } else {
      s.append(" scale ").append(scalePrecision.name());
    }
    if (outliers > 0) {
      s.append(" outliers ").append(outliers);
    }
    return s.toString();
  }
}
