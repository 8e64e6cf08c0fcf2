package io.sparticle.plan;

import io.sparticle.plan.CompressionPlan.Group;
import io.sparticle.plan.CompressionPlan.OutputPart;
import io.sparticle.plan.CompressionPlan.ReadSplit;
import io.sparticle.plan.CompressionPlan.Tensor;
import io.sparticle.plan.CompressionPlan.TensorSlice;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.ValueHistogram;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;

/**
 * Turns validated headers and a job config into a {@link CompressionPlan}. Pure and
 * deterministic: no I/O, no Spark.
 *
 * <p>Names: a tensor is planned under its name, and an ONNX tensor with a node name
 * ({@link SourceCheckpoint.SourceTensor#node()}) also under that. A rule matches a tensor if its
 * regex matches the whole name or the whole node name (the name is tried first, and the capture
 * groups of the one matched fill the rule's group template); a group of one tensor, and the
 * {@code module} key, are made from the node name. The plan's tensors keep their names.
 *
 * <pre>{@code
 * CompressionPlan plan = CompressionPlanner.plan(source, JobConfig.defaults());
 * }</pre>
 */
public final class CompressionPlanner {
  private CompressionPlanner() {}

  public static CompressionPlan plan(SourceCheckpoint source, JobConfig config) {
    return plan(source, config, Map.of());
  }

  /**
   * As {@link #plan(SourceCheckpoint, JobConfig)}, but the tensors named in {@code keepDense}
   * stay dense whatever the rules say, each for the reason given (shown in warnings and the
   * report). The compress job re-plans this way when it finds NaN or Inf weights and the config
   * says {@code non-finite: keep-dense}.
   */
  public static CompressionPlan plan(SourceCheckpoint source, JobConfig config,
      Map<String, String> keepDense) {
    List<Tensor> tensors = new ArrayList<>();
    List<String> warnings = new ArrayList<>();
    Map<String, String> keptDense = new LinkedHashMap<>(); // in source order, whatever the map's
    Map<String, GroupBuilder> groups = new LinkedHashMap<>();
    List<String> fileNames = new ArrayList<>();
    List<Long> fileLengths = new ArrayList<>();
    // Output channels: rows of safetensors Linear weights [out, in], columns of ONNX MatMul
    // initializers [in, out].
    boolean onnx = source.onnx() != null;

    for (int f = 0; f < source.files().size(); f++) {
      SourceCheckpoint.SourceFile file = source.files().get(f);
      fileNames.add(file.name());
      fileLengths.add(file.length());
      for (SourceCheckpoint.SourceTensor info : file.tensors()) {
        int index = tensors.size();
        String reason = keepDense.get(info.name());
        Decision d;
        if (reason != null) {
          warnings.add("Tensor '" + info.name() + "' kept dense: " + reason);
          keptDense.put(info.name(), reason);
          d = null;
        } else {
          d = decide(info, config, warnings, onnx);
        }
        int group = -1;
        int bits = 0;
        if (d != null) {
          GroupBuilder g = groups.get(d.group);
          if (g == null) {
            g = new GroupBuilder(groups.size(), d.group, d.spec);
            groups.put(d.group, g);
          } else if (!g.spec.equals(d.spec)) {
            throw new IllegalArgumentException("Group '" + d.group + "' gets tensor '" + info.name()
                + "' as " + d.spec.describe() + ", but its earlier tensors are "
                + g.spec.describe() + ": rules that share a group must agree");
          }
          g.tensors.add(index);
          group = g.index;
          bits = d.spec.bits();
        }
        Tensor t = new Tensor(index, info.name(), f, info.dtype(), info.shape(), info.numel(),
            info.offset(), info.byteLength(), group, bits,
            onnx && info.rank() >= 2 ? info.rank() - 1 : 0, ValueHistogram.Outliers.NONE,
            d != null && d.spec.vector() ? d.spec.dim() : 1, ValueHistogram.Pruned.NONE);
        if (t.dim() > 1) {
          int a = t.vqAxis();
          long along = info.rank() == 0 ? 1 : info.shape()[a];
          if (along % t.dim() != 0) {
            // No remainder rule: a padded or dense tail would make the code count and the
            // decoder's loop depend on more than the shape. Refuse, saying how to get past it.
            throw new IllegalArgumentException("Tensor '" + info.name() + "' " + info.dtype()
                + java.util.Arrays.toString(info.shape()) + ": vq-dim " + t.dim()
                + " does not divide its input dimension (axis " + a + ", " + along
                + " weights); use a vq-dim that divides it, or a rule giving this tensor another "
                + "method or keep-dense");
          }
        }
        tensors.add(t);
      }
    }

    List<Group> groupList = new ArrayList<>();
    for (GroupBuilder g : groups.values()) {
      groupList.add(new Group(g.index, g.name, g.spec,
          g.tensors.stream().mapToInt(Integer::intValue).toArray()));
    }
    return new CompressionPlan(source.directory(), fileNames, fileLengths, tensors, groupList,
        splits(tensors, config.chunkBytes()), parts(tensors, config.outputShardBytes()), warnings,
        keptDense, config);
  }

  private record Decision(String group, EncodingSpec spec) {}

