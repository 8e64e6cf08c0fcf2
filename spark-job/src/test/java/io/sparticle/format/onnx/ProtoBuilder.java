package io.sparticle.format.onnx;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Test-only protobuf encoder: builds messages field by field, including malformed ones. */
final class ProtoBuilder {
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();

  static ProtoBuilder proto() {
    return new ProtoBuilder();
  }

  static byte[] varintBytes(long v) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    while ((v & ~0x7FL) != 0) {
      b.write((int) ((v & 0x7F) | 0x80));
      v >>>= 7;
    }
    b.write((int) v);
    return b.toByteArray();
  }

  ProtoBuilder tag(int field, int wireType) {
    return rawVarint(((long) field << 3) | wireType);
  }

  ProtoBuilder rawVarint(long v) {
    out.writeBytes(varintBytes(v));
    return this;
  }

  ProtoBuilder raw(int... bytes) {
    for (int b : bytes) {
      out.write(b);
    }
    return this;
  }

  ProtoBuilder raw(byte[] bytes) {
    out.writeBytes(bytes);
    return this;
  }

  ProtoBuilder varint(int field, long v) {
    return tag(field, ProtoReader.VARINT).rawVarint(v);
  }

  ProtoBuilder fixed32(int field, int v) {
    tag(field, ProtoReader.FIXED32);
    for (int i = 0; i < 4; i++) {
      out.write(v >>> (8 * i));
    }
    return this;
  }

  ProtoBuilder fixed64(int field, long v) {
    tag(field, ProtoReader.FIXED64);
    for (int i = 0; i < 8; i++) {
      out.write((int) (v >>> (8 * i)));
    }
    return this;
  }

  ProtoBuilder bytes(int field, byte[] v) {
    tag(field, ProtoReader.LEN).rawVarint(v.length);
    out.writeBytes(v);
    return this;
  }

  ProtoBuilder string(int field, String s) {
    return bytes(field, s.getBytes(StandardCharsets.UTF_8));
  }

  ProtoBuilder message(int field, ProtoBuilder m) {
    return bytes(field, m.build());
  }

  ProtoBuilder packedVarints(int field, long... values) {
    ProtoBuilder p = proto();
    for (long v : values) {
      p.rawVarint(v);
    }
    return bytes(field, p.build());
  }

  int size() {
    return out.size();
  }

  byte[] build() {
    return out.toByteArray();
  }
}
