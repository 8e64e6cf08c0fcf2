package io.sparticle.eval;

import java.util.ArrayList;
import java.util.List;

/**
 * Just enough protobuf to find the raw bytes of an ONNX model's initializers, for damaging a
 * model in tests: ModelProto field 7 (graph) -> GraphProto field 5 (initializer, repeated) ->
 * TensorProto field 9 (raw_data), with field 8 (name) and field 2 (data_type).
 */
final class OnnxInitializers {
  /** ONNX TensorProto.DataType FLOAT. */
  static final int FLOAT = 1;

  /** Where one initializer's {@code raw_data} lies in the model file. */
  record Initializer(String name, int dataType, int rawOffset, int rawLength) {}

  private static final int VARINT = 0;
  private static final int FIXED64 = 1;
  private static final int LENGTH_DELIMITED = 2;
  private static final int FIXED32 = 5;

  private OnnxInitializers() {}

  static List<Initializer> list(byte[] model) {
    List<Initializer> out = new ArrayList<>();
    Reader top = new Reader(model, 0, model.length);
    while (top.more()) {
      long key = top.varint();
      if (key == ((7 << 3) | LENGTH_DELIMITED)) {
        int len = top.length();
        Reader graph = new Reader(model, top.pos, top.pos + len);
        top.pos += len;
        while (graph.more()) {
          long gkey = graph.varint();
          if (gkey == ((5 << 3) | LENGTH_DELIMITED)) {
            int tlen = graph.length();
            out.add(tensor(model, graph.pos, graph.pos + tlen));
            graph.pos += tlen;
          } else {
            graph.skip(gkey);
          }
        }
      } else {
        top.skip(key);
      }
    }
    return out;
  }

  private static Initializer tensor(byte[] model, int start, int end) {
    Reader t = new Reader(model, start, end);
    String name = null;
    int dataType = 0;
    int rawOffset = -1;
    int rawLength = 0;
    while (t.more()) {
      long key = t.varint();
      int field = (int) (key >>> 3);
      if (field == 2 && (key & 7) == VARINT) {
        dataType = (int) t.varint();
      } else if (field == 8 && (key & 7) == LENGTH_DELIMITED) {
        int len = t.length();
        name = new String(model, t.pos, len, java.nio.charset.StandardCharsets.UTF_8);
        t.pos += len;
      } else if (field == 9 && (key & 7) == LENGTH_DELIMITED) {
        rawLength = t.length();
        rawOffset = t.pos;
        t.pos += rawLength;
      } else {
        t.skip(key);
      }
    }
    return new Initializer(name, dataType, rawOffset, rawLength);
  }

  /** A bounded cursor over protobuf wire format. */
  private static final class Reader {
    private final byte[] buf;
    private final int end;
    int pos;

    Reader(byte[] buf, int pos, int end) {
      if (end > buf.length || pos > end) {
        throw new IllegalArgumentException("bad message bounds " + pos + ".." + end);
      }
      this.buf = buf;
      this.pos = pos;
      this.end = end;
    }

    boolean more() {
      return pos < end;
    }

    long varint() {
      long value = 0;
      for (int shift = 0; shift < 64; shift += 7) {
        if (pos >= end) {
          throw new IllegalArgumentException("truncated varint at " + pos);
        }
        byte b = buf[pos++];
        value |= (long) (b & 0x7f) << shift;
        if (b >= 0) {
          return value;
        }
      }
      throw new IllegalArgumentException("varint too long at " + pos);
    }

    int length() {
      long len = varint();
      if (len < 0 || len > end - pos) {
        throw new IllegalArgumentException("length " + len + " past the message end at " + pos);
      }
      return (int) len;
    }

    void skip(long key) {
      switch ((int) (key & 7)) {
        case VARINT -> varint();
        case FIXED64 -> pos += 8;
        case LENGTH_DELIMITED -> {
          int len = length(); // not "pos += length()": that adds to pos as it was before the read
          pos += len;
        }
        case FIXED32 -> pos += 4;
        default -> throw new IllegalArgumentException("wire type " + (key & 7) + " at " + pos);
      }
      if (pos > end) {
        throw new IllegalArgumentException("field past the message end");
      }
    }
  }
}
