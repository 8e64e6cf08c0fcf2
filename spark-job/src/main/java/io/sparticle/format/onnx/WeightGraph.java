package io.sparticle.format.onnx;

import io.sparticle.format.CodeReader;
import io.sparticle.format.DType;
import io.sparticle.format.LittleEndian;
import io.sparticle.format.SparseOutliers;
import io.sparticle.format.StoredTensor;
import io.sparticle.format.TensorDecoder;
import io.sparticle.io.RangeReader;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.EncodingSpec.ScalePrecision;
import io.sparticle.quant.HalfFloats;
import io.sparticle.quant.KMeansCodec;
import io.sparticle.quant.TensorCodec;
import io.sparticle.quant.UniformCodec;
import io.sparticle.quant.UnitLayout;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The ONNX nodes and initializers that compute one encoded tensor in the graph instead of storing
 * it dense (FORMAT.md section 6): its codes packed into a UINT8 (or UINT16) initializer, its
 * codebook, scales and zero points as small initializers, and nodes of ai.onnx opset 11 that
 * rebuild exactly the values {@code decompress} writes. The last node's output is the tensor's
 * own name, so the nodes that used the initializer use the computed value unchanged.
 *
 * <p>Codes of 1, 2 or 4 bits (3 bits take 4) are packed {@code 8 / c} to a byte in sections: byte
 * {@code j} holds code {@code j + m * L} in bits {@code [m * c, (m + 1) * c)} for section
 * {@code m}, {@code L} the section length; the graph casts the bytes to INT32, cuts the sections
 * out with {@code Div} and {@code Mod} and concatenates them. Wider codes are one byte (5..8
 * bits) or one UINT16 (vq's up to 16 bits) each. Then, by method:
 *
 * <ul>
 *   <li>one codebook for the tensor (kmeans or gmm per group, uniform per tensor): a table of the
 *       2^bits values in the tensor's dtype, {@code Gather(table, codes)};
 *   <li>kmeans per channel: every channel's codebook in one table (FLOAT16 when every value is
 *       one, cast to FLOAT), indexed by {@code code + unit * k};
 *   <li>uniform per channel or block (FLOAT tensors): {@code (float(q) - float(zero)) * scale};
 *   <li>kmeans per block (FLOAT tensors): {@code Gather(codebook, codes) * scale};
 *   <li>vq: {@code Gather(codewords, codes)}, sub-vectors put back in place;
 *   <li>outliers: {@code ScatterElements} of their exact values over the flattened tensor.
 * </ul>
 *
 * Every product is one float32 multiply of the same operands as the codec's
 * {@link TensorCodec#value}, so the computed weights equal the decoded ones bit for bit.
 *
 * <pre>{@code
 * String why = WeightGraph.refusal(stored, opset);      // null: it can be computed in the graph
 * WeightGraph g = WeightGraph.build(stored, dataReader, shared);
 * }</pre>
 */
public final class WeightGraph {
  /** The oldest ai.onnx opset whose operators the graph uses (Mod 10, ScatterElements 11). */
  public static final long MIN_OPSET = 11;
  /** Infix of the names this class gives values, nodes and initializers. */
  public static final String MARK = "::sparticle/";
  private static final String SHARED = "sparticle::";

  /** An initializer to add: its elements ({@code length} bytes) written by {@code data}. */
  public record Initializer(String name, int dataType, long[] dims, long length, PayloadWriter data) {
    /** The bytes of its TensorProto (without the graph's tag and length prefix). */
    public long messageLength() {
      return ProtoWriter.tensorHeader(name, dataType, dims).length + 1L
          + ProtoWriter.varintSize(length) + length;
    }
  }

  private final String tensor;
  private final List<byte[]> nodes;
  private final List<Initializer> initializers;

  WeightGraph(String tensor, List<byte[]> nodes, List<Initializer> initializers) {
    this.tensor = tensor;
    this.nodes = nodes;
    this.initializers = initializers;
  }

  public String tensor() {
    return tensor;
  }

  /** NodeProtos, in an order that computes each input before its use. */
  public List<byte[]> nodes() {
    return nodes;
  }

  /** This tensor's own initializers (codes, codebooks, scales, outliers). */
  public List<Initializer> initializers() {
    return initializers;
  }

  /**
   * Why encoded tensor {@code t} of a model importing ai.onnx {@code opset} cannot be computed
   * in the graph (so it is written dense), or null when it can.
   */
  public static String refusal(StoredTensor t, long opset) {
    if (t.dense()) {
      return "it is stored dense";
    }
    if (opset < MIN_OPSET) {
      return "the model imports ai.onnx opset " + opset + ", and the graph needs " + MIN_OPSET;
    }
    EncodingSpec spec = t.spec();
    boolean arithmetic = spec.method() == EncodingSpec.Method.UNIFORM
        ? spec.scope() != EncodingSpec.Scope.TENSOR : spec.blockScaled();
    if (arithmetic && t.dtype() != DType.F32) {
      return spec.describe() + " of a " + t.dtype() + " tensor would be rounded by ONNX Runtime's "
          + "Cast, not as decompress rounds it";
    }
    UnitLayout layout = t.layout();
    if (layout.kind() == UnitLayout.Kind.BLOCKS && layout.numel() % layout.length() != 0) {
      return "its " + layout.numel() + " weights are not whole blocks of " + layout.length();
    }
    if (t.numel() > Integer.MAX_VALUE) {
      return "its " + t.numel() + " weights exceed INT32 indices";
    }
    return null;
  }

  /**
   * The graph of encoded tensor {@code t}, whose data file is {@code in} (kept open until the
   * initializers are written); initializers more tensors can use (shapes, integer constants)
   * go into {@code shared}, by name.
   *
   * @throws IllegalArgumentException if {@link #refusal} gives a reason
   */
  public static WeightGraph build(StoredTensor t, RangeReader in, Map<String, Initializer> shared)
      throws IOException {
    String why = refusal(t, MIN_OPSET);
    if (why != null) {
      throw new IllegalArgumentException("Cannot compute '" + t.name() + "' in the graph: " + why);
    }
    return new Builder(t, in, shared).build();
  }

  /** Names every graph of a model gives values and initializers, but its tensors' own names. */
  public static boolean generated(String name) {
    return name.startsWith(SHARED) || name.contains(MARK);
  }

  private static final class Builder {
    private final StoredTensor t;
    private final RangeReader in;
    private final Map<String, Initializer> shared;
    private final String prefix;
    private final List<byte[]> nodes = new ArrayList<>();
    private final List<Initializer> own = new ArrayList<>();
    private final Set<String> used = new LinkedHashSet<>();

    Builder(StoredTensor t, RangeReader in, Map<String, Initializer> shared) {
      this.t = t;
      this.in = in;
      this.shared = shared;
      this.prefix = t.name() + MARK;
    }

    WeightGraph build() throws IOException {
      String codes = codes();
      String w;
      long[] dims = t.shape();
      EncodingSpec spec = t.spec();
      if (spec.vector()) {
        w = vectors(codes);
      } else {
        TensorCodec codec = t.codec(in);
        UnitLayout layout = codec.layout();
        if (layout.numUnits() <= 1) {
          w = op("Gather", List.of(table(codec), codes), ProtoWriter.intAttribute("axis", 0));
        } else if (codec instanceof UniformCodec u) {
          w = uniform(u, layout, codes);
        } else if (spec.blockScaled()) {
          w = blockScaled((KMeansCodec) codec, layout, codes);
        } else {
          w = perUnit(codec, layout, codes);
        }
      }
      SparseOutliers outliers = t.readOutliers(in);
      if (outliers != null && outliers.size() > 0) {
        w = scatter(w, outliers);
      }
      nodes.add(ProtoWriter.node("Reshape", prefix + "shape", List.of(w, shape(dims)),
          List.of(t.name())));
      return new WeightGraph(t.name(), List.copyOf(nodes), List.copyOf(own));
    }

    /** The codes as an INT32 tensor of numCodes elements. */
    private String codes() throws IOException {
      long n = t.numCodes();
      int bits = t.codeBits();
      int c = bits <= 2 ? bits : bits <= 4 ? 4 : bits <= 8 ? 8 : 16;
      if (c < 8 && n % (8 / c) != 0) {
        c = 8;
      }
      int sections = c < 8 ? 8 / c : 1;
      long section = n / sections;
      long bytes = c == 16 ? 2 * n : section;
      CodeReader reader = CodeReader.open(t, in);
      final int width = c;
      PayloadWriter data = (name, length, out) -> writeCodes(reader, n, width, out);
      String packed = own(prefix + "codes", c == 16 ? ProtoWriter.UINT16 : ProtoWriter.UINT8,
          new long[] {bytes / (c == 16 ? 2 : 1)}, bytes, data);
      String x = op("Cast", List.of(packed), ProtoWriter.intAttribute("to", ProtoWriter.INT32));
      if (sections == 1) {
        return x;
      }
      List<String> parts = new ArrayList<>();
      for (int m = 0; m < sections; m++) {
        String p = m == 0 ? x : op("Div", List.of(x, i32(1 << (m * c))));
        if (m < sections - 1) {
          p = op("Mod", List.of(p, i32(1 << c)));
        }
        parts.add(p);
      }
      return op("Concat", parts, ProtoWriter.intAttribute("axis", 0));
    }

    /** Streams the packed codes: see the class comment for the layout. */
    private static void writeCodes(CodeReader reader, long n, int c, OutputStream out)
        throws IOException {
      int sections = c < 8 ? 8 / c : 1;
      long section = n / sections;
      int chunk = (int) Math.min(1 << 18, Math.max(1, section));
      int[][] codes = new int[sections][chunk];
      byte[] buf = new byte[chunk * (c == 16 ? 2 : 1)];
      for (long j = 0; j < section; j += chunk) {
        int len = (int) Math.min(chunk, section - j);
        for (int m = 0; m < sections; m++) {
          reader.read(m * section + j, len, codes[m]);
        }
        if (c == 16) {
          for (int i = 0; i < len; i++) {
            LittleEndian.put16(buf, 2 * i, codes[0][i]);
          }
          out.write(buf, 0, 2 * len);
          continue;
        }
        for (int i = 0; i < len; i++) {
          int b = 0;
          for (int m = 0; m < sections; m++) {
            b |= codes[m][i] << (m * c);
          }
          buf[i] = (byte) b;
        }
        out.write(buf, 0, len);
      }
    }

    /** The 2^bits values of a one-unit codec in the tensor's dtype. */
    private String table(TensorCodec codec) {
      int k = codec.numCodes();
      float[] values = new float[k];
      for (int c = 0; c < k; c++) {
        values[c] = codec.value(0, c);
      }
      return ownFloats("table", values, new long[] {k});
    }

    /** kmeans per channel: Gather(books, code + unit * k). */
    private String perUnit(TensorCodec codec, UnitLayout layout, String codes) {
      int units = Math.toIntExact(layout.numUnits());
      int k = codec.numCodes();
      float[] books = new float[units * k];
      for (int u = 0; u < units; u++) {
        for (int c = 0; c < k; c++) {
          books[u * k + c] = codec.value(u, c);
        }
      }
      String table = ownFloats("codebooks", books, new long[] {(long) units * k});
      int[] offsets = new int[units];
      for (int u = 0; u < units; u++) {
        offsets[u] = u * k;
      }
      String idx = op("Add", List.of(view(codes, layout), sharedInts(
          "offsets/" + units + "x" + k + "/" + layout.kind().name().toLowerCase(), offsets,
          paramDims(layout))));
      return op("Gather", List.of(table, idx), ProtoWriter.intAttribute("axis", 0));
    }

    /** uniform per channel or block: (float(q) - float(zero)) * scale. */
    private String uniform(UniformCodec u, UnitLayout layout, String codes) {
      int units = Math.toIntExact(layout.numUnits());
      float[] scales = new float[units];
      byte[] zeros = new byte[units];
      for (int i = 0; i < units; i++) {
        scales[i] = u.scale(i);
        zeros[i] = (byte) u.zero(i);
      }
      long[] pd = paramDims(layout);
      String q = op("Cast", List.of(view(codes, layout)), ProtoWriter.intAttribute("to", ProtoWriter.FLOAT));
      String z = op("Cast", List.of(own(prefix + "zeros", ProtoWriter.UINT8, pd, units,
          PayloadWriter.of(Map.of(prefix + "zeros", zeros)))),
          ProtoWriter.intAttribute("to", ProtoWriter.FLOAT));
      String d = op("Sub", List.of(q, z));
      return op("Mul", List.of(d, floatParams("scales", scales, pd, t.spec().scalePrecision())));
    }

    /** kmeans per block: Gather(codebook, codes) * scale. */
    private String blockScaled(KMeansCodec codec, UnitLayout layout, String codes) {
      int units = Math.toIntExact(layout.numUnits());
      float[] book = codec.centroids(0);
      String g = op("Gather", List.of(ownFloats("codebook", book, new long[] {book.length}, DType.F32),
          codes), ProtoWriter.intAttribute("axis", 0));
      float[] scales = new float[units];
      for (int i = 0; i < units; i++) {
        scales[i] = codec.unitScale(i);
      }
      long[] pd = paramDims(layout);
      // Block scales from a ladder take few values: a table and a byte per block.
      float[] distinct = distinct(scales);
      String s;
      if (distinct.length <= 256) {
        byte[] idx = new byte[units];
        for (int i = 0; i < units; i++) {
          idx[i] = (byte) Arrays.binarySearch(distinct, scales[i]);
        }
        String ladder = ownFloats("scale_table", distinct, new long[] {distinct.length}, DType.F32);
        String ix = op("Cast", List.of(own(prefix + "scale_codes", ProtoWriter.UINT8, pd, units,
            PayloadWriter.of(Map.of(prefix + "scale_codes", idx)))),
            ProtoWriter.intAttribute("to", ProtoWriter.INT32));
        s = op("Gather", List.of(ladder, ix), ProtoWriter.intAttribute("axis", 0));
      } else {
        s = floatParams("scales", scales, pd, t.spec().scalePrecision());
      }
      return op("Mul", List.of(view(g, layout), s));
    }

    /** vq: Gather(codewords [k, dim], codes) with each sub-vector put back in place. */
    private String vectors(String codes) {
      int d = t.spec().dim();
      float[] cw = t.sharedCodebook();
      int k = cw.length / d;
      float[] table = new float[cw.length];
      for (int i = 0; i < table.length; i++) {
        table[i] = cw[i] * t.scale();
      }
      String words = ownFloats("codewords", table, new long[] {k, d});
      long[] shape = t.shape();
      long numel = t.numel();
      if (t.axis() == 0 && shape.length >= 2) {
        long row = numel / shape[0];
        String c = op("Reshape", List.of(codes, shape(shape[0] / d, row)));
        String g = op("Gather", List.of(words, c), ProtoWriter.intAttribute("axis", 0));
        return op("Transpose", List.of(g), ProtoWriter.intsAttribute("perm", 0, 2, 1));
      }
      return op("Gather", List.of(words, codes), ProtoWriter.intAttribute("axis", 0));
    }

    /** The tensor flattened, its outliers' exact values written over it. */
    private String scatter(String w, SparseOutliers outliers) {
      int m = outliers.size();
      byte[] idx = new byte[4 * m];
      for (int i = 0; i < m; i++) {
        LittleEndian.put32(idx, 4 * i, Math.toIntExact(outliers.position(i)));
      }
      byte[] values = outliers.values();
      String flat = op("Reshape", List.of(w, shape(t.numel())));
      String ix = own(prefix + "outlier_index", ProtoWriter.INT32, new long[] {m}, idx.length,
          PayloadWriter.of(Map.of(prefix + "outlier_index", idx)));
      String v = own(prefix + "outlier_values", onnxType(t.dtype()), new long[] {m}, values.length,
          PayloadWriter.of(Map.of(prefix + "outlier_values", values)));
      return op("ScatterElements", List.of(flat, ix, v), ProtoWriter.intAttribute("axis", 0));
    }

    /** The codes (or values) as a 2-D view whose units are rows ([U, L]) or columns. */
    private String view(String x, UnitLayout layout) {
      long rows = layout.kind() == UnitLayout.Kind.COLUMNS
          ? layout.numel() / layout.length() : layout.numUnits();
      return op("Reshape", List.of(x, shape(rows, layout.length())));
    }

    /** Per-unit parameters' dims: [U, 1] for rows and blocks, [L] for columns. */
    private static long[] paramDims(UnitLayout layout) {
      return layout.kind() == UnitLayout.Kind.COLUMNS
          ? new long[] {layout.length()} : new long[] {layout.numUnits(), 1};
    }

    /** Scales as FLOAT, stored FLOAT16 (and cast) when the precision is F16. */
    private String floatParams(String suffix, float[] v, long[] dims, ScalePrecision p) {
      if (p == ScalePrecision.F16 && exactIn(v, DType.F16)) {
        return op("Cast", List.of(ownFloats(suffix, v, dims, DType.F16)),
            ProtoWriter.intAttribute("to", ProtoWriter.FLOAT));
      }
      return ownFloats(suffix, v, dims, DType.F32);
    }

    /**
     * Float values in the tensor's dtype; for a FLOAT tensor stored FLOAT16 (and cast) when every
     * value is one.
     */
    private String ownFloats(String suffix, float[] v, long[] dims) {
      if (t.dtype() == DType.F32 && v.length >= 64 && exactIn(v, DType.F16)) {
        return op("Cast", List.of(ownFloats(suffix, v, dims, DType.F16)),
            ProtoWriter.intAttribute("to", ProtoWriter.FLOAT));
      }
      return ownFloats(suffix, v, dims, t.dtype());
    }

    private String ownFloats(String suffix, float[] v, long[] dims, DType dtype) {
      int size = dtype.byteSize();
      byte[] b = new byte[v.length * size];
      for (int i = 0; i < v.length; i++) {
        int bits = TensorDecoder.dtypeBits(dtype, v[i]);
        if (size == 2) {
          LittleEndian.put16(b, 2 * i, bits);
        } else {
          LittleEndian.put32(b, 4 * i, bits);
        }
      }
      String name = prefix + suffix;
      return own(name, onnxType(dtype), dims, b.length, PayloadWriter.of(Map.of(name, b)));
    }

    private String own(String name, int type, long[] dims, long length, PayloadWriter data) {
      own.add(new Initializer(name, type, dims, length, data));
      return name;
    }

    /** A shared INT64 shape constant. */
    private String shape(long... dims) {
      StringBuilder s = new StringBuilder(SHARED).append("shape/");
      for (int i = 0; i < dims.length; i++) {
        s.append(i == 0 ? "" : "x").append(dims[i]);
      }
      String name = s.toString();
      if (!shared.containsKey(name)) {
        byte[] b = new byte[8 * dims.length];
        for (int i = 0; i < dims.length; i++) {
          LittleEndian.put64(b, 8 * i, dims[i]);
        }
        shared.put(name, new Initializer(name, ProtoWriter.INT64, new long[] {dims.length}, b.length,
            PayloadWriter.of(Map.of(name, b))));
      }
      return name;
    }

    /** A shared INT32 scalar. */
    private String i32(int v) {
      return sharedInts("i32/" + v, new int[] {v}, new long[0]);
    }

    private String sharedInts(String key, int[] v, long[] dims) {
      String name = SHARED + key;
      if (!shared.containsKey(name)) {
        byte[] b = new byte[4 * v.length];
        for (int i = 0; i < v.length; i++) {
          LittleEndian.put32(b, 4 * i, v[i]);
        }
        shared.put(name, new Initializer(name, ProtoWriter.INT32, dims, b.length,
            PayloadWriter.of(Map.of(name, b))));
      }
      return name;
    }

    /** Adds a node with one output, named after the operator; returns the output. */
    private String op(String opType, List<String> inputs, byte[]... attributes) {
      String base = prefix + opType.toLowerCase(java.util.Locale.ROOT);
      String name = base;
      for (int i = 2; !used.add(name); i++) {
        name = base + i;
      }
      nodes.add(ProtoWriter.node(opType, name, inputs, List.of(name), attributes));
      return name;
    }

    private static boolean exactIn(float[] v, DType dtype) {
      for (float x : v) {
        short h = HalfFloats.floatToF16(x);
        if (Float.floatToRawIntBits(HalfFloats.f16ToFloat(h)) != Float.floatToRawIntBits(x)) {
          return false;
        }
      }
      return true;
    }

    private static float[] distinct(float[] v) {
      float[] s = v.clone();
      Arrays.sort(s);
      int n = 0;
      for (int i = 0; i < s.length; i++) {
        if (n == 0 || Float.compare(s[n - 1], s[i]) != 0) {
          s[n++] = s[i];
        }
      }
      return Arrays.copyOf(s, n);
    }
  }

  static int onnxType(DType dtype) {
    return switch (dtype) {
      case F32 -> ProtoWriter.FLOAT;
      case F16 -> ProtoWriter.FLOAT16;
      case BF16 -> ProtoWriter.BFLOAT16;
      default -> throw new IllegalArgumentException("No ONNX float type for " + dtype);
    };
  }
}