  /** Null means dense. */
  private static Decision decide(SourceCheckpoint.SourceTensor info, JobConfig config,
      List<String> warnings, boolean onnx) {
    for (GroupRule rule : config.rules()) {
      Matcher m = rule.match().matcher(info.name());
      if (!m.matches()) {
        if (info.node() == null) {
          continue;
        }
        m = rule.match().matcher(info.node());
        if (!m.matches()) {
          continue;
        }
      }
      if (rule.keepDense()) {
        return null;
      }
      if (!info.dtype().isCompressibleFloat()) {
        warnings.add("Tensor '" + info.name() + "' matches rule '" + rule.match().pattern()
            + "' but is " + info.dtype() + ": only F32, F16 and BF16 are compressed; kept dense");
        return null;
      }
      if (info.numel() == 0) {
        return null;
      }
      int bits = rule.bits() != null ? rule.bits() : config.bits();
      JobConfig.Encoding e = config.encoding();
      // A rule that names a method but no scope takes that method's default scope.
      EncodingSpec.Scope scope = rule.scope() != null ? rule.scope()
          : rule.method() != null && rule.method() != e.method() ? null : e.scope();
      EncodingSpec spec;
      try {
        spec = JobConfig.spec(bits, rule.method() != null ? rule.method() : e.method(), scope,
            rule.blockSize() != null ? rule.blockSize() : e.blockSize(),
            rule.codebookPrecision() != null ? rule.codebookPrecision() : config.codebookPrecision(),
            rule.scalePrecision() != null ? rule.scalePrecision() : e.scalePrecision(),
            rule.perTensorScale(), rule.outliers() != null ? rule.outliers() : e.outliers(),
            rule.vqDim() != null ? rule.vqDim()
                : rule.method() == null || rule.method() == e.method() ? e.vqDim() : null,
            rule.prune() != null ? rule.prune() : e.prune(),
            rule.entropy() != null ? rule.entropy() : e.entropy());
      } catch (IllegalArgumentException ex) {
        throw new IllegalArgumentException("Rule '" + rule.match().pattern() + "': " + ex.getMessage(), ex);
      }
      return new Decision(rule.groupName(m, info.groupingName()), spec);
    }
    if (info.dtype().isCompressibleFloat() && info.rank() >= config.minRank()
        && info.numel() >= config.minElements()) {
      boolean module = config.grouping() == JobConfig.Grouping.MODULE;
      JobConfig.Encoding e = config.encoding();
      EncodingSpec spec = JobConfig.spec(config.bits(), e.method(), e.scope(), e.blockSize(),
          config.codebookPrecision(), e.scalePrecision(), module, e.outliers(), e.vqDim(),
          e.prune(), e.entropy());
      String name = info.groupingName();
      return new Decision(module ? (onnx ? onnxModuleKey(name) : moduleKey(name)) : name, spec);
    }
    return null;
  }

  /** The tensor name with numeric path segments (layer indices) replaced by '*'. */
  static String moduleKey(String name) {
    return name.replaceAll("(^|\\.)\\d+(?=\\.|$)", "$1*");
  }

  /**
   * {@link #moduleKey} for ONNX names, whose segments '/' separates as well as '.':
   * {@code /encoder/layer.3/attention/self/query/MatMul} is
   * <code>/encoder/layer.&#42;/attention/self/query/MatMul</code>, the key of every layer's
   * query projection.
   */
  static String onnxModuleKey(String name) {
    return name.replaceAll("(^|[./])\\d+(?=[./]|$)", "$1*");
  }

  /**
   * Histogram work: consecutive compressed tensors of a file, cut into slices of at most
   * chunk-bytes, packed into splits of at most chunk-bytes.
   */
  static List<ReadSplit> splits(List<Tensor> tensors, long chunkBytes) {
    List<ReadSplit> splits = new ArrayList<>();
    List<TensorSlice> current = new ArrayList<>();
    long currentBytes = 0;
    int currentFile = -1;
    for (Tensor t : tensors) {
      if (!t.compressed()) {
        continue;
      }
      int elemSize = t.dtype().byteSize();
      long maxElems = CompressionPlan.elementsPerChunk(chunkBytes, elemSize);
      for (long first = 0; first < t.numel(); first += maxElems) {
        long n = Math.min(maxElems, t.numel() - first);
        long bytes = n * elemSize;
        if (!current.isEmpty() && (t.file() != currentFile || currentBytes + bytes > chunkBytes)) {
          splits.add(new ReadSplit(currentFile, current));
          current = new ArrayList<>();
          currentBytes = 0;
        }
        current.add(new TensorSlice(t.index(), first, n));
        currentFile = t.file();
        currentBytes += bytes;
      }
    }
    if (!current.isEmpty()) {
      splits.add(new ReadSplit(currentFile, current));
    }
    return splits;
  }

  /** Output files: tensors in source order, a new file once output-shard-bytes of input is reached. */
  static List<OutputPart> parts(List<Tensor> tensors, long outputShardBytes) {
    List<List<Integer>> groups = new ArrayList<>();
    List<Integer> current = new ArrayList<>();
    long bytes = 0;
    for (Tensor t : tensors) {
      if (!current.isEmpty() && bytes + t.byteLength() > outputShardBytes) {
        groups.add(current);
        current = new ArrayList<>();
        bytes = 0;
      }
      current.add(t.index());
      bytes += t.byteLength();
    }
    if (!current.isEmpty() || groups.isEmpty()) {
      groups.add(current);
    }
    List<OutputPart> parts = new ArrayList<>();
    for (int i = 0; i < groups.size(); i++) {
      parts.add(new OutputPart(i, partFileName(i, groups.size()),
          groups.get(i).stream().mapToInt(Integer::intValue).toArray()));
    }
    return parts;
  }

  public static String partFileName(int index, int count) {
    return String.format("part-%05d-of-%05d.safetensors", index + 1, count);
  }

  private static final class GroupBuilder {
    final int index;
    final String name;
    final EncodingSpec spec;
    final List<Integer> tensors = new ArrayList<>();

    GroupBuilder(int index, String name, EncodingSpec spec) {
      this.index = index;
      this.name = name;
      this.spec = spec;
    }
  }
}
