package io.sparticle.format.onnx;

import static io.sparticle.format.onnx.OnnxModelReaderTest.f32;
import static io.sparticle.format.onnx.OnnxModelReaderTest.tensor;
import static io.sparticle.format.onnx.ProtoBuilder.proto;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.format.CheckpointFormatException;
import io.sparticle.format.onnx.ProtoReaderTest.ArrayRangeReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class CompressedOnnxWriterTest {
  private static final String FILE = "m.onnx";
  private static final int FLOAT = OnnxInitializer.FLOAT;

  /**
   * MatMul(x, w) with "w" [2, 3] in raw_data, listed as a graph input too (as IR version 3
   * models do), "b" [3] in float_data, "ids" INT64, and two opset imports after the graph.
   */
  static byte[] model(String extraInitializer) {
    ProtoBuilder graph = proto()
        .message(1, proto().string(1, "x").string(1, "w").string(2, "y").string(4, "MatMul"))
        .string(2, "main")
        .message(5, tensor("w", FLOAT, 2, 3).bytes(9, f32(1, 2, 3, 4, 5, 6)))
        .message(5, tensor("b", FLOAT, 3).bytes(4, f32(0.5f, 0.25f, 0.125f)))
        .message(5, tensor("ids", 7, 1).bytes(9, new byte[] {1, 0, 0, 0, 0, 0, 0, 0}));
    if (extraInitializer != null) {
      graph.message(5, tensor(extraInitializer, FLOAT, 1).bytes(9, f32(9)));
    }
    graph.message(11, proto().string(1, "x")).message(11, proto().string(1, "w"));
    return proto()
        .varint(1, 3)
        .message(7, graph)
        .message(8, proto().string(1, "").varint(2, 13))
        .message(8, proto().string(1, "com.microsoft").varint(2, 1))
        .build();
  }

  private static List<CompressedOnnxWriter.Hole> holes(byte[] bytes) throws IOException {
    OnnxModel m = OnnxModelReader.read(new ProtoReaderTestFile(bytes));
    List<CompressedOnnxWriter.Hole> holes = new ArrayList<>();
    for (OnnxInitializer i : m.compressible()) {
      holes.add(new CompressedOnnxWriter.Hole(i.name(), i.payload().offset(), i.payload().length()));
    }
    holes.sort((a, b) -> Long.compare(a.offset(), b.offset()));
    return holes;
  }

  private static byte[] skeleton(byte[] original, List<CompressedOnnxWriter.Hole> holes) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int pos = 0;
    for (CompressedOnnxWriter.Hole h : holes) {
      out.write(original, pos, (int) h.offset() - pos);
      pos = (int) (h.offset() + h.length());
    }
    out.write(original, pos, original.length - pos);
    return out.toByteArray();
  }

  private static PayloadWriter originals(byte[] original, List<CompressedOnnxWriter.Hole> holes) {
    Map<String, byte[]> m = new LinkedHashMap<>();
    for (CompressedOnnxWriter.Hole h : holes) {
      m.put(h.name(), Arrays.copyOfRange(original, (int) h.offset(), (int) (h.offset() + h.length())));
    }
    return PayloadWriter.of(m);
  }

  private static byte[] write(byte[] original, Map<String, WeightGraph> graphs,
      List<WeightGraph.Initializer> shared) throws IOException {
    List<CompressedOnnxWriter.Hole> holes = holes(original);
    CompressedOnnxWriter.SkeletonView view = new CompressedOnnxWriter.SkeletonView(
        new ArrayRangeReader(skeleton(original, holes)), holes);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    long n = CompressedOnnxWriter.write(FILE, view, original.length, holes, graphs, shared,
        originals(original, holes), out);
    assertEquals(out.size(), n);
    return out.toByteArray();
  }

  @Test
  void skeletonViewReadsTheOriginalWithTheHolesZeroed() throws IOException {
    byte[] original = model(null);
    List<CompressedOnnxWriter.Hole> holes = holes(original);
    assertEquals(2, holes.size());
    byte[] expected = original.clone();
    for (CompressedOnnxWriter.Hole h : holes) {
      Arrays.fill(expected, (int) h.offset(), (int) (h.offset() + h.length()), (byte) 0);
    }
    CompressedOnnxWriter.SkeletonView view = new CompressedOnnxWriter.SkeletonView(
        new ArrayRangeReader(skeleton(original, holes)), holes);
    Random r = new Random(5);
    for (int i = 0; i < 500; i++) {
      int from = r.nextInt(original.length);
      int len = r.nextInt(original.length - from + 1);
      byte[] got = new byte[len + 3];
      view.readFully(from, got, 3, len);
      assertArrayEquals(Arrays.copyOfRange(expected, from, from + len), Arrays.copyOfRange(got, 3, len + 3),
          "[" + from + ", +" + len + ")");
    }
    assertThrows(java.io.EOFException.class, () -> view.readFully(original.length - 2, new byte[4], 0, 4));
  }

  @Test
  void opsetIsTheDefaultDomainsVersion() throws IOException {
    assertEquals(13, CompressedOnnxWriter.opset(OnnxModelReader.read(new ProtoReaderTestFile(model(null)))));
    byte[] named = proto().message(7, proto().string(2, "g"))
        .message(8, proto().string(1, "ai.onnx").varint(2, 11)).build();
    assertEquals(11, CompressedOnnxWriter.opset(OnnxModelReader.read(new ProtoReaderTestFile(named))));
    byte[] none = proto().message(7, proto().string(2, "g")).build();
    assertEquals(0, CompressedOnnxWriter.opset(OnnxModelReader.read(new ProtoReaderTestFile(none))));
  }

  @Test
  void withNoGraphsTheOriginalComesBackByteForByte() throws IOException {
    byte[] original = model(null);
    assertArrayEquals(original, write(original, Map.of(), List.of()));
  }

  @Test
  void aGraphReplacesTheInitializerAndItsGraphInput() throws IOException {
    byte[] original = model(null);
    String v = "w" + WeightGraph.MARK + "values";
    byte[] values = f32(-1, -2, -3, -4, -5, -6);
    WeightGraph g = new WeightGraph("w",
        List.of(ProtoWriter.node("Reshape", "w" + WeightGraph.MARK + "shape",
            List.of(v, "sparticle::shape/2x3"), List.of("w"))),
        List.of(new WeightGraph.Initializer(v, FLOAT, new long[] {6}, 24, PayloadWriter.of(Map.of(v, values)))));
    byte[] shape = new byte[16];
    shape[0] = 2;
    shape[8] = 3;
    WeightGraph.Initializer s = new WeightGraph.Initializer("sparticle::shape/2x3", ProtoWriter.INT64,
        new long[] {2}, 16, PayloadWriter.of(Map.of("sparticle::shape/2x3", shape)));
    byte[] out = write(original, Map.of("w", g), List.of(s));

    OnnxModel m = OnnxModelReader.read(new ProtoReaderTestFile(out));
    assertEquals(List.of("b", "ids", v, "sparticle::shape/2x3"),
        m.initializers().stream().map(OnnxInitializer::name).toList());
    OnnxInitializer read = m.initializer(v);
    assertArrayEquals(values, Arrays.copyOfRange(out, (int) read.payload().offset(), (int) read.payload().end()));
    assertArrayEquals(new long[] {2}, m.initializer("sparticle::shape/2x3").dims());
    assertEquals(ProtoWriter.INT64, m.initializer("sparticle::shape/2x3").dataType());
    // The new node first, then the model's own; the graph input "w" is gone, "x" stays.
    List<OnnxGraph.Node> nodes = OnnxGraph.read(out, FILE).nodes();
    assertEquals(List.of("Reshape", "MatMul"), nodes.stream().map(OnnxGraph.Node::opType).toList());
    assertEquals(List.of(v, "sparticle::shape/2x3"), nodes.get(0).inputs());
    assertEquals(List.of("w"), nodes.get(0).outputs());
    assertEquals(List.of("x"), graphInputs(out));
    // Everything after the graph (the opset imports) is the original's.
    int tail = original.length - tailStart(original);
    assertArrayEquals(Arrays.copyOfRange(original, original.length - tail, original.length),
        Arrays.copyOfRange(out, out.length - tail, out.length));
    assertEquals(13, CompressedOnnxWriter.opset(OnnxModelReader.read(new ProtoReaderTestFile(out))));
  }

  @Test
  void refusesUnknownTensorsNamesOfItsOwnAndAModelWithoutAGraph() throws IOException {
    WeightGraph g = new WeightGraph("nope", List.of(), List.of());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> write(model(null), Map.of("nope", g), List.of()));
    assertEquals("Cannot compute 'nope' in the graph of m.onnx: it is no initializer there", e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> write(model("sparticle::shape/2"), Map.of(), List.of()));
    assertEquals("Cannot compute weights in the graph of m.onnx: it already has a value named "
        + "'sparticle::shape/2'", e.getMessage());
    byte[] noGraph = proto().varint(1, 7).build();
    CheckpointFormatException f = assertThrows(CheckpointFormatException.class,
        () -> CompressedOnnxWriter.write(FILE, new ArrayRangeReader(noGraph), noGraph.length, List.of(),
            Map.of(), List.of(), (n, l, o) -> {}, new ByteArrayOutputStream()));
    assertTrue(f.getMessage().contains("ModelProto has no graph (field 7)"), f.getMessage());
  }

  @Test
  void protoWriterNodesReadBackAsWritten() throws IOException {
    byte[] node = ProtoWriter.node("Gather", "g", List.of("t", "c"), List.of("o"),
        ProtoWriter.intAttribute("axis", 0), ProtoWriter.intsAttribute("perm", 0, 2, 1));
    OnnxGraph.Node n = OnnxGraph.node(ProtoReader.over(FILE, node));
    assertEquals("Gather", n.opType());
    assertEquals(List.of("t", "c"), n.inputs());
    assertEquals(List.of("o"), n.outputs());
    assertEquals(ProtoWriter.varintSize(127) + 1, ProtoWriter.varintSize(128));
  }

  /** The names of the graph's inputs (field 11). */
  private static List<String> graphInputs(byte[] model) throws IOException {
    List<String> names = new ArrayList<>();
    ProtoReader m = ProtoReader.over(FILE, model);
    while (m.next()) {
      if (m.fieldNumber() != 7) {
        m.skip();
        continue;
      }
      ProtoReader g = m.message();
      while (g.next()) {
        if (g.fieldNumber() != 11) {
          g.skip();
          continue;
        }
        ProtoReader v = g.message();
        while (v.next()) {
          if (v.fieldNumber() == 1) {
            names.add(v.readString(1000));
          } else {
            v.skip();
          }
        }
      }
    }
    return names;
  }

  /** Offset just past the graph field. */
  private static int tailStart(byte[] model) throws IOException {
    ProtoReader m = ProtoReader.over(FILE, model);
    while (m.next()) {
      if (m.fieldNumber() == 7) {
        return (int) m.readLengthDelimited().end();
      }
      m.skip();
    }
    throw new AssertionError("no graph");
  }

  /** An in-memory model file for OnnxModelReader. */
  private record ProtoReaderTestFile(byte[] bytes) implements io.sparticle.io.InputFile {
    @Override
    public String path() {
      return FILE;
    }

    @Override
    public long length() {
      return bytes.length;
    }

    @Override
    public io.sparticle.io.RangeReader open() {
      return new ArrayRangeReader(bytes);
    }
  }
}
