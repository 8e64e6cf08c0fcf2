package io.sparticle.format.onnx;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The nodes of an ONNX model's main graph, as far as calibration and naming need them: which
 * activation each weight matrix multiplies, along which of the weight's axes its input channels
 * run, and which node uses each initializer.
 * Read without a protobuf library, like {@link OnnxModelReader}; subgraphs (If, Loop) are not
 * looked into.
 *
 * <p>A weight is an initializer used as input B of {@code MatMul} (rank 2, {@code [K, N]}: input
 * channels along axis 0) or of {@code Gemm} ({@code [K, N]}, or {@code [N, K]} with
 * {@code transB = 1}: axis 1), where input A is not a graph input and {@code Gemm} has no
 * {@code transA}. {@link #nodeNames} names weights after the nodes that use them.
 * {@link #withOutputs} writes a copy of the model whose graph also outputs given
 * values, so ONNX Runtime hands them back.
 *
 * <pre>{@code
 * OnnxGraph g = OnnxGraph.read(modelBytes, "model.onnx");
 * Map<String, List<OnnxGraph.WeightInput>> w = g.weightInputs(initializerRanks);
 * Map<String, String> nodes = g.nodeNames(List.of("onnx::MatMul_787"));
 * // {onnx::MatMul_787=/encoder/layer.0/attention/self/query/MatMul}
 * byte[] probe = OnnxGraph.withOutputs(modelBytes, "model.onnx", List.of("/layer.0/LayerNorm_output_0"));
 * }</pre>
 */
public final class OnnxGraph {
  private static final int MODEL_GRAPH = 7;
  private static final int GRAPH_NODE = 1;
  private static final int GRAPH_INPUT = 11;
  private static final int GRAPH_OUTPUT = 12;
  private static final int NODE_INPUT = 1;
  private static final int NODE_OUTPUT = 2;
  private static final int NODE_NAME = 3;
  private static final int NODE_OP_TYPE = 4;
  private static final int NODE_ATTRIBUTE = 5;
  private static final int NODE_DOMAIN = 7;
  private static final int ATTRIBUTE_NAME = 1;
  private static final int ATTRIBUTE_I = 3;
  private static final int VALUE_INFO_NAME = 1;

  /**
   * One node: operator, inputs and outputs by value name ("" for an omitted optional input), and
   * its name ("" if it has none).
   */
  public record Node(String opType, String domain, List<String> inputs, List<String> outputs,
      Map<String, Long> intAttributes, String name) {}

  /** A weight's multiplication: the activation it multiplies and the weight's input-channel axis. */
  public record WeightInput(String activation, int axis) {}

  private final List<Node> nodes;
  private final Set<String> graphInputs;
  private final List<String> graphOutputs;

  private OnnxGraph(List<Node> nodes, Set<String> graphInputs, List<String> graphOutputs) {
    this.nodes = List.copyOf(nodes);
    this.graphInputs = Set.copyOf(graphInputs);
    this.graphOutputs = List.copyOf(graphOutputs);
  }

  public List<Node> nodes() {
    return nodes;
  }

  public List<String> graphOutputs() {
    return graphOutputs;
  }

  /** Reads the main graph's nodes, inputs and outputs of the serialized ModelProto {@code model}. */
  public static OnnxGraph read(byte[] model, String file) throws IOException {
    ProtoReader m = ProtoReader.over(file, model);
    List<Node> nodes = new ArrayList<>();
    Set<String> inputs = new HashSet<>();
    List<String> outputs = new ArrayList<>();
    boolean graph = false;
    while (m.next()) {
      if (m.fieldNumber() != MODEL_GRAPH) {
        m.skip();
        continue;
      }
      m.expectWireType(ProtoReader.LEN, "ModelProto.graph");
      graph = true;
      ProtoReader g = m.message();
      while (g.next()) {
        switch (g.fieldNumber()) {
          case GRAPH_NODE -> {
            g.expectWireType(ProtoReader.LEN, "GraphProto.node");
            nodes.add(node(g.message()));
          }
          case GRAPH_INPUT -> {
            g.expectWireType(ProtoReader.LEN, "GraphProto.input");
            inputs.add(valueInfoName(g.message()));
          }
          case GRAPH_OUTPUT -> {
            g.expectWireType(ProtoReader.LEN, "GraphProto.output");
            outputs.add(valueInfoName(g.message()));
          }
          default -> g.skip();
        }
      }
    }
    if (!graph) {
      throw m.error("ModelProto has no graph (field 7)");
    }
    return new OnnxGraph(nodes, inputs, outputs);
  }

  /** Reads one {@code NodeProto}; {@link OnnxModelReader} reads the nodes this way too. */
  static Node node(ProtoReader n) throws IOException {
    List<String> in = new ArrayList<>();
    List<String> out = new ArrayList<>();
    String name = "";
    String op = "";
    String domain = "";
    Map<String, Long> ints = new LinkedHashMap<>();
    while (n.next()) {
      switch (n.fieldNumber()) {
        case NODE_INPUT -> in.add(string(n));
        case NODE_OUTPUT -> out.add(string(n));
        case NODE_OP_TYPE -> op = string(n);
        case NODE_NAME -> name = string(n);
        case NODE_DOMAIN -> domain = string(n);
        case NODE_ATTRIBUTE -> {
          n.expectWireType(ProtoReader.LEN, "NodeProto.attribute");
          ProtoReader a = n.message();
          String attribute = null;
          Long i = null;
          while (a.next()) {
            if (a.fieldNumber() == ATTRIBUTE_NAME && a.wireType() == ProtoReader.LEN) {
              attribute = a.readString(OnnxModelReader.MAX_STRING_BYTES);
            } else if (a.fieldNumber() == ATTRIBUTE_I && a.wireType() == ProtoReader.VARINT) {
              i = a.readVarint();
            } else {
              a.skip();
            }
          }
          if (attribute != null && i != null) {
            ints.put(attribute, i);
          }
        }
        default -> n.skip();
      }
    }
    return new Node(op, domain, in, out, ints, name);
  }

  private static String string(ProtoReader r) throws IOException {
    r.expectWireType(ProtoReader.LEN, "string field " + r.fieldNumber());
    return r.readString(OnnxModelReader.MAX_STRING_BYTES);
  }

  private static String valueInfoName(ProtoReader v) throws IOException {
    return stringField(v, VALUE_INFO_NAME);
  }

  /** The last string field {@code field} of message {@code m} (read to its end), or "". */
  static String stringField(ProtoReader m, int field) throws IOException {
    String s = "";
    while (m.next()) {
      if (m.fieldNumber() == field && m.wireType() == ProtoReader.LEN) {
        s = m.readString(OnnxModelReader.MAX_STRING_BYTES);
      } else {
        m.skip();
      }
    }
    return s;
  }

  /**
   * The multiplications of every weight among {@code ranks} (initializer name to rank): each
   * initializer used as a MatMul's or Gemm's weight (see the class comment), with every node
   * that uses it, in node order. Initializers used otherwise are absent.
   */
  public Map<String, List<WeightInput>> weightInputs(Map<String, Integer> ranks) {
    Map<String, List<WeightInput>> out = new LinkedHashMap<>();
    for (Node n : nodes) {
      if (!n.domain().isEmpty() && !n.domain().equals("ai.onnx")) {
        continue;
      }
      if (n.inputs().size() < 2) {
        continue;
      }
      String a = n.inputs().get(0);
      String b = n.inputs().get(1);
      Integer rank = ranks.get(b);
      if (rank == null || rank != 2 || a.isEmpty() || graphInputs.contains(a) || ranks.containsKey(a)) {
        continue;
      }
      int axis;
      if (n.opType().equals("MatMul")) {
        axis = 0;
      } else if (n.opType().equals("Gemm") && n.intAttributes().getOrDefault("transA", 0L) == 0) {
        axis = n.intAttributes().getOrDefault("transB", 0L) != 0 ? 1 : 0;
      } else {
        continue;
      }
      out.computeIfAbsent(b, k -> new ArrayList<>()).add(new WeightInput(a, axis));
    }
    return out;
  }

  /**
   * The names {@link #nodeNames(List, List)} gives the initializers {@code weights} in this
   * graph.
   */
  public Map<String, String> nodeNames(List<String> weights) {
    return nodeNames(nodes, weights);
  }

  /**
   * Node names of the initializers {@code weights} (names, unique), for grouping and reports:
   * an exporter names a weight matrix {@code onnx::MatMul_787} but the node that uses it
   * {@code /encoder/layer.0/attention/self/query/MatMul}. A weight's node name is the name of
   * the first node of {@code nodes} (graph order) that takes it as an input. Where several of
   * {@code weights} would get the same name (one node taking two of them, as Gemm its B and C,
   * or two nodes of one name), each is that name, {@code ':'} and the index of its input in
   * that node ({@code /fc/Gemm:1}, {@code /fc/Gemm:2}). A weight keeps its own name, and is
   * absent from the map, if no node uses it, its node has no name, or the name would still be
   * another weight's (name or node name): so the names of all {@code weights} stay unique.
   *
   * @return initializer name to node name, in the order of {@code weights}, for the weights
   *     named after a node (never a weight whose node name is its own name)
   */
  public static Map<String, String> nodeNames(List<Node> nodes, List<String> weights) {
    Set<String> own = new HashSet<>(weights);
    // The first use of each weight: node index and input index.
    Map<String, int[]> use = new HashMap<>();
    for (int i = 0; i < nodes.size(); i++) {
      List<String> inputs = nodes.get(i).inputs();
      for (int j = 0; j < inputs.size(); j++) {
        if (own.contains(inputs.get(j))) {
          use.putIfAbsent(inputs.get(j), new int[] {i, j});
        }
      }
    }
    Map<String, String> named = new LinkedHashMap<>();
    for (String w : weights) {
      int[] u = use.get(w);
      if (u != null && !nodes.get(u[0]).name().isEmpty()) {
        named.put(w, nodes.get(u[0]).name());
      }
    }
    Map<String, Integer> shared = counts(named.values());
    for (Map.Entry<String, String> e : named.entrySet()) {
      if (shared.get(e.getValue()) > 1) {
        e.setValue(e.getValue() + ":" + use.get(e.getKey())[1]);
      }
    }
    Map<String, Integer> count = counts(named.values());
    Map<String, String> out = new LinkedHashMap<>();
    for (Map.Entry<String, String> e : named.entrySet()) {
      if (count.get(e.getValue()) == 1 && !own.contains(e.getValue())) {
        out.put(e.getKey(), e.getValue());
      }
    }
    return out;
  }

  private static Map<String, Integer> counts(Iterable<String> names) {
    Map<String, Integer> count = new HashMap<>();
    for (String n : names) {
      count.merge(n, 1, Integer::sum);
    }
    return count;
  }

  /**
   * A copy of the serialized model {@code model} whose main graph also outputs the values
   * {@code names} (appended after its own outputs, without a type: the runtime infers it). Every
   * other byte is as in the original, but the graph's length prefix.
   */
  public static byte[] withOutputs(byte[] model, String file, List<String> names) throws IOException {
    ByteArrayOutputStream extra = new ByteArrayOutputStream();
    for (String name : names) {
      byte[] n = name.getBytes(StandardCharsets.UTF_8);
      ByteArrayOutputStream info = new ByteArrayOutputStream();
      tag(info, VALUE_INFO_NAME);
      varint(info, n.length);
      info.write(n);
      tag(extra, GRAPH_OUTPUT);
      varint(extra, info.size());
      info.writeTo(extra);
    }
    ProtoReader m = ProtoReader.over(file, model);
    while (m.next()) {
      if (m.fieldNumber() != MODEL_GRAPH) {
        m.skip();
        continue;
      }
      m.expectWireType(ProtoReader.LEN, "ModelProto.graph");
      int tagAt = Math.toIntExact(m.tagOffset());
      ProtoReader.Range content = m.readLengthDelimited();
      int from = Math.toIntExact(content.offset());
      int to = Math.toIntExact(content.end());
      ByteArrayOutputStream out = new ByteArrayOutputStream(model.length + extra.size() + 16);
      out.write(model, 0, tagAt);
      tag(out, MODEL_GRAPH);
      varint(out, (long) (to - from) + extra.size());
      out.write(model, from, to - from);
      extra.writeTo(out);
      out.write(model, to, model.length - to);
      return out.toByteArray();
    }
    throw m.error("ModelProto has no graph (field 7)");
  }

  private static void tag(ByteArrayOutputStream out, int field) {
    varint(out, (long) field << 3 | ProtoReader.LEN);
  }

  private static void varint(ByteArrayOutputStream out, long v) {
    while ((v & ~0x7FL) != 0) {
      out.write((int) (v & 0x7F) | 0x80);
      v >>>= 7;
    }
    out.write((int) v);
  }
}
