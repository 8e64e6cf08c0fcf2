package io.sparticle.spark;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/**
 * Writes a small ONNX model by hand: {@code y = MatMul(MatMul(x, w1), w2)}, x {@code [1, n]},
 * each weight {@code [n, n]} FLOAT of Gaussian values, at a chosen opset, with {@code w2}
 * optionally in an external data file {@code weights.bin}.
 */
public final class TinyOnnx {
  private TinyOnnx() {}

  public static Path write(Path dir, String file, int n, long opset, boolean external) throws Exception {
    Files.createDirectories(dir);
    Random r = new Random(7);
    byte[] w1 = weights(n, r);
    byte[] w2 = weights(n, r);
    ByteArrayOutputStream graph = new ByteArrayOutputStream();
    field(graph, 1, node("MatMul", "/layer.0/MatMul", new String[] {"x", "w1"}, "h"));
    field(graph, 1, node("MatMul", "/layer.1/MatMul", new String[] {"h", "w2"}, "y"));
    field(graph, 2, "tiny".getBytes(StandardCharsets.UTF_8));
    field(graph, 5, tensor("w1", n, w1, null));
    if (external) {
      Files.write(dir.resolve("weights.bin"), w2);
      field(graph, 5, tensor("w2", n, null, "weights.bin"));
    } else {
      field(graph, 5, tensor("w2", n, w2, null));
    }
    field(graph, 11, valueInfo("x", n));
    field(graph, 12, valueInfo("y", n));
    ByteArrayOutputStream model = new ByteArrayOutputStream();
    varint(model, 1 << 3);
    varint(model, 7); // ir_version
    field(model, 2, "sparticle-tests".getBytes(StandardCharsets.UTF_8));
    field(model, 7, graph.toByteArray());
    ByteArrayOutputStream op = new ByteArrayOutputStream();
    field(op, 1, new byte[0]);
    varint(op, 2 << 3);
    varint(op, opset);
    field(model, 8, op.toByteArray());
    Path p = dir.resolve(file);
    Files.write(p, model.toByteArray());
    return p;
  }

  private static byte[] weights(int n, Random r) {
    ByteBuffer b = ByteBuffer.allocate(4 * n * n).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < n * n; i++) {
      b.putFloat((float) (r.nextGaussian() * 0.05));
    }
    return b.array();
  }

  private static byte[] node(String op, String name, String[] inputs, String output) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    for (String in : inputs) {
      field(b, 1, in.getBytes(StandardCharsets.UTF_8));
    }
    field(b, 2, output.getBytes(StandardCharsets.UTF_8));
    field(b, 3, name.getBytes(StandardCharsets.UTF_8));
    field(b, 4, op.getBytes(StandardCharsets.UTF_8));
    return b.toByteArray();
  }

  private static byte[] tensor(String name, int n, byte[] raw, String location) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    for (int i = 0; i < 2; i++) {
      varint(b, 1 << 3);
      varint(b, n);
    }
    varint(b, 2 << 3);
    varint(b, 1); // FLOAT
    field(b, 8, name.getBytes(StandardCharsets.UTF_8));
    if (raw != null) {
      field(b, 9, raw);
    } else {
      field(b, 13, entry("location", location));
      field(b, 13, entry("offset", "0"));
      field(b, 13, entry("length", Integer.toString(4 * n * n)));
      varint(b, 14 << 3);
      varint(b, 1); // EXTERNAL
    }
    return b.toByteArray();
  }

  private static byte[] entry(String key, String value) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    field(b, 1, key.getBytes(StandardCharsets.UTF_8));
    field(b, 2, value.getBytes(StandardCharsets.UTF_8));
    return b.toByteArray();
  }

  /** A FLOAT [1, n] ValueInfoProto. */
  private static byte[] valueInfo(String name, int n) {
    ByteArrayOutputStream shape = new ByteArrayOutputStream();
    for (int d : new int[] {1, n}) {
      ByteArrayOutputStream dim = new ByteArrayOutputStream();
      varint(dim, 1 << 3);
      varint(dim, d);
      field(shape, 1, dim.toByteArray());
    }
    ByteArrayOutputStream tensorType = new ByteArrayOutputStream();
    varint(tensorType, 1 << 3);
    varint(tensorType, 1);
    field(tensorType, 2, shape.toByteArray());
    ByteArrayOutputStream type = new ByteArrayOutputStream();
    field(type, 1, tensorType.toByteArray());
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    field(b, 1, name.getBytes(StandardCharsets.UTF_8));
    field(b, 2, type.toByteArray());
    return b.toByteArray();
  }

  private static void field(ByteArrayOutputStream out, int field, byte[] value) {
    varint(out, (long) field << 3 | 2);
    varint(out, value.length);
    out.writeBytes(value);
  }

  private static void varint(ByteArrayOutputStream out, long v) {
    while ((v & ~0x7FL) != 0) {
      out.write((int) (v & 0x7F) | 0x80);
      v >>>= 7;
    }
    out.write((int) v);
  }
}
