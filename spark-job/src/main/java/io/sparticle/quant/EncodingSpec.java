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
 *       values) on the executors.
 *   <li>{@code uniform}: asymmetric integer quantization, {@code w = scale * (q - zero)} with
 *       q in [0, 2^bits - 1] and an integer zero point, per {@code tensor}, {@code channel} or
 *       {@code block} of {@code blockSize} consecutive weights; scales stored in
 *       {@code scalePrecision} (F16 or F32).
 * </ul>
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
    boolean perTensorScale)
    implements Serializable {

  public static final int DEFAULT_BLOCK_SIZE = 64;

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

  /** Storage of uniform scales. */
  public enum ScalePrecision {
    F16,
    F32;

    public int byteSize() {
      return this == F32 ? 4 : 2;
    }

    /** Rounds to this precision, nearest, ties to even; overflow gives infinity. */
    public float round(float x) {
      return this == F32 ? x : HalfFloats.f16ToFloat(HalfFloats.floatToF16(x));
    }

    public static ScalePrecision parse(String s) {
      try {
        return valueOf(s.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("Cannot set scale-precision to " + s + ": must be one of F16, F32");
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
      if (scope != Scope.GROUP && scope != Scope.CHANNEL) {
        throw new IllegalArgumentException("Cannot use scope " + scope.key()
            + " with method kmeans: it takes group or channel");
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

  /** Whether all tensors of the group share one codebook, fitted on the driver with MLlib. */
  public boolean sharedCodebook() {
    return method == Method.KMEANS && scope == Scope.GROUP;
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
    } else {
      s.append(" scale ").append(scalePrecision.name());
    }
    return s.toString();
  }
}
