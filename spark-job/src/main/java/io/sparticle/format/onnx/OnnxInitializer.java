package io.sparticle.format.onnx;

import io.sparticle.format.DType;
import java.util.Arrays;
import java.util.Objects;
import java.util.Optional;

/**
 * One initializer of an ONNX graph (a TensorProto in {@code GraphProto.initializer}): its name,
 * ONNX data type code, dims, element count, and where its data lies.
 *
 * <p>Instances are consistent: dims are non-negative, {@code numel} is their product, and for the
 * float types (FLOAT, FLOAT16, BFLOAT16) stored as element bytes the payload is exactly
 * {@code numel * byteSize} bytes.
 *
 * <pre>{@code
 * for (OnnxInitializer init : model.initializers()) {
 *   if (init.isCompressible()) {
 *     DType dtype = init.dtype().orElseThrow();  // F32, F16 or BF16
 *     Payload p = init.payload();                 // a byte range of p.file()
 *   }
 * }
 * }</pre>
 */
public record OnnxInitializer(String name, int dataType, long[] dims, long numel, Payload payload) {
  /** {@code TensorProto.DataType} codes this package maps to a {@link DType}. */
  public static final int FLOAT = 1;
  public static final int FLOAT16 = 10;
  public static final int BFLOAT16 = 16;

  // TensorProto.DataType names, by code, for messages.
  private static final String[] TYPE_NAMES = {
    "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING", "BOOL",
    "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16", "FLOAT8E4M3FN",
    "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4", "INT4", "FLOAT4E2M1", "FLOAT8E8M0"
  };

  /**
   * @throws IllegalArgumentException if a dim is negative, {@code numel} is not their product (or
   *     it overflows), or a float payload of element bytes has the wrong length
   */
  public OnnxInitializer {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(payload, "payload");
    dims = Objects.requireNonNull(dims, "dims").clone();
    long product = 1;
    for (long d : dims) {
      if (d < 0) {
        throw new IllegalArgumentException(
            "Cannot create initializer '" + name + "': negative dimension in " + Arrays.toString(dims));
      }
      try {
        product = Math.multiplyExact(product, d);
      } catch (ArithmeticException e) {
        throw new IllegalArgumentException(
            "Cannot create initializer '" + name + "': dims " + Arrays.toString(dims) + " overflow a long", e);
      }
    }
    if (numel != product) {
      throw new IllegalArgumentException(
          "Cannot create initializer '" + name + "': numel " + numel + " but dims " + Arrays.toString(dims));
    }
    Optional<DType> dtype = toDType(dataType);
    // numel * byteSize cannot overflow once the payload length (a long) equals it; divide to check.
    if (dtype.isPresent() && payload.isElementBytes()
        && (payload.length() % dtype.get().byteSize() != 0
            || payload.length() / dtype.get().byteSize() != numel)) {
      throw new IllegalArgumentException(
          "Cannot create initializer '" + name + "': payload of " + payload.length() + " bytes for "
              + Arrays.toString(dims) + " of " + typeName(dataType));
    }
    if (payload.kind() == Payload.Kind.NONE && numel != 0) {
      throw new IllegalArgumentException(
          "Cannot create initializer '" + name + "': no data for " + numel + " elements");
    }
  }

  /** The safetensors dtype of an ONNX data type code: F32, F16 or BF16, else empty. */
  public static Optional<DType> toDType(int onnxDataType) {
    return switch (onnxDataType) {
      case FLOAT -> Optional.of(DType.F32);
      case FLOAT16 -> Optional.of(DType.F16);
      case BFLOAT16 -> Optional.of(DType.BF16);
      default -> Optional.empty();
    };
  }

  /** The ONNX name of a data type code, e.g. {@code "FLOAT"}, or {@code "<code>"} if unknown. */
  public static String typeName(int onnxDataType) {
    return onnxDataType >= 0 && onnxDataType < TYPE_NAMES.length
        ? TYPE_NAMES[onnxDataType]
        : "data type " + onnxDataType;
  }

  /** The safetensors dtype of this initializer's ONNX type (F32, F16, BF16), else empty. */
  public Optional<DType> dtype() {
    return toDType(dataType);
  }

  /**
   * Whether the job can compress this initializer: a FLOAT, FLOAT16 or BFLOAT16 tensor whose
   * payload is its little-endian elements ({@code raw_data}, packed {@code float_data} or external
   * data). Others are kept dense.
   */
  public boolean isCompressible() {
    return dtype().isPresent() && payload.isElementBytes();
  }

  /** A copy of the dims. */
  @Override
  public long[] dims() {
    return dims.clone();
  }

  public int rank() {
    return dims.length;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof OnnxInitializer i
        && name.equals(i.name)
        && dataType == i.dataType
        && Arrays.equals(dims, i.dims)
        && numel == i.numel
        && payload.equals(i.payload);
  }

  @Override
  public int hashCode() {
    return Objects.hash(name, dataType, Arrays.hashCode(dims), numel, payload);
  }

  @Override
  public String toString() {
    return "OnnxInitializer[name=" + name + ", dataType=" + typeName(dataType) + ", dims="
        + Arrays.toString(dims) + ", numel=" + numel + ", payload=" + payload + "]";
  }
}
