package io.sparticle.format.onnx;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The few protobuf messages Sparticle writes into ONNX models: {@code NodeProto}s with integer
 * attributes and the headers of {@code TensorProto}s whose elements follow as {@code raw_data}.
 * Fields are written in field-number order, as protobuf serializers do.
 *
 * <pre>{@code
 * byte[] node = ProtoWriter.node("Cast", "w::cast", List.of("w::codes"), List.of("w::x"),
 *     ProtoWriter.intAttribute("to", ProtoWriter.INT32));
 * }</pre>
 */
public final class ProtoWriter {
  // TensorProto.DataType values.
  public static final int FLOAT = 1;
  public static final int UINT8 = 2;
  public static final int UINT16 = 4;
  public static final int INT32 = 6;
  public static final int INT64 = 7;
  public static final int FLOAT16 = 10;
  public static final int BFLOAT16 = 16;

  private static final int NODE_INPUT = 1;
  private static final int NODE_OUTPUT = 2;
  private static final int NODE_NAME = 3;
  private static final int NODE_OP_TYPE = 4;
  private static final int NODE_ATTRIBUTE = 5;
  private static final int ATTRIBUTE_NAME = 1;
  private static final int ATTRIBUTE_I = 3;
  private static final int ATTRIBUTE_INTS = 8;
  private static final int ATTRIBUTE_TYPE = 20;
  private static final int ATTRIBUTE_TYPE_INT = 2;
  private static final int ATTRIBUTE_TYPE_INTS = 7;
  private static final int TENSOR_DIMS = 1;
  private static final int TENSOR_DATA_TYPE = 2;
  private static final int TENSOR_NAME = 8;
  static final int TENSOR_RAW_DATA = 9;

  private ProtoWriter() {}

  /** A NodeProto of the default (ai.onnx) domain. */
  public static byte[] node(String opType, String name, List<String> inputs, List<String> outputs,
      byte[]... attributes) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (String in : inputs) {
      string(out, NODE_INPUT, in);
    }
    for (String o : outputs) {
      string(out, NODE_OUTPUT, o);
    }
    string(out, NODE_NAME, name);
    string(out, NODE_OP_TYPE, opType);
    for (byte[] a : attributes) {
      bytes(out, NODE_ATTRIBUTE, a);
    }
    return out.toByteArray();
  }

  /** An INT AttributeProto. */
  public static byte[] intAttribute(String name, long value) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    string(out, ATTRIBUTE_NAME, name);
    tag(out, ATTRIBUTE_I, ProtoReader.VARINT);
    varint(out, value);
    tag(out, ATTRIBUTE_TYPE, ProtoReader.VARINT);
    varint(out, ATTRIBUTE_TYPE_INT);
    return out.toByteArray();
  }

  /** An INTS AttributeProto. */
  public static byte[] intsAttribute(String name, long... values) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    string(out, ATTRIBUTE_NAME, name);
    for (long v : values) {
      tag(out, ATTRIBUTE_INTS, ProtoReader.VARINT);
      varint(out, v);
    }
    tag(out, ATTRIBUTE_TYPE, ProtoReader.VARINT);
    varint(out, ATTRIBUTE_TYPE_INTS);
    return out.toByteArray();
  }

  /**
   * A TensorProto's fields before its data: dims, data_type and name; {@code raw_data} (field 9)
   * follows.
   */
  public static byte[] tensorHeader(String name, int dataType, long[] dims) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (long d : dims) {
      tag(out, TENSOR_DIMS, ProtoReader.VARINT);
      varint(out, d);
    }
    tag(out, TENSOR_DATA_TYPE, ProtoReader.VARINT);
    varint(out, dataType);
    string(out, TENSOR_NAME, name);
    return out.toByteArray();
  }

  /** The tag and length prefix of a length-delimited field of {@code length} bytes. */
  public static byte[] lengthPrefix(int field, long length) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    tag(out, field, ProtoReader.LEN);
    varint(out, length);
    return out.toByteArray();
  }

  /** A length-delimited field: tag, length and {@code value}. */
  public static byte[] field(int field, byte[] value) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    bytes(out, field, value);
    return out.toByteArray();
  }

  /** Bytes of {@code v} as a varint. */
  public static int varintSize(long v) {
    int n = 1;
    while ((v & ~0x7FL) != 0) {
      v >>>= 7;
      n++;
    }
    return n;
  }

  static void bytes(ByteArrayOutputStream out, int field, byte[] value) {
    tag(out, field, ProtoReader.LEN);
    varint(out, value.length);
    out.writeBytes(value);
  }

  static void string(ByteArrayOutputStream out, int field, String s) {
    bytes(out, field, s.getBytes(StandardCharsets.UTF_8));
  }

  static void tag(ByteArrayOutputStream out, int field, int wireType) {
    varint(out, (long) field << 3 | wireType);
  }

  static void varint(ByteArrayOutputStream out, long v) {
    while ((v & ~0x7FL) != 0) {
      out.write((int) (v & 0x7F) | 0x80);
      v >>>= 7;
    }
    out.write((int) v);
  }
}
