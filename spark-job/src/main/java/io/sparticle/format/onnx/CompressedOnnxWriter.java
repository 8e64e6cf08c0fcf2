package io.sparticle.format.onnx;

import io.sparticle.io.RangeReader;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes a runnable compressed ONNX model (FORMAT.md section 6): the original model with each
 * tensor of {@code graphs} computed by its {@link WeightGraph} instead of stored, and every other
 * byte as in the original but the graph's length prefix.
 *
 * <p>The graph's new nodes come first (they read only initializers, so the node list stays
 * topologically sorted), then the graph's own fields less the replaced initializers (and their
 * graph inputs, which models of IR version 3 list), then the new initializers. The payload of
 * every other hole is written by {@code dense}: the decoded weights of a tensor that stays dense.
 *
 * <pre>{@code
 * RangeReader original = new SkeletonView(skeleton, holes);   // the original model's bytes
 * CompressedOnnxWriter.write("model.onnx", original, length, holes, graphs, shared, dense, out);
 * }</pre>
 */
public final class CompressedOnnxWriter {
  private static final int MODEL_GRAPH = 7;
  private static final int GRAPH_NODE = 1;
  private static final int GRAPH_INITIALIZER = 5;
  private static final int GRAPH_INPUT = 11;
  private static final int TENSOR_NAME = 8;
  private static final int VALUE_INFO_NAME = 1;

  private CompressedOnnxWriter() {}

  /** One payload hole of the original file: {@code length} bytes at {@code offset}. */
  public record Hole(String name, long offset, long length) {}

  /** A range of the original replaced by what {@code write} writes (possibly nothing). */
  private record Edit(long offset, long length, Filler fill) {
    long end() {
      return offset + length;
    }
  }

  @FunctionalInterface
  private interface Filler {
    void write(OutputStream out) throws IOException;
  }

  /**
   * The ai.onnx ({@code ""} or {@code "ai.onnx"} domain) opset {@code model} imports, or 0 if
   * none.
   */
  public static long opset(OnnxModel model) {
    Long v = model.opsets().get("");
    return v != null ? v : model.opsets().getOrDefault("ai.onnx", 0L);
  }

  /**
   * Writes the model to {@code out}; returns the bytes written.
   *
   * @param file the model file's name, for messages
   * @param original the original model's bytes (the holes' contents are not read)
   * @param holes every payload hole, sorted by offset
   * @param graphs the tensors computed in the graph, by name
   * @param shared initializers the graphs share (shapes, constants)
   * @param dense writes the payload of every hole not in {@code graphs}
   * @throws io.sparticle.format.CheckpointFormatException if the model is malformed
   * @throws IllegalArgumentException if a tensor of {@code graphs} is no initializer of the
   *     graph, or a name the graphs add is already the model's
   */
  public static long write(String file, RangeReader original, long length, List<Hole> holes,
      Map<String, WeightGraph> graphs, Collection<WeightGraph.Initializer> shared,
      PayloadWriter dense, OutputStream out) throws IOException {
    ProtoReader model = ProtoReader.over(file, original, length);
    ProtoReader.Range graph = null;
    long graphTag = -1;
    while (model.next()) {
      if (model.fieldNumber() == MODEL_GRAPH && model.wireType() == ProtoReader.LEN) {
        if (graph != null) {
          throw model.error("ModelProto has two graphs (field 7)");
        }
        graphTag = model.tagOffset();
        graph = model.readLengthDelimited();
      } else {
        model.skip();
      }
    }
    if (graph == null) {
      throw model.error("ModelProto has no graph (field 7)");
    }
    List<Edit> edits = new ArrayList<>();
    Set<String> replaced = new HashSet<>();
    long dropped = 0;
    ProtoReader g = ProtoReader.over(file, original, length).slice(graph);
    while (g.next()) {
      int field = g.fieldNumber();
      long tag = g.tagOffset();
      if (g.wireType() != ProtoReader.LEN || (field != GRAPH_INITIALIZER && field != GRAPH_INPUT)) {
        g.skip();
        continue;
      }
      ProtoReader m = g.message();
      String name = OnnxGraph.stringField(m, field == GRAPH_INITIALIZER ? TENSOR_NAME : VALUE_INFO_NAME);
      if (WeightGraph.generated(name)) {
        throw new IllegalArgumentException("Cannot compute weights in the graph of " + file
            + ": it already has a value named '" + name + "'");
      }
      if (graphs.containsKey(name)) {
        if (field == GRAPH_INITIALIZER && !replaced.add(name)) {
          throw g.error("initializer '" + name + "' appears twice");
        }
        long end = g.position();
        edits.add(new Edit(tag, end - tag, o -> {}));
        dropped += end - tag;
      }
    }
    for (String name : graphs.keySet()) {
      if (!replaced.contains(name)) {
        throw new IllegalArgumentException(
            "Cannot compute '" + name + "' in the graph of " + file + ": it is no initializer there");
      }
    }
    // Holes of dense tensors take their payloads; those of replaced ones lie in dropped records.
    for (Hole h : holes) {
      if (graphs.containsKey(h.name())) {
        continue;
      }
      edits.add(new Edit(h.offset(), h.length(), o -> OnnxRewriter.writePayload(dense,
          new OnnxSkeleton.Hole(h.name(), h.offset(), h.length()), o)));
    }
    ByteArrayOutputStream nodes = new ByteArrayOutputStream();
    List<WeightGraph.Initializer> inits = new ArrayList<>();
    for (WeightGraph w : graphs.values()) {
      for (byte[] n : w.nodes()) {
        ProtoWriter.bytes(nodes, GRAPH_NODE, n);
      }
      inits.addAll(w.initializers());
    }
    inits.addAll(shared);
    long added = 0;
    for (WeightGraph.Initializer i : inits) {
      long m = i.messageLength();
      added += ProtoWriter.varintSize((long) GRAPH_INITIALIZER << 3) + ProtoWriter.varintSize(m) + m;
    }
    long graphLength = graph.length() - dropped + nodes.size() + added;
    if (graphLength > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("Cannot write " + file + ": its graph would be "
          + graphLength + " bytes, beyond protobuf's 2 GiB");
    }
    byte[] head = concat(ProtoWriter.lengthPrefix(MODEL_GRAPH, graphLength), nodes.toByteArray());
    edits.add(new Edit(graphTag, graph.offset() - graphTag, o -> o.write(head)));
    edits.add(new Edit(graph.end(), 0, o -> {
      for (WeightGraph.Initializer i : inits) {
        writeInitializer(i, o);
      }
    }));
    edits.sort(Comparator.comparingLong(Edit::offset).thenComparingLong(Edit::length));
    return splice(file, original, length, edits, out);
  }

