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
 * <ul>
 *   <li>{@code gmm}: as kmeans with scope group (one codebook per group, the same stored form),
 *       but the codebook is the means of a Gaussian mixture fitted with MLlib's
 *       {@code GaussianMixture}, and each weight takes its most probable component's code.
 *   <li>{@code vq}: vector quantization. Weights are cut into sub-vectors of {@code dim}
 *       consecutive weights along the input dimension, and each sub-vector is coded by the index
 *       of its nearest codeword in a group codebook of {@code k = 2^(bits * dim)} codewords of
 *       dimension {@code dim}: {@code bits} per weight, {@code bits * dim} per code (at most 16).
 * </ul>
 *
 * <p>{@code outliers}: the fraction of each tensor's largest-magnitude weights stored exactly,
 * sparse, beside the codes (SqueezeLLM's dense-and-sparse); the rest are fitted and encoded
 * without them. 0 (the default) keeps none.
 *
 * <p>{@code prune}: the fraction of each tensor's smallest-magnitude weights set to exactly zero
 * with a reserved code (Deep Compression's pruning); the codebook is fitted on the survivors.
 * {@code entropy}: the codes entropy-coded (Huffman or rANS) in independent segments instead of
 * bit-packed.
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
    double outliers,
    int dim,
    double prune,
    Entropy entropy)
    implements Serializable {

  public static final int DEFAULT_BLOCK_SIZE = 64;
  /** Block size of kmeans with scope block when none is given: llama.cpp's 32. */
  public static final int DEFAULT_KMEANS_BLOCK_SIZE = 32;
  /** The largest outlier fraction accepted: beyond it, sparse storage costs more than it saves. */
  public static final double MAX_OUTLIERS = 0.1;
  /** The largest pruned fraction accepted. */
  public static final double MAX_PRUNE = 0.99;
  /** The widest code: 16 bits (vector quantization's k = 65,536 codewords). */
  public static final int MAX_CODE_BITS = 16;
  /** Sub-vector length of vq when none is given. */
  public static final int DEFAULT_VQ_DIM = 4;

  /** A spec without outliers. */
  public EncodingSpec(Method method, int bits, Scope scope, int blockSize,
      CodebookPrecision codebookPrecision, ScalePrecision scalePrecision, boolean perTensorScale) {
    this(method, bits, scope, blockSize, codebookPrecision, scalePrecision, perTensorScale, 0);
  }

  /** A scalar spec, without pruning or entropy coding. */
  public EncodingSpec(Method method, int bits, Scope scope, int blockSize,
      CodebookPrecision codebookPrecision, ScalePrecision scalePrecision, boolean perTensorScale,
      double outliers) {
    this(method, bits, scope, blockSize, codebookPrecision, scalePrecision, perTensorScale,
        outliers, 1, 0, Entropy.NONE);
  }

  /** This spec at another code width. */
  public EncodingSpec withBits(int b) {
    return new EncodingSpec(method, b, scope, blockSize, codebookPrecision, scalePrecision,
        perTensorScale, outliers, dim, prune, entropy);
  }

  /** This spec with {@code fraction} of each tensor's largest-magnitude weights kept exact. */
  public EncodingSpec withOutliers(double fraction) {
    return new EncodingSpec(method, bits, scope, blockSize, codebookPrecision, scalePrecision,
        perTensorScale, fraction, dim, prune, entropy);
  }

  /** This spec with {@code fraction} of each tensor's smallest-magnitude weights pruned. */
  public EncodingSpec withPrune(double fraction) {
    return new EncodingSpec(method, bits, scope, blockSize, codebookPrecision, scalePrecision,
        perTensorScale, outliers, dim, fraction, entropy);
  }

  /** This spec with its codes entropy-coded by {@code e}. */
  public EncodingSpec withEntropy(Entropy e) {
    return new EncodingSpec(method, bits, scope, blockSize, codebookPrecision, scalePrecision,
        perTensorScale, outliers, dim, prune, e);
  }

  /** How codes are stored: bit-packed ({@code lsb}), or entropy-coded in segments. */
  public enum Entropy {
    NONE,
    HUFFMAN,
    RANS;

    public String key() {
      return name().toLowerCase(Locale.ROOT);
    }

    /** The tensor's {@code packing} in the manifest. */
    public String packing() {
      return this == NONE ? "lsb" : key();
    }

    public static Entropy parse(String s) {
      for (Entropy e : values()) {
        if (e.key().equalsIgnoreCase(s.trim())) {
          return e;
        }
      }
      throw new IllegalArgumentException(
          "Cannot set entropy to " + s + ": must be one of none, huffman, rans");
    }
  }

  /** A particleization method; its spelling in configs and manifests is {@link #key()}. */
  public enum Method {
    KMEANS,
    UNIFORM,
    GMM,
    VQ;

    public String key() {
      return name().toLowerCase(Locale.ROOT);
    }

    public static Method parse(String s) {
      for (Method m : values()) {
        if (m.key().equalsIgnoreCase(s.trim())) {
          return m;
        }
      }
      throw new IllegalArgumentException("Cannot set method to " + s + ": must be one of kmeans, uniform, gmm, vq");
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
    Objects.requireNonNull(entropy, "entropy");
    if (method == Method.VQ) {
      if (dim != 2 && dim != 4 && dim != 8) {
        throw new IllegalArgumentException("Cannot set vq-dim to " + dim + ": must be 2, 4 or 8");
      }
      if (bits < 1 || bits * dim > MAX_CODE_BITS) {
        throw new IllegalArgumentException("Cannot set bits to " + bits + " with vq-dim " + dim
            + ": vq takes 1 to " + (MAX_CODE_BITS / dim) + " bits per weight, so that a code of bits"
            + " x vq-dim is at most " + MAX_CODE_BITS + " bits (65,536 codewords)");
      }
    } else if (dim != 1) {
      throw new IllegalArgumentException("vq-dim applies to method vq only");
    }
    if (method == Method.VQ || method == Method.GMM) {
      if (method == Method.GMM && (bits < 1 || bits > 8)) {
        throw new IllegalArgumentException("Cannot set bits to " + bits + ": gmm takes 1 to 8");
      }
      if (scope != Scope.GROUP) {
        throw new IllegalArgumentException("Cannot use scope " + scope.key() + " with method "
            + method.key() + ": it takes group only");
      }
      if (scalePrecision.ladder()) {
        throw new IllegalArgumentException("scale-precision " + scalePrecision
            + " (a ladder of block scales) applies to kmeans with scope block only");
      }
    } else if (method == Method.KMEANS) {
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
    if (!(prune >= 0 && prune <= MAX_PRUNE)) {
      throw new IllegalArgumentException(
          "Cannot set prune to " + prune + ": must be a fraction between 0 and " + MAX_PRUNE);
    }
    if (prune > 0 && method == Method.VQ) {
      throw new IllegalArgumentException("Cannot prune with method vq: a pruned weight has no "
          + "reserved code inside a sub-vector's code; prune applies to kmeans, gmm and uniform");
    }
    if (prune > 0 && method == Method.KMEANS && scope == Scope.BLOCK) {
      throw new IllegalArgumentException("Cannot prune with kmeans scope block: block scales "
          + "are searched over every weight of a block; prune applies to kmeans scope group or "
          + "channel, gmm and uniform");
    }
    if (prune > 0 && (method == Method.KMEANS || method == Method.GMM) && bits < 2) {
      throw new IllegalArgumentException("Cannot prune at 1 bit: the reserved zero code would "
          + "leave no code for the surviving weights");
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

  /** Codes: 2^(bits x dim). */
  public int k() {
    return 1 << codeBits();
  }

  /** Bits of one code: {@code bits} for scalar methods, {@code bits * dim} for vq. */
  public int codeBits() {
    return bits * dim;
  }

  /**
   * Codes per entropy-coded segment: 2^20, or 64 per symbol for wide codes, so that a segment's
   * frequency table stays a small part of it.
   */
  public int segmentCodes() {
    return io.sparticle.packing.EntropyCoder.segmentCodes(codeBits());
  }

  /** Whether a code stands for a sub-vector of {@code dim} weights (vq). */
  public boolean vector() {
    return method == Method.VQ;
  }

  /**
   * Whether all tensors of the group share one codebook, fitted on the driver with MLlib and
   * stored in {@code codebooks.safetensors}: kmeans with scope group, or block (whose blocks
   * each scale it).
   */
  public boolean sharedCodebook() {
    return (method == Method.KMEANS && (scope == Scope.GROUP || scope == Scope.BLOCK))
        || method == Method.GMM || method == Method.VQ;
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
    if (method == Method.VQ) {
      s.append(" d").append(dim).append(" k").append(k());
    }
    if (method != Method.UNIFORM) {
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
    if (prune > 0) {
      s.append(" prune ").append(prune);
    }
    if (entropy != Entropy.NONE) {
      s.append(' ').append(entropy.key());
    }
    return s.toString();
  }
}
