package io.sparticle.format.onnx;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * What {@link OnnxModelReader} found in an ONNX model: the model file's name, its IR version and
 * operator sets, the graph's initializers in file order, and the length of every file their
 * payloads lie in.
 *
 * <pre>{@code
 * OnnxModel model = OnnxModelReader.read(new LocalInputFile(path));
 * long params = 0;
 * for (OnnxInitializer init : model.compressible()) {
 *   params += init.numel();
 * }
 * }</pre>
 *
 * @param path the model file as the user named it, for messages
 * @param fileName the model file's name within its directory; {@link Payload#file()} of
 *     initializers stored in the model file
 * @param irVersion {@code ModelProto.ir_version}, 0 if absent
 * @param opsets {@code ModelProto.opset_import}: domain ({@code ""} is ai.onnx) to version
 * @param initializers in file order, names unique
 * @param fileLengths length of the model file and of every external data file, by file name
 * @param nodeNames the node names of compressible initializers, by initializer name, for
 *     grouping and reports ({@link OnnxGraph#nodeNames(List, List)}: the name of the first node
 *     that uses it); initializers without one are absent
 */
public record OnnxModel(
    String path,
    String fileName,
    long irVersion,
    Map<String, Long> opsets,
    List<OnnxInitializer> initializers,
    Map<String, Long> fileLengths,
    Map<String, String> nodeNames) {

  /** A model whose initializers are not named after nodes. */
  public OnnxModel(String path, String fileName, long irVersion, Map<String, Long> opsets,
      List<OnnxInitializer> initializers, Map<String, Long> fileLengths) {
    this(path, fileName, irVersion, opsets, initializers, fileLengths, Map.of());
  }

  public OnnxModel {
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(fileName, "fileName");
    opsets = Collections.unmodifiableMap(new LinkedHashMap<>(opsets));
    initializers = List.copyOf(initializers);
    fileLengths = Collections.unmodifiableMap(new LinkedHashMap<>(fileLengths));
    nodeNames = Collections.unmodifiableMap(new LinkedHashMap<>(nodeNames));
    if (!fileLengths.containsKey(fileName)) {
      throw new IllegalArgumentException("Cannot create model: no length for its file " + fileName);
    }
    Set<String> names = new HashSet<>();
    for (OnnxInitializer init : initializers) {
      if (!names.add(init.name())) {
        throw new IllegalArgumentException("Cannot create model: initializer '" + init.name() + "' twice");
      }
      Long length = fileLengths.get(init.payload().file());
      if (length == null || init.payload().end() > length) {
        throw new IllegalArgumentException(
            "Cannot create model: initializer '" + init.name() + "' payload " + init.payload()
                + " is outside the known files " + fileLengths);
      }
    }
    Set<String> nodes = new HashSet<>();
    for (Map.Entry<String, String> e : nodeNames.entrySet()) {
      if (!names.contains(e.getKey())) {
        throw new IllegalArgumentException(
            "Cannot create model: node name for '" + e.getKey() + "', which is no initializer");
      }
      // Grouping keys a tensor by its node name: two tensors of one name would share a group.
      if (e.getValue().isEmpty() || names.contains(e.getValue()) || !nodes.add(e.getValue())) {
        throw new IllegalArgumentException("Cannot create model: node name '" + e.getValue()
            + "' of '" + e.getKey() + "' is empty or not unique");
      }
    }
  }

  /** The initializer named {@code name}. */
  public OnnxInitializer initializer(String name) {
    for (OnnxInitializer init : initializers) {
      if (init.name().equals(name)) {
        return init;
      }
    }
    throw new IllegalArgumentException("No initializer '" + name + "' in " + path);
  }

  /** The initializers {@link OnnxInitializer#isCompressible()}, in file order. */
  public List<OnnxInitializer> compressible() {
    List<OnnxInitializer> out = new ArrayList<>();
    for (OnnxInitializer init : initializers) {
      if (init.isCompressible()) {
        out.add(init);
      }
    }
    return out;
  }

  /** Length of the model file. */
  public long fileLength() {
    return fileLengths.get(fileName);
  }
}
