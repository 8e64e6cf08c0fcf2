package io.sparticle.format;

import io.sparticle.format.CheckpointFormatException.Reason;
import io.sparticle.io.Directory;
import io.sparticle.io.InputFile;
import io.sparticle.io.RangeReader;
import io.sparticle.packing.BitPacking;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.EncodingSpec.Method;
import io.sparticle.quant.UnitLayout;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The reader of compressed checkpoints (format versions 1 and 2; FORMAT.md), free of Spark:
 * {@link #open} checks {@code _SUCCESS}, parses the manifest and checks every listed file's size;
 * {@link #tensors} checks every tensor against its data file and codebook and returns what a
 * decoder needs. Decompress, verify, inspect, evaluate and the CLI read through it.
 *
 * <pre>{@code
 * CompressedCheckpoint c = CompressedCheckpoint.open(HadoopDirectory.of("s3a://m/llama-4bit", conf));
 * for (StoredTensor t : c.tensors()) { ... TensorDecoder.decode(t, reader, sink, chunk, () -> {}); }
 * }</pre>
 */
public final class CompressedCheckpoint {
  public static final String SUCCESS = "_SUCCESS";

  private final Directory dir;
  private final Manifest manifest;

  private CompressedCheckpoint(Directory dir, Manifest manifest) {
    this.dir = dir;
    this.manifest = manifest;
  }

  /**
   * Opens a committed checkpoint: {@code _SUCCESS}, a valid manifest, every listed file present
   * with its listed size.
   *
   * @throws FileNotFoundException if the directory does not exist
   * @throws CheckpointFormatException naming the first problem
   */
  public static CompressedCheckpoint open(Directory dir) throws IOException {
    if (!dir.exists(SUCCESS)) {
      if (!dir.exists()) {
        throw new FileNotFoundException("Input " + dir.path() + " does not exist");
      }
      throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, dir.path(), null,
          "no " + SUCCESS + " marker: the compressed checkpoint is incomplete or is not one");
    }
    String m = dir.child(Manifest.FILE_NAME);
    long len = dir.length(Manifest.FILE_NAME);
    if (len < 0) {
      throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, m, null, "missing");
    }
    if (len > Manifest.MAX_BYTES) {
      throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, m, null,
          "manifest is " + len + " bytes, over the limit of " + Manifest.MAX_BYTES);
    }
    byte[] json = new byte[(int) len];
    try (RangeReader r = dir.file(Manifest.FILE_NAME, len).open()) {
      r.readFully(0, json, 0, json.length);
    }
    Manifest manifest = Manifest.parse(m, json);
    for (Manifest.FileEntry f : manifest.files()) {
      long size = dir.length(f.name());
      if (size < 0) {
        throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, dir.child(f.name()), null,
            "listed in the manifest but missing");
      }
      if (size != f.size()) {
        throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, dir.child(f.name()), null,
            "is " + size + " bytes but the manifest says " + f.size());
      }
    }
    for (Manifest.Extra e : manifest.extras()) {
      if (dir.length(e.name()) < 0) {
        throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, dir.child(e.name()), null,
            "listed in the manifest's extras but missing");
      }
    }
    return new CompressedCheckpoint(dir, manifest);
  }

  public Manifest manifest() {
    return manifest;
  }

  public Directory directory() {
    return dir;
  }

  /** The listed size of a manifest file. */
  public long sizeOf(String file) {
    for (Manifest.FileEntry f : manifest.files()) {
      if (f.name().equals(file)) {
        return f.size();
      }
    }
    throw new IllegalStateException(file + " is not among the manifest's files");
  }

  /**
   * Every tensor, in manifest order, checked: shared codebooks finite and of shape [k], each
   * data file's header valid, each tensor (and its per-tensor parameters) stored under its key
   * with the dtype and size the manifest implies.
   */
  public List<StoredTensor> tensors() throws IOException {
    float[][] codebooks = readCodebooks();
    Map<String, SafetensorsHeader> headers = new HashMap<>();
    for (Manifest.TensorEntry t : manifest.tensors()) {
      if (!headers.containsKey(t.file())) {
        headers.put(t.file(), SafetensorsReader.readHeader(dir.file(t.file(), sizeOf(t.file()))));
      }
    }
    List<StoredTensor> out = new ArrayList<>(manifest.tensors().size());
    for (Manifest.TensorEntry t : manifest.tensors()) {
      out.add(resolve(t, headers.get(t.file()), codebooks));
    }
    return out;
  }

  /** {@link #tensors()} by source file, in source order. */
  public Map<String, List<StoredTensor>> tensorsBySource() throws IOException {
    Map<String, List<StoredTensor>> bySource = new LinkedHashMap<>();
    for (Manifest.SourceFileEntry f : manifest.source().files()) {
      bySource.put(f.name(), new ArrayList<>());
    }
    List<StoredTensor> all = tensors();
    for (int i = 0; i < all.size(); i++) {
      bySource.get(manifest.tensors().get(i).sourceFile()).add(all.get(i));
    }
    return bySource;
  }

  private float[][] readCodebooks() throws IOException {
    String name = manifest.codebooksFile();
    InputFile file = dir.file(name, sizeOf(name));
    SafetensorsHeader header = SafetensorsReader.readHeader(file);
    float[][] books = new float[manifest.groups().size()][];
    try (RangeReader r = file.open()) {
      for (int g = 0; g < books.length; g++) {
        Manifest.GroupEntry ge = manifest.groups().get(g);
        if (ge.codebook() == null) {
          continue;
        }
        TensorInfo t = header.tensor(ge.codebook());
        DType want = Centroids.dtype(ge.codebookPrecision());
        int dim = ge.spec().dim();
        long[] shape = dim == 1 ? new long[] {ge.k()} : new long[] {ge.k(), dim};
        boolean ok = t != null && Arrays.equals(t.shape(), shape)
            && (ge.codebookPrecision().isStep() ? t.dtype() == want : t.dtype().isCompressibleFloat());
        if (!ok) {
          throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, dir.child(name), ge.codebook(),
              "codebook of group '" + ge.name() + "' must be a "
                  + (ge.codebookPrecision().isStep() ? "I16" : "float") + " tensor of shape "
                  + Arrays.toString(shape));
        }
        byte[] raw = new byte[(int) t.byteLength()];
        r.readFully(header.absoluteOffset(t), raw, 0, raw.length);
        float[] c = new float[ge.k() * dim];
        for (int i = 0; i < c.length; i++) {
          c[i] = Centroids.get(raw, i, t.dtype(), ge.codebookPrecision());
          if (!Float.isFinite(c[i])) {
            throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, dir.child(name), ge.codebook(),
                "codebook entry " + i + " is not finite");
          }
        }
        books[g] = c;
      }
    }
    return books;
  }

  private StoredTensor resolve(Manifest.TensorEntry t, SafetensorsHeader header, float[][] codebooks)
      throws CheckpointFormatException {
    String file = dir.child(t.file());
    TensorInfo stored = header.tensor(t.key());
    if (stored == null) {
      throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, file, t.name(),
          "tensor '" + t.key() + "' named by the manifest is not in the file");
    }
    DType dtype = DType.fromName(t.dtype()).orElseThrow();
    long numel = t.numel();
    if (t.dense()) {
      if (stored.dtype() != dtype || !Arrays.equals(stored.shape(), t.shape())) {
        throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, file, t.name(),
            "stored as " + stored.dtype() + Arrays.toString(stored.shape())
                + " but the manifest says " + dtype + Arrays.toString(t.shape()));
      }
      return new StoredTensor(t.name(), dtype, t.shape(), file, header.fileLength(),
          header.absoluteOffset(stored), stored.byteLength(), null, null, 1f, -1, null, null, null,
          null, null, null, null, null, 0);
    }
    Manifest.GroupEntry group = manifest.groups().get(t.group());
    EncodingSpec spec = group.spec();
    long numCodes = numel / spec.dim();
    StoredTensor.Aux segments = null;
    long packed;
    if (spec.entropy() == EncodingSpec.Entropy.NONE) {
      packed = BitPacking.bytesRequired(numCodes, spec.codeBits());
      if (stored.dtype() != DType.U8 || stored.byteLength() != packed) {
        throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, file, t.name(),
            "codes must be U8 [" + packed + "] for " + numCodes + " codes at " + spec.codeBits()
                + " bits, found " + stored.dtype() + Arrays.toString(stored.shape()));
      }
    } else {
      packed = stored.byteLength();
      if (stored.dtype() != DType.U8 || stored.rank() != 1) {
        throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, file, t.name(),
            "entropy-coded codes must be a U8 vector, found " + stored.dtype()
                + Arrays.toString(stored.shape()));
      }
      long count = (numCodes + group.segmentCodes() - 1) / group.segmentCodes();
      segments = aux(header, file, t, t.segmentsKey(), DType.U64, new long[] {count});
    }
    UnitLayout layout;
    try {
      layout = StoredTensor.layout(spec, t.shape(), t.axis());
    } catch (IllegalArgumentException e) {
      throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, file, t.name(), e.getMessage());
    }
    long units = layout.numUnits();
    StoredTensor.Aux codebook = null;
    StoredTensor.Aux scales = null;
    StoredTensor.Aux zeros = null;
    StoredTensor.Aux ladder = null;
    if (spec.blockScaled()) {
      EncodingSpec.ScalePrecision p = spec.scalePrecision();
      if (p.ladder()) {
        scales = aux(header, file, t, t.scaleKey(), DType.U8,
            new long[] {io.sparticle.packing.BitPacking.bytesRequired(units, p.bits())});
        ladder = aux(header, file, t, t.ladderKey(), DType.F32, new long[] {p.ladderSize()});
      } else {
        scales = aux(header, file, t, t.scaleKey(),
            p == EncodingSpec.ScalePrecision.F32 ? DType.F32 : DType.F16, new long[] {units});
      }
    } else if (spec.perChannelCodebooks()) {
      codebook = aux(header, file, t, t.codebookKey(),
          Centroids.dtype(spec.codebookPrecision()), new long[] {units, spec.k()});
    } else if (spec.method() == Method.UNIFORM) {
      scales = aux(header, file, t, t.scaleKey(),
          spec.scalePrecision() == EncodingSpec.ScalePrecision.F32 ? DType.F32 : DType.F16,
          new long[] {units});
      zeros = aux(header, file, t, t.zeroKey(), DType.U8, new long[] {units});
    }
    return new StoredTensor(t.name(), dtype, t.shape(), file, header.fileLength(),
        header.absoluteOffset(stored), packed, spec,
        spec.sharedCodebook() ? codebooks[t.group()] : null, t.scale(), t.axis(),
        codebook, scales, zeros, ladder, sparse(header, file, t, spec, dtype), segments,
        t.pruned() == null ? null : new io.sparticle.quant.ValueHistogram.Pruned(
            t.pruned().threshold(), t.pruned().count()),
        group.mixture(), group.segmentCodes());
  }

  private static StoredTensor.Sparse sparse(SafetensorsHeader header, String file,
      Manifest.TensorEntry t, EncodingSpec spec, DType dtype) throws CheckpointFormatException {
    if (spec.outliers() == 0) {
      return null;
    }
    Manifest.Outliers o = t.outliers();
    if (o.count() > t.numel()) {
      throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, file, t.name(),
          o.count() + " outliers in a tensor of " + t.numel() + " weights");
    }
    return new StoredTensor.Sparse(o.count(), o.threshold(),
        aux(header, file, t, o.countsKey(), DType.U32, new long[] {SparseOutliers.segments(t.numel())}),
        aux(header, file, t, o.indexKey(), DType.U16, new long[] {o.count()}),
        aux(header, file, t, o.valuesKey(), dtype, new long[] {o.count()}));
  }

  private static StoredTensor.Aux aux(SafetensorsHeader header, String file, Manifest.TensorEntry t,
      String key, DType dtype, long[] shape) throws CheckpointFormatException {
    TensorInfo a = header.tensor(key);
    if (a == null || a.dtype() != dtype || !Arrays.equals(a.shape(), shape)) {
      throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, file, t.name(),
          "'" + key + "' must be " + dtype + Arrays.toString(shape) + ", found "
              + (a == null ? "nothing" : a.dtype() + Arrays.toString(a.shape())));
    }
    return new StoredTensor.Aux(key, dtype, header.absoluteOffset(a), a.byteLength());
  }
}
