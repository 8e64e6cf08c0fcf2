package io.sparticle.format.onnx;

import static io.sparticle.format.CheckpointFormatException.Reason.*;

import io.sparticle.format.CheckpointFormatException;
import io.sparticle.format.DType;
import io.sparticle.io.InputFile;
import io.sparticle.io.LocalInputFile;
import io.sparticle.io.RangeReader;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reads the initializers of an ONNX model (a serialized {@code onnx.ModelProto}) as byte ranges,
 * without a protobuf library and without reading their data.
 *
 * <p>What is read: {@code ModelProto.ir_version} (1), {@code opset_import} (8) and {@code graph}
 * (7); in the graph {@code initializer} (5) and {@code node} (1); in each TensorProto {@code dims}
 * (1, packed or not), {@code data_type} (2), {@code name} (8), {@code data_location} (14),
 * {@code external_data} (13), and the position of the data fields; in each NodeProto its name,
 * operator, inputs and outputs, from which compressible initializers get their node names
 * ({@link OnnxGraph#nodeNames(List, List)}). Everything else (graph inputs, sparse initializers,
 * Constant nodes' tensors, subgraphs, functions, training info) is skipped and, for rewriting,
 * left as is.
 *
 * <p>Supported as compressible element bytes ({@link OnnxInitializer#isCompressible()}): FLOAT,
 * FLOAT16 and BFLOAT16 tensors in {@code raw_data}, FLOAT tensors in one packed {@code float_data}
 * field, and all three in external data. Other types and encodings are reported with
 * {@link Payload.Kind#TYPED_DATA} or as non-float types, for callers to keep dense.
 *
 * <p>Checks, each a {@link CheckpointFormatException}: well-formed protobuf
 * ({@code INVALID_ONNX}); a graph is present; every initializer has a non-empty name, unique
 * ({@code DUPLICATE_KEY}); singular fields appear at most once; dims are non-negative
 * ({@code NEGATIVE_DIMENSION}) and their product and byte size fit a long ({@code SIZE_OVERFLOW});
 * at most one data field ({@code INVALID_ONNX}) and some data unless the tensor has no elements
 * ({@code NO_TENSOR_DATA}); for float element bytes, {@code length == numel * byteSize}
 * ({@code SIZE_MISMATCH}); external data has a {@code location} that is a plain file name in the
 * model's directory other than the model itself, and decimal {@code offset}/{@code length}
 * ({@code INVALID_EXTERNAL_DATA}); the file exists ({@code MISSING_EXTERNAL_FILE}); the range is
 * inside it ({@code DATA_PAST_EOF}) and overlaps no other initializer's ({@code
 * OVERLAPPING_TENSORS}). As in the ONNX reference loader, a missing {@code offset} means 0 and a
 * missing {@code length} means "to the end of the file".
 *
 * <pre>{@code
 * OnnxModel model = OnnxModelReader.read(Path.of("model.onnx"));          // local, external data ok
 * OnnxModel same = OnnxModelReader.read(inputFile, name -> siblingOf(inputFile, name));
 * }</pre>
 */
public final class OnnxModelReader {
  /** The files next to a model, by plain file name, for its external data. */
  @FunctionalInterface
  public interface Directory {
    /** The file {@code name} of the model's directory; it need not exist. */
    InputFile file(String name) throws IOException;

    /** Files of a local directory. */
    static Directory local(Path dir) {
      return name -> new LocalInputFile(dir.resolve(name));
    }
  }

  /** Longest initializer name or external data key/value read into memory. */
  static final int MAX_STRING_BYTES = 64 * 1024;

  // ModelProto, GraphProto, TensorProto and OperatorSetIdProto / StringStringEntryProto fields.
  private static final int MODEL_IR_VERSION = 1;
  private static final int MODEL_GRAPH = 7;
  private static final int MODEL_OPSET_IMPORT = 8;
  private static final int GRAPH_NODE = 1;
  private static final int GRAPH_INITIALIZER = 5;
  private static final int TENSOR_DIMS = 1;
  private static final int TENSOR_DATA_TYPE = 2;
  private static final int TENSOR_SEGMENT = 3;
  private static final int TENSOR_FLOAT_DATA = 4;
  private static final int TENSOR_INT32_DATA = 5;
  private static final int TENSOR_STRING_DATA = 6;
  private static final int TENSOR_INT64_DATA = 7;
  private static final int TENSOR_NAME = 8;
  private static final int TENSOR_RAW_DATA = 9;
  private static final int TENSOR_DOUBLE_DATA = 10;
  private static final int TENSOR_UINT64_DATA = 11;
  private static final int TENSOR_EXTERNAL_DATA = 13;
  private static final int TENSOR_DATA_LOCATION = 14;
  private static final int LOCATION_DEFAULT = 0;
  private static final int LOCATION_EXTERNAL = 1;

  private OnnxModelReader() {}

  /** Reads a model whose initializers are all inside the model file. */
  public static OnnxModel read(InputFile model) throws IOException {
    return read(model, null);
  }

  /** Reads a local model; external data files are looked up next to it. */
  public static OnnxModel read(Path model) throws IOException {
    Path dir = model.toAbsolutePath().getParent();
    return read(new LocalInputFile(model), Directory.local(dir));
  }

  /**
   * Reads a model whose external data files, if any, are {@code directory}'s files.
   *
   * @param directory the model's directory, or null if external data is an error
   */
  public static OnnxModel read(InputFile model, Directory directory) throws IOException {
    String path = model.path();
    String fileName = baseName(path);
    long fileLength = model.length();
    Parse parse = new Parse(path, fileName, directory);
    parse.fileLengths.put(fileName, fileLength);
    try (RangeReader in = model.open()) {
      parse.model(ProtoReader.over(path, in, fileLength));
    }
    parse.checkExternalOverlaps();
    List<String> compressible = new ArrayList<>();
    for (OnnxInitializer init : parse.initializers) {
      if (init.isCompressible()) {
        compressible.add(init.name());
      }
    }
    return new OnnxModel(path, fileName, parse.irVersion, parse.opsets, parse.initializers,
        parse.fileLengths, OnnxGraph.nodeNames(parse.nodes, compressible));
  }

  /** The last path segment: the name external data locations are relative to. */
  static String baseName(String path) {
    String p = path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
    return p.substring(p.lastIndexOf('/') + 1);
  }

  /** The state of reading one model. */
  private static final class Parse {
    final String path;
    final String fileName;
    final Directory directory;
    final Map<String, Long> fileLengths = new LinkedHashMap<>();
    final Map<String, Long> opsets = new LinkedHashMap<>();
    final List<OnnxInitializer> initializers = new ArrayList<>();
    final List<OnnxGraph.Node> nodes = new ArrayList<>();
    final Set<String> names = new HashSet<>();
    long irVersion;

    Parse(String path, String fileName, Directory directory) {
      this.path = path;
      this.fileName = fileName;
      this.directory = directory;
    }

    void model(ProtoReader m) throws IOException {
      boolean graphSeen = false;
      while (m.next()) {
        switch (m.fieldNumber()) {
          case MODEL_IR_VERSION -> {
            m.expectWireType(ProtoReader.VARINT, "ModelProto.ir_version");
            irVersion = m.readVarint();
          }
          case MODEL_OPSET_IMPORT -> {
            m.expectWireType(ProtoReader.LEN, "ModelProto.opset_import");
            opset(m.message());
          }
          case MODEL_GRAPH -> {
            m.expectWireType(ProtoReader.LEN, "ModelProto.graph");
            // Protobuf would merge a second graph into the first; no writer does that.
            if (graphSeen) {
              throw m.error("ModelProto.graph appears twice (second at byte " + m.tagOffset() + ")");
            }
            graphSeen = true;
            graph(m.message());
          }
          default -> m.skip();
        }
      }
      if (!graphSeen) {
        throw m.error("ModelProto has no graph (field 7)");
      }
    }

    void opset(ProtoReader o) throws IOException {
      String domain = "";
      long version = 0;
      while (o.next()) {
        if (o.fieldNumber() == 1 && o.wireType() == ProtoReader.LEN) {
          domain = o.readString(MAX_STRING_BYTES);
        } else if (o.fieldNumber() == 2 && o.wireType() == ProtoReader.VARINT) {
          version = o.readVarint();
        } else {
          o.skip();
        }
      }
      opsets.put(domain, version);
    }

    void graph(ProtoReader g) throws IOException {
      while (g.next()) {
        if (g.fieldNumber() == GRAPH_INITIALIZER) {
          g.expectWireType(ProtoReader.LEN, "GraphProto.initializer");
          long at = g.tagOffset();
          initializers.add(tensor(g.message(), initializers.size(), at));
        } else if (g.fieldNumber() == GRAPH_NODE) {
          g.expectWireType(ProtoReader.LEN, "GraphProto.node");
          nodes.add(OnnxGraph.node(g.message()));
        } else {
          g.skip();
        }
      }
    }

    /** Reads initializer number {@code index}, whose tag is at byte {@code at}. */
    OnnxInitializer tensor(ProtoReader t, int index, long at) throws IOException {
      String where = "initializer #" + index + " at byte " + at;
      long[] dims = new long[4];
      int rank = 0;
      int dataType = 0;
      boolean dataTypeSeen = false;
      String name = null;
      Integer dataLocation = null;
      ProtoReader.Range raw = null;
      // float_data as exactly one packed field; anything else in float_data makes it typed data.
      ProtoReader.Range packedFloats = null;
      boolean floatDataOther = false;
      // The span of the typed data fields, and which of them occur.
      long typedStart = -1;
      long typedEnd = -1;
      Set<String> dataFields = new TreeSet<>();
      Map<String, String> external = null;
      boolean segmented = false;

      while (t.next()) {
        int field = t.fieldNumber();
        long tagAt = t.tagOffset();
        switch (field) {
          case TENSOR_DIMS -> {
            if (t.wireType() == ProtoReader.VARINT) {
              dims = add(dims, rank++, t.readVarint());
            } else if (t.wireType() == ProtoReader.LEN) {
              ProtoReader packed = t.slice(t.readLengthDelimited());
              while (packed.hasRemaining()) {
                dims = add(dims, rank++, packed.readVarint());
              }
            } else {
              t.expectWireType(ProtoReader.VARINT, "TensorProto.dims");
            }
          }
          case TENSOR_DATA_TYPE -> {
            t.expectWireType(ProtoReader.VARINT, "TensorProto.data_type");
            once(t, dataTypeSeen, "data_type");
            dataTypeSeen = true;
            dataType = (int) t.readVarint();
          }
          case TENSOR_NAME -> {
            t.expectWireType(ProtoReader.LEN, "TensorProto.name");
            once(t, name != null, "name");
            name = t.readString(MAX_STRING_BYTES);
            if (!name.isEmpty()) {
              t.context(name);
            }
          }
          case TENSOR_RAW_DATA -> {
            t.expectWireType(ProtoReader.LEN, "TensorProto.raw_data");
            once(t, raw != null, "raw_data");
            raw = t.readLengthDelimited();
            dataFields.add("raw_data");
          }
          case TENSOR_DATA_LOCATION -> {
            t.expectWireType(ProtoReader.VARINT, "TensorProto.data_location");
            once(t, dataLocation != null, "data_location");
            dataLocation = (int) t.readVarint();
          }
          case TENSOR_EXTERNAL_DATA -> {
            t.expectWireType(ProtoReader.LEN, "TensorProto.external_data");
            if (external == null) {
              external = new LinkedHashMap<>();
            }
            entry(t.message(), external, name);
          }
          case TENSOR_SEGMENT -> {
            segmented = true;
            t.skip();
          }
          case TENSOR_FLOAT_DATA, TENSOR_INT32_DATA, TENSOR_STRING_DATA, TENSOR_INT64_DATA,
              TENSOR_DOUBLE_DATA, TENSOR_UINT64_DATA -> {
            if (field == TENSOR_FLOAT_DATA) {
              if (t.wireType() == ProtoReader.LEN && packedFloats == null && !floatDataOther) {
                packedFloats = t.readLengthDelimited();
              } else {
                floatDataOther = true;
                t.skip();
              }
            } else {
              t.skip();
            }
            typedStart = typedStart < 0 ? tagAt : typedStart;
            typedEnd = t.position();
            dataFields.add(typedFieldName(field));
          }
          default -> t.skip();
        }
      }
      long tensorEnd = t.position();

      if (name == null || name.isEmpty()) {
        throw t.error(where + " has no name");
      }
      if (!names.add(name)) {
        throw new CheckpointFormatException(DUPLICATE_KEY, path, name, "two initializers have this name");
      }
      dims = Arrays.copyOf(dims, rank);
      for (int i = 0; i < rank; i++) {
        if (dims[i] < 0) {
          throw new CheckpointFormatException(
              NEGATIVE_DIMENSION, path, name, "dims " + Arrays.toString(dims) + " have a negative value");
        }
      }
      long numel;
      try {
        numel = 1;
        for (long d : dims) {
          numel = Math.multiplyExact(numel, d);
        }
      } catch (ArithmeticException e) {
        throw new CheckpointFormatException(
            SIZE_OVERFLOW, path, name, "dims " + Arrays.toString(dims) + " have more elements than fit in a long");
      }
      String type = OnnxInitializer.typeName(dataType);
      if (segmented) {
        // Segments split one tensor over several TensorProtos; ONNX does not use them for
        // initializers, and a segment's data is not the whole tensor's.
        throw t.error("segmented tensors (TensorProto.segment) are not supported");
      }

      int location = dataLocation == null ? LOCATION_DEFAULT : dataLocation;
      if (location != LOCATION_DEFAULT && location != LOCATION_EXTERNAL) {
        throw t.error("data_location " + location + " is neither DEFAULT (0) nor EXTERNAL (1)");
      }
      if (location == LOCATION_EXTERNAL) {
        if (external == null) {
          throw new CheckpointFormatException(
              INVALID_EXTERNAL_DATA, path, name, "data_location is EXTERNAL but there is no external_data");
        }
        dataFields.add("external_data");
      } else if (external != null) {
        throw new CheckpointFormatException(
            INVALID_EXTERNAL_DATA, path, name, "has external_data but data_location is not EXTERNAL");
      }
      if (dataFields.size() > 1) {
        throw t.error("has more than one data field: " + String.join(", ", dataFields));
      }

      Payload payload;
      if (location == LOCATION_EXTERNAL) {
        payload = externalPayload(name, external);
      } else if (raw != null) {
        payload = new Payload(fileName, raw.offset(), raw.length(), Payload.Kind.RAW);
      } else if (packedFloats != null && !floatDataOther && dataType == OnnxInitializer.FLOAT) {
        payload = new Payload(fileName, packedFloats.offset(), packedFloats.length(), Payload.Kind.FLOAT_DATA);
      } else if (typedStart >= 0) {
        payload = new Payload(fileName, typedStart, typedEnd - typedStart, Payload.Kind.TYPED_DATA);
      } else if (numel == 0) {
        payload = new Payload(fileName, tensorEnd, 0, Payload.Kind.NONE);
      } else {
        throw new CheckpointFormatException(
            NO_TENSOR_DATA, path, name,
            "no data field for dims " + Arrays.toString(dims) + " of " + type + " (" + where + ")");
      }

      Optional<DType> dtype = OnnxInitializer.toDType(dataType);
      if (dtype.isPresent() && payload.isElementBytes()) {
        long needed;
        try {
          needed = Math.multiplyExact(numel, (long) dtype.get().byteSize());
        } catch (ArithmeticException e) {
          throw new CheckpointFormatException(
              SIZE_OVERFLOW, path, name,
              "dims " + Arrays.toString(dims) + " of " + type + " need more bytes than fit in a long");
        }
        if (payload.length() != needed) {
          throw new CheckpointFormatException(
              SIZE_MISMATCH, path, name,
              describe(payload) + " holds " + payload.length() + " bytes but dims " + Arrays.toString(dims)
                  + " of " + type + " need " + needed);
        }
      }
      return new OnnxInitializer(name, dataType, dims, numel, payload);
    }

    /** Reads one {@code StringStringEntryProto {1: key, 2: value}} into {@code entries}. */
    void entry(ProtoReader e, Map<String, String> entries, String tensor) throws IOException {
      String key = null;
      String value = "";
      while (e.next()) {
        if (e.fieldNumber() == 1) {
          e.expectWireType(ProtoReader.LEN, "StringStringEntryProto.key");
          key = e.readString(MAX_STRING_BYTES);
        } else if (e.fieldNumber() == 2) {
          e.expectWireType(ProtoReader.LEN, "StringStringEntryProto.value");
          value = e.readString(MAX_STRING_BYTES);
        } else {
          e.skip();
        }
      }
      if (key == null) {
        throw new CheckpointFormatException(INVALID_EXTERNAL_DATA, path, tensor, "external_data entry has no key");
      }
      if (entries.put(key, value) != null) {
        throw new CheckpointFormatException(
            INVALID_EXTERNAL_DATA, path, tensor, "external_data has key '" + key + "' twice");
      }
    }

    Payload externalPayload(String name, Map<String, String> external) throws IOException {
      String location = external.get("location");
      if (location == null) {
        throw new CheckpointFormatException(
            INVALID_EXTERNAL_DATA, path, name, "external_data has no 'location' (keys: " + external.keySet() + ")");
      }
      // Payloads are addressed as files of the model's directory; anything that could reach
      // elsewhere (subdirectories, parents, absolute or scheme-qualified paths) is refused.
      if (location.isEmpty() || location.equals(".") || location.equals("..")
          || location.chars().anyMatch(c -> c == '/' || c == '\\' || c == ':' || c == 0)) {
        throw new CheckpointFormatException(
            INVALID_EXTERNAL_DATA, path, name,
            "external_data location '" + location + "' is not a plain file name in the model's directory");
      }
      if (location.equals(fileName)) {
        throw new CheckpointFormatException(
            INVALID_EXTERNAL_DATA, path, name, "external_data location '" + location + "' is the model file itself");
      }
      long offset = decimal(name, external, "offset", 0);
      long length = decimal(name, external, "length", -1);
      long fileLength = externalLength(name, location);
      if (offset > fileLength) {
        throw new CheckpointFormatException(
            DATA_PAST_EOF, path, name,
            "external_data offset " + offset + " is past the end of " + location + " (" + fileLength + " bytes)");
      }
      if (length < 0) {
        length = fileLength - offset;
      } else if (length > fileLength - offset) {
        throw new CheckpointFormatException(
            DATA_PAST_EOF, path, name,
            "external_data [" + offset + ", " + offset + " + " + length + ") ends past the end of " + location
                + " (" + fileLength + " bytes)");
      }
      return new Payload(location, offset, length, Payload.Kind.EXTERNAL);
    }

    /** The non-negative decimal value of {@code key}, or {@code missing} if absent. */
    long decimal(String name, Map<String, String> external, String key, long missing)
        throws CheckpointFormatException {
      String v = external.get(key);
      if (v == null) {
        return missing;
      }
      if (v.isEmpty() || v.length() > 18 || !v.chars().allMatch(c -> c >= '0' && c <= '9')) {
        throw new CheckpointFormatException(
            INVALID_EXTERNAL_DATA, path, name, "external_data " + key + " '" + v + "' is not a decimal byte count");
      }
      return Long.parseLong(v);
    }

    long externalLength(String name, String location) throws IOException {
      Long known = fileLengths.get(location);
      if (known != null) {
        return known;
      }
      if (directory == null) {
        throw new CheckpointFormatException(
            INVALID_EXTERNAL_DATA, path, name,
            "data is in external file '" + location + "', but no directory was given to find it");
      }
      long length;
      try {
        length = directory.file(location).length();
      } catch (NoSuchFileException | FileNotFoundException e) {
        throw new CheckpointFormatException(
            MISSING_EXTERNAL_FILE, path, name, "external data file '" + location + "' does not exist", e);
      }
      fileLengths.put(location, length);
      return length;
    }

    /** Payloads inside the model file cannot overlap (protobuf nests them); external ones can. */
    void checkExternalOverlaps() throws CheckpointFormatException {
      Map<String, List<OnnxInitializer>> byFile = new HashMap<>();
      for (OnnxInitializer init : initializers) {
        if (init.payload().kind() == Payload.Kind.EXTERNAL && init.payload().length() > 0) {
          byFile.computeIfAbsent(init.payload().file(), f -> new ArrayList<>()).add(init);
        }
      }
      for (List<OnnxInitializer> inits : byFile.values()) {
        inits.sort(Comparator.comparingLong(i -> i.payload().offset()));
        for (int i = 1; i < inits.size(); i++) {
          Payload prev = inits.get(i - 1).payload();
          Payload cur = inits.get(i).payload();
          if (cur.offset() < prev.end()) {
            throw new CheckpointFormatException(
                OVERLAPPING_TENSORS, path, inits.get(i).name(),
                "external data [" + cur.offset() + ", " + cur.end() + ") of " + cur.file() + " overlaps initializer '"
                    + inits.get(i - 1).name() + "' at [" + prev.offset() + ", " + prev.end() + ")");
          }
        }
      }
    }

    private void once(ProtoReader t, boolean seen, String field) throws CheckpointFormatException {
      // Protobuf keeps the last of repeated singular fields; two of them means a broken writer,
      // and guessing which one a runtime uses could silently pick the wrong bytes.
      if (seen) {
        throw t.error("TensorProto." + field + " appears twice (second at byte " + t.tagOffset() + ")");
      }
    }
  }

  private static long[] add(long[] values, int n, long value) {
    long[] out = n == values.length ? Arrays.copyOf(values, 2 * n) : values;
    out[n] = value;
    return out;
  }

  private static String typedFieldName(int field) {
    return switch (field) {
      case TENSOR_FLOAT_DATA -> "float_data";
      case TENSOR_INT32_DATA -> "int32_data";
      case TENSOR_STRING_DATA -> "string_data";
      case TENSOR_INT64_DATA -> "int64_data";
      case TENSOR_DOUBLE_DATA -> "double_data";
      default -> "uint64_data";
    };
  }

  private static String describe(Payload p) {
    return switch (p.kind()) {
      case RAW -> "raw_data at byte " + p.offset();
      case FLOAT_DATA -> "float_data at byte " + p.offset();
      case EXTERNAL -> "external data [" + p.offset() + ", " + p.end() + ") of " + p.file();
      default -> p.kind() + " at byte " + p.offset();
    };
  }
}
