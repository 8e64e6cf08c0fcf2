package io.sparticle.plan;

import io.sparticle.format.DType;
import io.sparticle.format.SafetensorsHeader;
import io.sparticle.format.ShardIndex;
import io.sparticle.format.TensorInfo;
import io.sparticle.format.onnx.OnnxInitializer;
import io.sparticle.format.onnx.OnnxModel;
import io.sparticle.format.onnx.Payload;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The tensors of an input checkpoint as byte ranges of its files: what planning needs, read
 * without touching tensor data. Safetensors files and ONNX models both come down to this.
 *
 * @param directory the directory holding the files (a Hadoop path string)
 * @param files the files in order
 * @param index the HF shard index, or null when the checkpoint has none
 * @param onnx the ONNX model when the checkpoint is one, else null; its float initializers are
 *     the tensors of {@code files}
 */
public record SourceCheckpoint(String directory, List<SourceFile> files, ShardIndex index,
    OnnxModel onnx) {
  public SourceCheckpoint {
    files = List.copyOf(files);
  }

  /** A safetensors checkpoint. */
  public SourceCheckpoint(String directory, List<SourceFile> files, ShardIndex index) {
    this(directory, files, index, null);
  }

  /**
   * An ONNX model as byte ranges: one file per file holding compressible initializers (the
   * model, and external data files), each listing those initializers in offset order, with
   * their node names ({@link OnnxModel#nodeNames()}). All other bytes (graph, other
   * initializers) are left to the model's skeleton.
   */
  public static SourceCheckpoint ofOnnx(String directory, OnnxModel model) {
    Map<String, List<SourceTensor>> byFile = new LinkedHashMap<>();
    byFile.put(model.fileName(), new ArrayList<>());
    for (OnnxInitializer init : model.compressible()) {
      Payload p = init.payload();
      byFile.computeIfAbsent(p.file(), f -> new ArrayList<>()).add(new SourceTensor(init.name(),
          init.dtype().orElseThrow(), init.dims(), p.offset(), p.length(),
          model.nodeNames().get(init.name())));
    }
    List<SourceFile> files = new ArrayList<>();
    for (Map.Entry<String, List<SourceTensor>> e : byFile.entrySet()) {
      List<SourceTensor> ts = e.getValue();
      ts.sort(java.util.Comparator.comparingLong(SourceTensor::offset));
      files.add(new SourceFile(e.getKey(), model.fileLengths().get(e.getKey()), Map.of(), ts));
    }
    return new SourceCheckpoint(directory, files, null, model);
  }

  /**
   * One file of the checkpoint.
   *
   * @param metadata the safetensors {@code __metadata__} (empty for other formats)
   * @param tensors its tensors in file order
   */
  public record SourceFile(String name, long length, Map<String, String> metadata,
      List<SourceTensor> tensors) {
    public SourceFile {
      metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
      tensors = List.copyOf(tensors);
    }

    /** A validated safetensors file. */
    public SourceFile(String name, SafetensorsHeader header) {
      this(name, header.fileLength(), header.metadata(), tensorsOf(header));
    }

    private static List<SourceTensor> tensorsOf(SafetensorsHeader header) {
      List<SourceTensor> out = new ArrayList<>();
      for (TensorInfo t : header.tensors()) {
        out.add(new SourceTensor(t.name(), t.dtype(), t.shape(), header.absoluteOffset(t),
            t.byteLength()));
      }
      return out;
    }

    /** The tensor named {@code name}, or null. */
    public SourceTensor tensor(String name) {
      for (SourceTensor t : tensors) {
        if (t.name().equals(name)) {
          return t;
        }
      }
      return null;
    }
  }

  /**
   * A tensor's dtype, shape and bytes: {@code byteLength} bytes at absolute {@code offset}.
   *
   * @param name the tensor's name in the checkpoint (manifest, decompress and verify use it)
   * @param node ONNX: the name of the node that uses it ({@link OnnxModel#nodeNames()}), which
   *     grouping and reports use along with {@code name}; null if none (and for safetensors)
   */
  public record SourceTensor(String name, DType dtype, long[] shape, long offset, long byteLength,
      String node) {
    public SourceTensor {
      shape = shape.clone();
    }

    /** A tensor without a node name. */
    public SourceTensor(String name, DType dtype, long[] shape, long offset, long byteLength) {
      this(name, dtype, shape, offset, byteLength, null);
    }

    /** The name grouping keys this tensor by: its node name if it has one, else its name. */
    public String groupingName() {
      return node != null ? node : name;
    }

    @Override
    public long[] shape() {
      return shape.clone();
    }

    public int rank() {
      return shape.length;
    }

    public long numel() {
      return TensorInfo.numel(shape);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof SourceTensor t && name.equals(t.name) && dtype == t.dtype
          && Arrays.equals(shape, t.shape) && offset == t.offset && byteLength == t.byteLength
          && java.util.Objects.equals(node, t.node);
    }

    @Override
    public int hashCode() {
      return name.hashCode();
    }
  }

  /** The node names of the tensors that have one, by tensor name, in source order (ONNX only). */
  public Map<String, String> nodeNames() {
    Map<String, String> out = new LinkedHashMap<>();
    for (SourceFile f : files) {
      for (SourceTensor t : f.tensors()) {
        if (t.node() != null) {
          out.put(t.name(), t.node());
        }
      }
    }
    return Collections.unmodifiableMap(out);
  }

  public long totalBytes() {
    long total = 0;
    for (SourceFile f : files) {
      total = Math.addExact(total, f.length());
    }
    return total;
  }
}