  private static long splice(String file, RangeReader in, long length, List<Edit> edits,
      OutputStream out) throws IOException {
    OnnxRewriter.CountingStream counting = new OnnxRewriter.CountingStream(out);
    byte[] buffer = new byte[OnnxRewriter.COPY_BUFFER];
    long pos = 0;
    for (Edit e : edits) {
      if (e.offset() < pos) {
        throw new IllegalStateException(
            "Edits of " + file + " overlap at byte " + e.offset() + " (copied to " + pos + ")");
      }
      OnnxRewriter.copy(in, pos, e.offset(), buffer, counting);
      e.fill().write(counting);
      pos = e.end();
    }
    OnnxRewriter.copy(in, pos, length, buffer, counting);
    counting.flush();
    return counting.count;
  }

  private static void writeInitializer(WeightGraph.Initializer i, OutputStream out)
      throws IOException {
    byte[] header = ProtoWriter.tensorHeader(i.name(), i.dataType(), i.dims());
    out.write(ProtoWriter.lengthPrefix(GRAPH_INITIALIZER, i.messageLength()));
    out.write(header);
    out.write(ProtoWriter.lengthPrefix(ProtoWriter.TENSOR_RAW_DATA, i.length()));
    OnnxRewriter.writePayload(i.data(), new OnnxSkeleton.Hole(i.name(), 0, i.length()), out);
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] c = new byte[a.length + b.length];
    System.arraycopy(a, 0, c, 0, a.length);
    System.arraycopy(b, 0, c, a.length, b.length);
    return c;
  }

  /**
   * The original model's bytes from its skeleton (the bytes outside the holes, in order), the
   * holes read as zeros: what {@link #write} parses and copies around them.
   */
  public static final class SkeletonView implements RangeReader {
    private final RangeReader skeleton;
    private final long[] offsets;
    private final long[] ends;
    private final long[] before; // hole bytes before hole i

    /** @param holes sorted by offset, disjoint */
    public SkeletonView(RangeReader skeleton, List<Hole> holes) {
      this.skeleton = skeleton;
      int n = holes.size();
      offsets = new long[n];
      ends = new long[n];
      before = new long[n + 1];
      for (int i = 0; i < n; i++) {
        Hole h = holes.get(i);
        offsets[i] = h.offset();
        ends[i] = h.offset() + h.length();
        if (i > 0 && offsets[i] < ends[i - 1]) {
          throw new IllegalArgumentException("Holes overlap at byte " + offsets[i]);
        }
        before[i + 1] = before[i] + h.length();
      }
    }

    @Override
    public void readFully(long position, byte[] buffer, int offset, int length) throws IOException {
      long pos = position;
      int off = offset;
      int left = length;
      // The first hole ending after pos.
      int i = java.util.Arrays.binarySearch(ends, pos);
      i = i >= 0 ? i + 1 : -i - 1;
      while (left > 0) {
        if (i < offsets.length && pos >= offsets[i]) {
          int n = (int) Math.min(left, ends[i] - pos);
          java.util.Arrays.fill(buffer, off, off + n, (byte) 0);
          pos += n;
          off += n;
          left -= n;
          i++;
          continue;
        }
        long stop = i < offsets.length ? offsets[i] : Long.MAX_VALUE;
        int n = (int) Math.min(left, stop - pos);
        try {
          skeleton.readFully(pos - before[i], buffer, off, n);
        } catch (EOFException e) {
          throw new EOFException("The skeleton ends before byte " + (pos + n) + " of the model: " + e.getMessage());
        }
        pos += n;
        off += n;
        left -= n;
      }
    }

    @Override
    public void close() throws IOException {
      skeleton.close();
    }
  }
}
