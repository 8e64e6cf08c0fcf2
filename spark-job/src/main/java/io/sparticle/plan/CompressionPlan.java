package io.sparticle.plan;

import io.sparticle.format.CheckpointWriter;
import io.sparticle.format.DType;
import io.sparticle.format.SafetensorsLayout;
import io.sparticle.format.SparseOutliers;
import io.sparticle.format.StoredTensor;
import io.sparticle.packing.BitPacking;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.EncodingSpec.Method;
import io.sparticle.quant.UnitLayout;
import io.sparticle.quant.ValueHistogram;
import java.io.Serializable;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * What a compress job will do, decided on the driver from headers alone: which tensor goes to
 * which codebook group, which byte ranges the histogram tasks read, and which tensors each output
 * file holds. Deterministic for the same headers and config. The Spark passes only execute it.
 *
 * <p>{@code keptDense} maps the tensors that were forced dense against the config (NaN or Inf
 * weights with {@code non-finite: keep-dense}) to the reason, for the report.
 */
public record CompressionPlan(
    String sourceDirectory,
    List<String> sourceFiles,
    List<Long> sourceFileLengths,
    List<Tensor> tensors,
    List<Group> groups,
    List<ReadSplit> histogramSplits,
    List<OutputPart> parts,
    List<String> warnings,
    Map<String, String> keptDense,
    JobConfig config)
    implements Serializable {

  public CompressionPlan {
    sourceFiles = List.copyOf(sourceFiles);
    sourceFileLengths = List.copyOf(sourceFileLengths);
    tensors = List.copyOf(tensors);
    groups = List.copyOf(groups);
    histogramSplits = List.copyOf(histogramSplits);
    parts = List.copyOf(parts);
    warnings = List.copyOf(warnings);
    keptDense = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(keptDense));
  }

  /**
   * A tensor of the source checkpoint and what happens to it.
   *
   * @param offset absolute byte offset of the tensor's data in its source file
   * @param group index into {@link #groups()}, or -1 when the tensor is kept dense
   * @param axis the output-channel axis: 0 for safetensors ([out, in]), the last for ONNX
   *     ([in, out]); used by channel scopes
   */
  public record Tensor(
      int index, String name, int file, DType dtype, long[] shape, long numel, long offset,
      long byteLength, int group, int bits, int axis, ValueHistogram.Outliers outliers, int dim,
      ValueHistogram.Pruned pruned)
      implements Serializable {
    public Tensor(int index, String name, int file, DType dtype, long[] shape, long numel,
        long offset, long byteLength, int group, int bits, int axis,
        ValueHistogram.Outliers outliers) {
      this(index, name, file, dtype, shape, numel, offset, byteLength, group, bits, axis, outliers,
          1, ValueHistogram.Pruned.NONE);
    }

    public Tensor(int index, String name, int file, DType dtype, long[] shape, long numel,
        long offset, long byteLength, int group, int bits) {
      this(index, name, file, dtype, shape, numel, offset, byteLength, group, bits, 0);
    }

    public Tensor(int index, String name, int file, DType dtype, long[] shape, long numel,
        long offset, long byteLength, int group, int bits, int axis) {
      this(index, name, file, dtype, shape, numel, offset, byteLength, group, bits, axis,
          ValueHistogram.Outliers.NONE);
    }

    /** This tensor with its outliers decided (after the histogram pass). */
    public Tensor withOutliers(ValueHistogram.Outliers o) {
      return new Tensor(index, name, file, dtype, shape, numel, offset, byteLength, group, bits,
          axis, o, dim, pruned);
    }

    /** This tensor with its pruned weights decided (after the histogram pass). */
    public Tensor withPruned(ValueHistogram.Pruned p) {
      return new Tensor(index, name, file, dtype, shape, numel, offset, byteLength, group, bits,
          axis, outliers, dim, p);
    }

    /** This tensor at another code width (a size target's allocation). */
    public Tensor withBits(int b) {
      return new Tensor(index, name, file, dtype, shape, numel, offset, byteLength, group, b,
          axis, outliers, dim, pruned);
    }

    /**
     * The axis vq sub-vectors run along: the input dimension, the last axis of a safetensors
     * tensor ({@code [out, in]}) and axis 0 of an ONNX one ({@code [in, out]}); an ONNX tensor
     * whose axis 0 is not a multiple of {@code dim} but whose last axis is (a table that a
     * Gather reads, {@code [vocab, hidden]}) takes the last.
     */
    public int vqAxis() {
      if (shape.length < 2) {
        return 0;
      }
      int last = shape.length - 1;
      if (axis == 0) {
        return last;
      }
      return shape[0] % dim != 0 && shape[last] % dim == 0 ? last : 0;
    }

    /** Codes of this compressed tensor: one per weight, or one per sub-vector of dim weights. */
    public long numCodes() {
      return numel / dim;
    }

    public boolean compressed() {
      return group >= 0;
    }

    /** Bytes of this tensor's packed codes, or of its dense bytes. */
    public long outputBytes() {
      return compressed() ? BitPacking.bytesRequired(numCodes(), bits * dim) : byteLength;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Tensor t && index == t.index && name.equals(t.name) && file == t.file
          && dtype == t.dtype && Arrays.equals(shape, t.shape) && offset == t.offset
          && byteLength == t.byteLength && group == t.group && bits == t.bits && axis == t.axis
          && outliers.equals(t.outliers) && dim == t.dim && pruned.equals(t.pruned);
    }

    @Override
    public int hashCode() {
      return name.hashCode() * 31 + index;
    }

    @Override
    public String toString() {
      return name + " " + dtype + Arrays.toString(shape)
          + (compressed() ? " -> group " + group + " @" + bits + " bits" : " dense");
    }
  }

  /** A group: tensors encoded by one spec (and, for kmeans with scope group, one codebook). */
  public record Group(int index, String name, EncodingSpec spec, int[] tensors)
      implements Serializable {
    public int bits() {
      return spec.bits();
    }

    public int k() {
      return spec.k();
    }

    public boolean perTensorScale() {
      return spec.perTensorScale();
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Group g && index == g.index && name.equals(g.name)
          && spec.equals(g.spec) && Arrays.equals(tensors, g.tensors);
    }

    @Override
    public int hashCode() {
      return name.hashCode();
    }

    @Override
    public String toString() {
      return "Group[" + index + " " + name + " " + spec.describe() + " tensors="
          + Arrays.toString(tensors) + "]";
    }
  }

  /**
   * This plan with each compressed tensor's outliers and pruned weights as decided from its
   * histogram (for groups whose spec keeps outliers or prunes: at most floor(fraction * numel)
   * of each per tensor, see {@link ValueHistogram#outliers} and {@link ValueHistogram#pruned});
   * tensors missing from the maps keep none.
   */
  public CompressionPlan withOutliersAndPruned(Map<Integer, ValueHistogram.Outliers> outliers,
      Map<Integer, ValueHistogram.Pruned> pruned) {
    List<Tensor> ts = new java.util.ArrayList<>(tensors.size());
    for (Tensor t : tensors) {
      Tensor u = t;
      if (t.compressed() && spec(t).outliers() > 0 && outliers.containsKey(t.index())) {
        u = u.withOutliers(outliers.get(t.index()));
      }
      if (t.compressed() && spec(t).prune() > 0 && pruned.containsKey(t.index())) {
        u = u.withPruned(pruned.get(t.index()));
      }
      ts.add(u);
    }
    return new CompressionPlan(sourceDirectory, sourceFiles, sourceFileLengths, ts, groups,
        histogramSplits, parts, warnings, keptDense, config);
  }

  /** As {@link #withOutliersAndPruned}, from whole histograms (tests, small tools). */
  public CompressionPlan withHistograms(Map<Integer, ValueHistogram> histograms) {
    Map<Integer, ValueHistogram.Outliers> o = new java.util.HashMap<>();
    Map<Integer, ValueHistogram.Pruned> p = new java.util.HashMap<>();
    for (Tensor t : tensors) {
      ValueHistogram h = histograms.get(t.index());
      if (h != null && t.compressed()) {
        o.put(t.index(), h.outliers((long) Math.floor(spec(t).outliers() * t.numel())));
        p.put(t.index(), h.pruned((long) Math.floor(spec(t).prune() * t.numel())));
      }
    }
    return withOutliersAndPruned(o, p);
  }

  /**
   * This plan with group {@code g} at code width {@code bits[g]} (its tensors too): how a size
   * target's allocation is applied. Parts keep their tensors.
   */
  public CompressionPlan withBits(int[] bits) {
    List<Group> gs = new java.util.ArrayList<>(groups.size());
    for (Group g : groups) {
      gs.add(new Group(g.index(), g.name(), g.spec().withBits(bits[g.index()]), g.tensors()));
    }
    List<Tensor> ts = new java.util.ArrayList<>(tensors.size());
    for (Tensor t : tensors) {
      ts.add(!t.compressed() ? t : t.withBits(bits[t.group()]));
    }
    return new CompressionPlan(sourceDirectory, sourceFiles, sourceFileLengths, ts, gs,
        histogramSplits, parts, warnings, keptDense, config);
  }

  /** The spec of a compressed tensor's group. */
  public EncodingSpec spec(Tensor t) {
    return groups.get(t.group()).spec();
  }

  /** Which weights of a compressed tensor share parameters. */
  public UnitLayout unitLayout(Tensor t) {
    return StoredTensor.layout(spec(t), t.shape(), t.axis());
  }

  /** The names under which a tensor's per-tensor parameters are stored beside its codes. */
  public static String codebookKey(String tensor) {
    return tensor + "::codebook";
  }

  public static String scaleKey(String tensor) {
    return tensor + "::scale";
  }

  public static String zeroKey(String tensor) {
    return tensor + "::zero";
  }

  /** The end offsets (U64) of an entropy-coded tensor's segments. */
  public static String segmentsKey(String tensor) {
    return tensor + "::segments";
  }

  public static String ladderKey(String tensor) {
    return tensor + "::ladder";
  }

  public static String outlierCountsKey(String tensor) {
    return tensor + "::outlier_counts";
  }

  public static String outlierIndexKey(String tensor) {
    return tensor + "::outlier_index";
  }

  public static String outlierValuesKey(String tensor) {
    return tensor + "::outlier_values";
  }

  /**
   * Stored bytes of a compressed tensor's per-tensor parameters (codebooks, scales, zeros,
   * ladders) and its outliers.
   */
  public long paramBytes(Tensor t) {
    return paramBytes(t, spec(t));
  }

  /** {@link #paramBytes(Tensor)} were the tensor encoded by {@code spec}. */
  public long paramBytes(Tensor t, EncodingSpec spec) {
    long outliers = spec.outliers() > 0
        ? SparseOutliers.bytes(t.numel(), t.outliers().count(), t.dtype()) : 0;
    return outliers + methodParamBytes(t, spec);
  }

  private long methodParamBytes(Tensor t, EncodingSpec spec) {
    if (spec.sharedCodebook() && !spec.blockScaled()) {
      return 0;
    }
    long units = unitLayout(t).numUnits();
    if (spec.blockScaled()) {
      EncodingSpec.ScalePrecision p = spec.scalePrecision();
      return p.ladder()
          ? io.sparticle.packing.BitPacking.bytesRequired(units, p.bits()) + 4L * p.ladderSize()
          : units * p.byteSize();
    }
    if (spec.method() == Method.KMEANS) {
      return units * spec.k() * spec.codebookPrecision().byteSize();
    }
    return units * (spec.scalePrecision().byteSize() + 1);
  }

  /**
   * A run of elements of one tensor. {@code numElements} is a multiple of 8 except for a
   * tensor's last slice, so packed codes of consecutive slices concatenate byte-aligned.
   */
  public record TensorSlice(int tensor, long firstElement, long numElements) implements Serializable {}

  /** The work of one histogram task: slices of one source file, at most chunk-bytes in all. */
  public record ReadSplit(int file, List<TensorSlice> slices) implements Serializable {
    public ReadSplit {
      slices = List.copyOf(slices);
    }
  }

  /**
   * Elements of one tensor handled at once: as many as fit in {@code chunkBytes}, rounded down to
   * a multiple of 8 so the packed codes of consecutive chunks concatenate byte-aligned (at least 8).
   */
  public static long elementsPerChunk(long chunkBytes, int elementSize) {
    return io.sparticle.format.TensorDecoder.elementsPerChunk(chunkBytes, elementSize);
  }

  /** One output data file and the source tensors it holds, in order. */
  public record OutputPart(int index, String fileName, int[] tensors) implements Serializable {
    @Override
    public boolean equals(Object o) {
      return o instanceof OutputPart p && index == p.index && fileName.equals(p.fileName)
          && Arrays.equals(tensors, p.tensors);
    }

    @Override
    public int hashCode() {
      return fileName.hashCode();
    }

    @Override
    public String toString() {
      return "OutputPart[" + fileName + " " + Arrays.toString(tensors) + "]";
    }
  }

  /**
   * The safetensors layout of an output part: compressed tensors as U8 [packed bytes] under their
   * original names, dense tensors as they were. The encode task writes it and the driver checks
   * the written size against it. Entropy-coded codes take their planned (bit-packed) length here:
   * their real length is known once written ({@link #entries}).
   */
  public SafetensorsLayout layout(OutputPart part) {
    return CheckpointWriter.layout(entries(part));
  }

  /** The header entries of an output part, in data order. */
  public List<CheckpointWriter.Entry> entries(OutputPart part) {
    List<CheckpointWriter.Entry> b = new java.util.ArrayList<>();
    for (int t : part.tensors()) {
      Tensor tensor = tensors.get(t);
      if (tensor.compressed()) {
        b.add(new CheckpointWriter.Entry(tensor.name(), DType.U8, new long[] {tensor.outputBytes()}));
        EncodingSpec spec = spec(tensor);
        if (spec.entropy() != EncodingSpec.Entropy.NONE) {
          b.add(new CheckpointWriter.Entry(segmentsKey(tensor.name()), DType.U64,
              new long[] {(tensor.numCodes() + spec.segmentCodes() - 1) / spec.segmentCodes()}));
        }
        long units = unitLayout(tensor).numUnits();
        if (spec.blockScaled()) {
          EncodingSpec.ScalePrecision p = spec.scalePrecision();
          if (p.ladder()) {
            b.add(new CheckpointWriter.Entry(scaleKey(tensor.name()), DType.U8,
                new long[] {io.sparticle.packing.BitPacking.bytesRequired(units, p.bits())}));
            b.add(new CheckpointWriter.Entry(ladderKey(tensor.name()), DType.F32,
                new long[] {p.ladderSize()}));
          } else {
            b.add(new CheckpointWriter.Entry(scaleKey(tensor.name()),
                p == EncodingSpec.ScalePrecision.F32 ? DType.F32 : DType.F16, new long[] {units}));
          }
        } else if (spec.perChannelCodebooks()) {
          b.add(new CheckpointWriter.Entry(codebookKey(tensor.name()),
              io.sparticle.format.Centroids.dtype(spec.codebookPrecision()),
              new long[] {units, spec.k()}));
        } else if (spec.method() == Method.UNIFORM) {
          b.add(new CheckpointWriter.Entry(scaleKey(tensor.name()),
              spec.scalePrecision() == EncodingSpec.ScalePrecision.F32 ? DType.F32 : DType.F16,
              new long[] {units}));
          b.add(new CheckpointWriter.Entry(zeroKey(tensor.name()), DType.U8, new long[] {units}));
        }
        if (spec.outliers() > 0) {
          long count = tensor.outliers().count();
          b.add(new CheckpointWriter.Entry(outlierCountsKey(tensor.name()), DType.U32,
              new long[] {SparseOutliers.segments(tensor.numel())}));
          b.add(new CheckpointWriter.Entry(outlierIndexKey(tensor.name()), DType.U16,
              new long[] {count}));
          b.add(new CheckpointWriter.Entry(outlierValuesKey(tensor.name()), tensor.dtype(),
              new long[] {count}));
        }
      } else {
        b.add(new CheckpointWriter.Entry(tensor.name(), tensor.dtype(), tensor.shape()));
      }
    }
    return b;
  }

  public long compressedParams() {
    long n = 0;
    for (Tensor t : tensors) {
      if (t.compressed()) {
        n += t.numel();
      }
    }
    return n;
  }

  public long totalParams() {
    long n = 0;
    for (Tensor t : tensors) {
      n += t.numel();
    }
    return n;
  }
}
