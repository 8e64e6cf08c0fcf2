package io.sparticle.format;

import io.sparticle.io.RangeReader;
import io.sparticle.packing.BitPacking;
import io.sparticle.quant.BlockScales;
import io.sparticle.quant.ChannelKMeans;
import io.sparticle.quant.Codebook;
import io.sparticle.quant.CodebookPrecision;
import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.EncodingSpec.Method;
import io.sparticle.quant.EncodingSpec.ScalePrecision;
import io.sparticle.quant.ErrorStats;
import io.sparticle.quant.Importance;
import io.sparticle.quant.HalfFloats;
import io.sparticle.quant.KMeansCodec;
import io.sparticle.quant.TensorCodec;
import io.sparticle.quant.UniformCodec;
import io.sparticle.quant.UnitLayout;
import io.sparticle.quant.ValueHistogram;
import io.sparticle.quant.ValueKind;
import io.sparticle.quant.VqCodebook;
import java.io.IOException;

/**
 * Encodes one tensor's weights, read from its source, to packed codes (and, for methods with
 * per-tensor parameters, those parameters' stored bytes), measuring the exact error of what a
 * decoder will write: the one code path of the encode pass, also used by
 * {@code verify --against} to re-derive the codes a checkpoint must hold.
 *
 * <ul>
 *   <li>kmeans, scope group: the group's codebook at the tensor's scale; a 65,536-entry lookup
 *       table per 16-bit dtype, binary search for F32.
 *   <li>kmeans, scope channel: one codebook per output channel fitted here
 *       ({@link ChannelKMeans}), rounded to the codebook precision. Rows stream chunk by chunk;
 *       columns (ONNX [in, out]) need the whole tensor in memory.
 *   <li>uniform: a first pass finds each unit's minimum and maximum, a second encodes.
 * </ul>
 *
 * <pre>{@code
 * TensorEncoder.Encoded e = TensorEncoder.encode(in, offset, DType.BF16, shape, 0, spec,
 *     codebook, scale, 64 << 20, (first, n, packed, bytes) -> out.write(packed, 0, bytes), () -> {});
 * }</pre>
 */
public final class TensorEncoder {
  private TensorEncoder() {}

  /** Receives a tensor's packed codes chunk by chunk, in order. */
  @FunctionalInterface
  public interface PackedChunks {
    /**
     * {@code packed[0, packedBytes)} holds the codes of elements {@code [first, first + n)};
     * {@code first} is a multiple of 8, so the chunks concatenate byte-aligned.
     */
    void accept(long first, int n, byte[] packed, int packedBytes) throws IOException;
  }

  /**
   * The exact error of the reconstruction, and the stored bytes of the per-tensor parameters
   * that follow the codes (per-channel codebooks; or uniform scales then zero points); empty for
   * a shared codebook.
   */
  public record Encoded(ErrorStats stats, byte[] params) {}

  /**
   * Encodes the tensor of {@code shape} and {@code dtype} at {@code offset} of {@code in}.
   *
   * @param sharedCodebook the group's codebook (kmeans, scope group), else null
   * @param scale the tensor's scale for a shared codebook, else 1
   */
  public static Encoded encode(RangeReader in, long offset, DType dtype, long[] shape, int axis,
      EncodingSpec spec, float[] sharedCodebook, float scale, long chunkBytes, PackedChunks sink,
      TensorDecoder.Checkpoint checkpoint) throws IOException {
    return encode(in, offset, dtype, shape, axis, spec, sharedCodebook, scale,
        ValueHistogram.Outliers.NONE, ValueHistogram.Pruned.NONE, null, null, null, chunkBytes,
        sink, checkpoint);
  }

  /**
   * Encodes as above, with:
   *
   * <ul>
   *   <li>{@code outliers}: the weights kept exact, left out of every fit and scale search, given
   *       the code their unit's parameters give them, and stored sparse after the method's
   *       parameters (when the spec keeps outliers);
   *   <li>{@code pruned}: the weights given the reserved code of an exact zero (when the spec
   *       prunes): the first centroid equal to 0 of their unit's codebook, or a uniform unit's zero
   *       point; left out of per-channel fits, as outliers are;
   *   <li>{@code importance} (or null): the error statistics also sum every weight's squared
   *       error times its importance ({@link ErrorStats#outputError}), and per-channel codebooks
   *       are fitted with each weight weighted by it;
   *   <li>{@code channelCodebooks} (or null): a per-channel kmeans tensor's codebooks (one
   *       ascending codebook per unit, already in the spec's precision) instead of fitting its own;
   *   <li>{@code mixture}: a gmm tensor's group mixture; each weight's code is its most probable
   *       component's (the reserved zero's index skipped when pruning), which decodes to that
   *       component's mean in {@code sharedCodebook}.
   * </ul>
   */
  public static Encoded encode(RangeReader in, long offset, DType dtype, long[] shape, int axis,
      EncodingSpec spec, float[] sharedCodebook, float scale, ValueHistogram.Outliers outliers,
      ValueHistogram.Pruned pruned, Importance importance, float[][] channelCodebooks,
      Manifest.Mixture mixture, long chunkBytes, PackedChunks sink,
      TensorDecoder.Checkpoint checkpoint) throws IOException {
    ValueKind kind = dtype.valueKind();
    long numel = TensorInfo.numel(shape);
    SparseOutliers.Sink kept = spec.outliers() > 0
        ? new SparseOutliers.Sink(dtype, numel, outliers.count()) : null;
    ValueHistogram.Outliers rule = kept != null ? outliers : ValueHistogram.Outliers.NONE;
    ValueHistogram.Pruned prune = spec.prune() > 0 ? pruned : ValueHistogram.Pruned.NONE;
    io.sparticle.quant.GaussianMixture1D gmm = null;
    if (spec.method() == Method.GMM) {
      if (mixture == null) {
        throw new IllegalArgumentException("a gmm tensor needs its group's mixture");
      }
      gmm = io.sparticle.quant.GaussianMixture1D.of(mixture.weights(), mixture.means(),
          mixture.variances());
    }
    Encoded e = encodeMethod(in, offset, kind, numel, shape, axis, spec, sharedCodebook, scale,
        rule, kept, prune, importance, channelCodebooks, gmm, chunkBytes, sink, checkpoint);
    if (kept == null) {
      return e;
    }
    byte[] sparse = kept.bytes();
    byte[] params = java.util.Arrays.copyOf(e.params(), e.params().length + sparse.length);
    System.arraycopy(sparse, 0, params, e.params().length, sparse.length);
    return new Encoded(e.stats(), params);
  }

  private static Encoded encodeMethod(RangeReader in, long offset, ValueKind kind, long numel,
      long[] shape, int axis, EncodingSpec spec, float[] sharedCodebook, float scale,
      ValueHistogram.Outliers rule, SparseOutliers.Sink kept, ValueHistogram.Pruned pruned,
      Importance importance, float[][] given, io.sparticle.quant.GaussianMixture1D gmm,
      long chunkBytes, PackedChunks sink, TensorDecoder.Checkpoint checkpoint)
      throws IOException {
    if (spec.blockScaled()) {
      UnitLayout layout = StoredTensor.layout(spec, shape, axis);
      Source src = new Source(in, offset, kind, numel, chunkBytes, checkpoint, rule, kept,
          pruned, importance);
      return encodeBlocks(src, layout, spec, sharedCodebook, kind, sink);
    }
    if (spec.vector()) {
      Source src = new Source(in, offset, kind, numel, chunkBytes, checkpoint, rule, kept,
          pruned, importance);
      return new Encoded(encodeVectors(src, shape, axis, spec, sharedCodebook, scale, kind, sink),
          new byte[0]);
    }
    if (spec.sharedCodebook()) {
      return new Encoded(encodeShared(in, offset, kind, numel, spec.bits(),
          KMeansCodec.shared(sharedCodebook, scale, numel), gmm, chunkBytes, sink, checkpoint,
          rule, kept, pruned, importance), new byte[0]);
    }
    UnitLayout layout = StoredTensor.layout(spec, shape, axis);
    Source src = new Source(in, offset, kind, numel, chunkBytes, checkpoint, rule, kept,
        pruned, importance);
    if (spec.method() == Method.UNIFORM) {
      UniformCodec codec = fitUniform(src, layout, spec);
      ErrorStats stats = encodeStream(src, codec, kind, sink);
      return new Encoded(stats, uniformParams(codec, spec));
    }
    // With pruning, k - 1 particles are fitted on the survivors and the reserved 0 joins them.
    ChannelKMeans fitter = new ChannelKMeans(src.prunes() ? spec.k() - 1 : spec.k());
    int units = Math.toIntExact(layout.numUnits());
    float[][] books = new float[units][];
    ErrorStats stats;
    if (given != null && given.length != units) {
      throw new IllegalArgumentException(
          "given " + given.length + " channel codebooks for " + units + " channels");
    }
    if (layout.kind() == UnitLayout.Kind.ROWS) {
      stats = encodeRows(src, layout, books, given, spec, fitter, kind, sink);
    } else {
      float[] all = src.readAll();
      float[] unit = new float[(int) Math.min(all.length, layout.kind() == UnitLayout.Kind.COLUMNS
          ? all.length / Math.max(1, units) : all.length)];
      float[] unitW = src.importance == null ? null : new float[unit.length];
      for (int u = 0; u < units; u++) {
        if (given != null) {
          books[u] = given[u];
          continue;
        }
        int n = 0;
        for (long e = layout.kind() == UnitLayout.Kind.COLUMNS ? u : 0; e < all.length;
            e += layout.kind() == UnitLayout.Kind.COLUMNS ? layout.length() : 1) {
          if (!src.rule.test(all[(int) e]) && !src.pruned.test(all[(int) e])) {
            if (unitW != null) {
              unitW[n] = src.importance.at(e);
            }
            unit[n++] = all[(int) e];
          }
        }
        books[u] = round(withZero(n == 0 ? new float[fitter.k()] : fitter.fit(unit, unitW, 0, n),
            src.prunes()), spec.codebookPrecision());
      }
      KMeansCodec codec = KMeansCodec.perUnit(layout, books, spec.bits());
      stats = encodeArray(all, codec, kind, sink, src);
    }
    return new Encoded(stats, codebookParams(books, spec));
  }

  /** The centroids with an exact 0 inserted in order (pruning's reserved code), or as they are. */
  public static float[] withZero(float[] centroids, boolean prune) {
    if (!prune) {
      return centroids;
    }
    float[] out = new float[centroids.length + 1];
    int at = 0;
    while (at < centroids.length && centroids[at] < 0) {
      at++;
    }
    System.arraycopy(centroids, 0, out, 0, at);
    out[at] = 0f;
    System.arraycopy(centroids, at, out, at + 1, centroids.length - at);
    return out;
  }

  /**
   * The reserved code of a pruned weight: the first centroid equal to 0 (pruning's codebooks
   * always hold one), found the same way by the encoder and {@code verify}.
   */
  public static int zeroCode(TensorCodec codec, int unit) {
    if (codec instanceof UniformCodec u) {
      return u.zero(unit);
    }
    for (int c = 0, n = codec.numCodes(); c < n; c++) {
      if (codec.value(unit, c) == 0f) {
        return c;
      }
    }
    throw new IllegalArgumentException("a pruned tensor's codebook has no centroid equal to 0");
  }

  private static float[] round(float[] centroids, CodebookPrecision p) {
    return Codebook.of(centroids).roundTo(p).centroids();
  }

  /** Reads a tensor's weights as floats, chunk by chunk. */
  private static final class Source {
    final RangeReader in;
    final long offset;
    final ValueKind kind;
    final long numel;
    final long chunkBytes;
    final TensorDecoder.Checkpoint checkpoint;
    /** Which weights are outliers (none unless the spec keeps them), and where they go. */
    final ValueHistogram.Outliers rule;
    final SparseOutliers.Sink kept;
    /** Which weights are pruned to the reserved zero code (none unless the spec prunes). */
    final ValueHistogram.Pruned pruned;
    /** Each weight's importance, for the output error; null without. */
    final Importance importance;
    /** After {@link #read}: which of the chunk's weights are outliers; null without outliers. */
    boolean[] skip;
    byte[] raw = new byte[0];

    Source(RangeReader in, long offset, ValueKind kind, long numel, long chunkBytes,
        TensorDecoder.Checkpoint checkpoint, ValueHistogram.Outliers rule,
        SparseOutliers.Sink kept, ValueHistogram.Pruned pruned, Importance importance) {
      this.pruned = pruned;
      this.in = in;
      this.offset = offset;
      this.kind = kind;
      this.numel = numel;
      this.chunkBytes = chunkBytes;
      this.checkpoint = checkpoint;
      this.rule = rule;
      this.kept = kept;
      this.importance = importance;
    }

    /**
     * The error of weight {@code x} at element {@code e} reconstructed as {@code value}: exact
     * (and the weight kept) if it is an outlier. Call once per element, in order, on the final pass.
     */
    boolean prunes() {
      return pruned.count() > 0 || pruned.threshold() >= 0;
    }

    /** The code of weight {@code x} of {@code unit}: the reserved zero if pruned. */
    int code(TensorCodec codec, int unit, float x) {
      if (pruned.test(x) && !(kept != null && rule.test(x))) {
        return zeroCode(codec, unit);
      }
      return codec.encode(unit, x);
    }

    void account(ErrorStats stats, long e, float x, float value) {
      if (kept != null && rule.test(x)) {
        kept.add(e, x);
        stats.add(x, x);
      } else {
        stats.add(x, value);
        if (importance != null) {
          stats.addOutputError(importance.at(e), x, value);
        }
      }
    }

    int chunkElems() {
      return (int) Math.min(TensorDecoder.elementsPerChunk(chunkBytes, kind.byteSize()), Math.max(1, numel));
    }

    /** Elements [first, first + n) into out[0, n). */
    void read(long first, int n, float[] out) throws IOException {
      checkpoint.check();
      int size = kind.byteSize();
      if (raw.length < n * size) {
        raw = new byte[n * size];
      }
      in.readFully(offset + first * size, raw, 0, n * size);
      kind.decodeLittleEndian(raw, 0, n, out);
      if (kept != null || prunes()) {
        if (skip == null || skip.length < n) {
          skip = new boolean[Math.max(n, chunkElems())];
        }
        for (int i = 0; i < n; i++) {
          skip[i] = (kept != null && rule.test(out[i])) || pruned.test(out[i]);
        }
      }
    }

    float[] readAll() throws IOException {
      if (numel > Integer.MAX_VALUE - 8) {
        throw new IllegalArgumentException("A tensor of " + numel
            + " weights is too large to encode by columns in memory");
      }
      float[] all = new float[(int) numel];
      int chunk = chunkElems();
      float[] buf = new float[chunk];
      for (long first = 0; first < numel; first += chunk) {
        int n = (int) Math.min(chunk, numel - first);
        read(first, n, buf);
        System.arraycopy(buf, 0, all, (int) first, n);
      }
      return all;
    }
  }

  /** Packs codes handed over in any counts; emits whole multiples of 8, the tail at the end. */
  private static final class CodePacker {
    final int bits;
    final PackedChunks sink;
    byte[] codes = new byte[64];
    short[] wide; // codes of more than 8 bits
    byte[] packed = new byte[0];
    int held;
    long first;

    CodePacker(int bits, PackedChunks sink) {
      this.bits = bits;
      this.sink = sink;
      this.wide = bits > BitPacking.MAX_BITS_PER_VALUE ? new short[64] : null;
    }

    void add(int code) {
      if (wide != null) {
        if (held == wide.length) {
          wide = java.util.Arrays.copyOf(wide, held * 2);
        }
        wide[held++] = (short) code;
        return;
      }
      if (held == codes.length) {
        codes = java.util.Arrays.copyOf(codes, held * 2);
      }
      codes[held++] = (byte) code;
    }

    /** Emits the codes held, but for fewer than 8 that wait for more unless {@code last}. */
    void flush(boolean last) throws IOException {
      int n = last ? held : held / 8 * 8;
      if (n == 0) {
        return;
      }
      int bytes = (int) BitPacking.bytesRequired(n, bits);
      if (packed.length < bytes) {
        packed = new byte[bytes];
      }
      if (wide != null) {
        BitPacking.pack(wide, 0, n, bits, packed, 0);
        System.arraycopy(wide, n, wide, 0, held - n);
      } else {
        BitPacking.pack(codes, 0, n, bits, packed, 0);
        System.arraycopy(codes, n, codes, 0, held - n);
      }
      sink.accept(first, n, packed, bytes);
      first += n;
      held -= n;
    }
  }

  /**
   * vq: each sub-vector (divided by the tensor's scale) coded by its nearest codeword
   * ({@link VqCodebook}, exact squared distance in float32, lowest index on ties), and every
   * weight's error measured against {@code codeword[t] * scale} rounded to the dtype. Outliers
   * (kept exact) count as 0 in their sub-vector's search.
   */
  private static ErrorStats encodeVectors(Source src, long[] shape, int axis, EncodingSpec spec,
      float[] codewords, float scale, ValueKind kind, PackedChunks sink) throws IOException {
    int d = spec.dim();
    VqCodebook book = VqCodebook.of(codewords, d);
    boolean strided = axis == 0 && shape.length >= 2;
    long rowLen = strided ? src.numel / shape[0] : 1;
    int chunk = TensorDecoder.vectorChunkElements(src.chunkBytes, kind.byteSize(), d, rowLen,
        strided, src.numel);
    float[] buf = new float[chunk];
    float[] z = new float[chunk];
    int[] codes = new int[chunk / d];
    float[] recon = new float[codewords.length];
    for (int i = 0; i < recon.length; i++) {
      recon[i] = kind.roundTrip(codewords[i] * scale);
    }
    ErrorStats stats = new ErrorStats();
    CodePacker packer = new CodePacker(spec.codeBits(), sink);
    for (long first = 0; first < src.numel; first += chunk) {
      int n = (int) Math.min(chunk, src.numel - first);
      src.read(first, n, buf);
      for (int i = 0; i < n; i++) {
        z[i] = src.skip != null && src.skip[i] ? 0f : buf[i] / scale;
      }
      int m = n / d;
      if (!strided) {
        book.encode(z, 0, m, codes, 0);
        for (int v = 0; v < m; v++) {
          int base = codes[v] * d;
          for (int j = 0; j < d; j++) {
            int i = v * d + j;
            src.account(stats, first + i, buf[i], recon[base + j]);
          }
        }
      } else {
        int r = (int) rowLen;
        for (int band = 0; band < n / (d * r); band++) {
          book.encodeStrided(z, band * d * r, r, r, codes, band * r);
        }
        // Errors in element order, as the decoder writes them.
        for (int i = 0; i < n; i++) {
          int band = i / (d * r);
          int j = (i / r) % d;
          int c = i % r;
          src.account(stats, first + i, buf[i], recon[codes[band * r + c] * d + j]);
        }
      }
      for (int v = 0; v < m; v++) {
        packer.add(codes[v]);
      }
      packer.flush(false);
    }
    packer.flush(true);
    return stats;
  }

  /** The group-codebook path: a lookup table per 16-bit pattern, or binary search for F32. */
  private static ErrorStats encodeShared(RangeReader in, long offset, ValueKind kind, long numel,
      int bits, KMeansCodec codec, io.sparticle.quant.GaussianMixture1D gmm, long chunkBytes,
      PackedChunks sink,
      TensorDecoder.Checkpoint checkpoint, ValueHistogram.Outliers rule,
      SparseOutliers.Sink kept, ValueHistogram.Pruned pruned, Importance importance)
      throws IOException {
    int size = kind.byteSize();
    boolean prunes = pruned.count() > 0 || pruned.threshold() >= 0;
    int zero = prunes ? zeroCode(codec, 0) : -1;
    int pieceElems = TensorDecoder.elementsPerRead(chunkBytes, size, numel);
    byte[] raw = new byte[pieceElems * size];
    byte[] codes = new byte[kind == ValueKind.F32 ? pieceElems : Math.min(pieceElems, LUT_BLOCK)];
    byte[] packed = new byte[(int) BitPacking.bytesRequired(pieceElems, bits)];
    float[] recon = new float[codec.numCodes()];
    codec.levels(0, kind, recon);
    Codebook book = codec.codebook(0);
    float scale = codec.scale();
    ErrorStats stats = new ErrorStats();
    // gmm: a component's code, shifted past the reserved zero when pruning (its means are the
    // codebook, the zero inserted among them in order).
    int shiftFrom = Integer.MAX_VALUE;
    if (gmm != null && gmm.k() < codec.numCodes()) {
      // The group prunes (even if this tensor had nothing to prune): its codebook holds the zero.
      shiftFrom = zeroCode(codec, 0);
    }
    final int shift = shiftFrom;
    java.util.function.IntUnaryOperator mixtureCode = null;
    if (gmm != null) {
      mixtureCode = bitsOf -> {
        int c = gmm.code(Float.intBitsToFloat(bitsOf) / scale);
        return c >= shift ? c + 1 : c;
      };
    }
    byte[] lut = kind == ValueKind.F32 ? null : gmm != null ? new byte[1 << 16]
        : book.lookupTable(kind.float16Kind(), scale);
    if (lut != null && gmm != null) {
      for (int b = 0; b < lut.length; b++) {
        float x = kind.decode16(b);
        if (Float.isFinite(x)) {
          lut[b] = (byte) mixtureCode.applyAsInt(Float.floatToRawIntBits(x));
        }
      }
    }
    if (lut != null && prunes) {
      for (int b = 0; b < lut.length; b++) {
        if (pruned.test(kind.decode16(b))) {
          lut[b] = (byte) zero;
        }
      }
    }
    long[] counts = lut == null ? null : new long[1 << 16];
    double[] mass = lut == null || importance == null ? null : new double[1 << 16];
    boolean[] outlier = null;
    if (lut != null && kept != null) {
      outlier = new boolean[1 << 16];
      for (int b = 0; b < outlier.length; b++) {
        outlier[b] = rule.test(kind.decode16(b));
      }
    }
    boolean nibbles = lut != null && bits == 4 && allBelow(lut, 1 << bits);
    for (long first = 0; first < numel; first += pieceElems) {
      checkpoint.check();
      int n = (int) Math.min(pieceElems, numel - first);
      in.readFully(offset + first * size, raw, 0, n * size);
      if (lut != null) {
        // Separate passes: each keeps its own table (counts, or the lookup table) in the cache.
        for (int i = 0; i < n; i++) {
          counts[LittleEndian.u16(raw, 2 * i)]++;
        }
        if (nibbles) {
          packNibbles(raw, n, lut, packed);
        } else {
          for (int at = 0; at < n; at += LUT_BLOCK) {
            int m = Math.min(LUT_BLOCK, n - at);
            for (int i = 0, p = 2 * at; i < m; i++, p += 2) {
              codes[i] = lut[LittleEndian.u16(raw, p)];
            }
            // at is a multiple of 8: every block's codes start on a byte.
            BitPacking.pack(codes, 0, m, bits, packed, (int) ((long) at * bits / 8));
          }
        }
        if (mass != null) {
          for (int i = 0, p = 0; i < n; i++, p += 2) {
            mass[LittleEndian.u16(raw, p)] += importance.at(first + i);
          }
        }
        if (outlier != null) {
          for (int i = 0, p = 0; i < n; i++, p += 2) {
            int b = LittleEndian.u16(raw, p);
            if (outlier[b]) {
              kept.add(first + i, kind.decode16(b));
            }
          }
        }
      } else {
        for (int i = 0, p = 0; i < n; i++, p += 4) {
          float x = Float.intBitsToFloat(LittleEndian.i32(raw, p));
          int c = prunes && pruned.test(x) ? zero
              : mixtureCode != null ? mixtureCode.applyAsInt(Float.floatToRawIntBits(x))
              : book.nearest(x / scale);
          codes[i] = (byte) c;
          if (kept != null && rule.test(x)) {
            kept.add(first + i, x);
            stats.add(x, x);
          } else {
            stats.add(x, recon[c]);
            if (importance != null) {
              stats.addOutputError(importance.at(first + i), x, recon[c]);
            }
          }
        }
        BitPacking.pack(codes, 0, n, bits, packed, 0);
      }
      sink.accept(first, n, packed, (int) BitPacking.bytesRequired(n, bits));
    }
    if (lut != null) {
      // Exact error from per-pattern counts: every weight of a pattern has the same code.
      for (int b = 0; b < counts.length; b++) {
        if (counts[b] != 0) {
          float v = kind.decode16(b);
          float r = outlier != null && outlier[b] ? v : recon[lut[b] & 0xFF];
          stats.addWeighted(v, r, counts[b]);
          if (mass != null) {
            stats.addOutputError(mass[b], v, r);
          }
        }
      }
    }
    return stats;
  }

  /**
   * Codes of a 16-bit tensor looked up and then packed at once, when the width takes the general
   * packing path: few enough to stay in the L1 cache between the two; a multiple of 8.
   */
  private static final int LUT_BLOCK = 8192;

  /** Whether every entry of {@code lut} is below {@code bound}. */
  private static boolean allBelow(byte[] lut, int bound) {
    for (byte b : lut) {
      if ((b & 0xFF) >= bound) {
        return false;
      }
    }
    return true;
  }

  /**
   * The 4-bit codes of the first {@code n} 16-bit weights of {@code raw}, looked up in
   * {@code lut} (every entry below 16) and packed into {@code dst} as {@link BitPacking} packs
   * them: two per byte, the first in the low nibble; an odd last code alone in a byte.
   */
  private static void packNibbles(byte[] raw, int n, byte[] lut, byte[] dst) {
    int pairs = n >>> 1;
    for (int j = 0; j < pairs; j++) {
      dst[j] = (byte) (lut[LittleEndian.u16(raw, 4 * j)] | lut[LittleEndian.u16(raw, 4 * j + 2)] << 4);
    }
    if ((n & 1) != 0) {
      dst[pairs] = lut[LittleEndian.u16(raw, 4 * pairs)];
    }
  }

  /**
   * kmeans with scope block: each block's scale searched against the group's codebook
   * ({@link BlockScales}), then its weights encoded at that scale. A ladder precision takes two
   * passes: the blocks' best scales first, from which the tensor's ladder is fitted, then the
   * ladder codes and the weights' codes (which the ladder code's passes hand back); the second
   * reads the tensor again unless it fits in one chunk.
   */
  private static Encoded encodeBlocks(Source src, UnitLayout layout, EncodingSpec spec,
      float[] codebook, ValueKind kind, PackedChunks sink) throws IOException {
    ScalePrecision p = spec.scalePrecision();
    BlockScales search = new BlockScales(codebook);
    int block = Math.toIntExact(layout.length());
    int blocks = Math.toIntExact(layout.numUnits());
    int chunk = Math.max(1, src.chunkElems() / block) * block;
    float[] buf = new float[(int) Math.min(chunk, Math.max(1, src.numel))];
    float[] scales = new float[blocks];
    float[] ladder = null;
    int[] ladderCodes = null;
    if (p.ladder()) {
      double[] energy = new double[blocks];
      for (long first = 0; first < src.numel; first += chunk) {
        int n = (int) Math.min(chunk, src.numel - first);
        src.read(first, n, buf);
        for (int off = 0; off < n; off += block) {
          int b = (int) ((first + off) / block);
          int len = Math.min(block, n - off);
          scales[b] = search.search(buf, off, len, src.skip, ScalePrecision.F32);
          double e = 0;
          for (int i = off; i < off + len; i++) {
            if (src.skip == null || !src.skip[i]) {
              e += (double) buf[i] * buf[i];
            }
          }
          energy[b] = e;
        }
      }
      ladder = BlockScales.fitLadder(scales, energy, p.ladderSize());
      ladderCodes = new int[blocks];
    }
    ErrorStats stats = new ErrorStats();
    CodePacker packer = new CodePacker(spec.bits(), sink);
    float[] c = search.codebook();
    int[] codes = new int[block];
    float[] recon = new float[block];
    for (long first = 0; first < src.numel; first += chunk) {
      int n = (int) Math.min(chunk, src.numel - first);
      if (ladder == null || chunk < src.numel) {
        // A tensor of one chunk is still in buf (and skip) from the ladder's pass.
        src.read(first, n, buf);
      }
      for (int off = 0; off < n; off += block) {
        int b = (int) ((first + off) / block);
        int len = Math.min(block, n - off);
        float s;
        if (ladder != null) {
          // The ladder code's exact-error passes leave the codes of its scale in codes.
          ladderCodes[b] = search.ladderCode(buf, off, len, src.skip, scales[b], ladder, p.bits(),
              codes);
          s = BlockScales.ladderScale(ladderCodes[b], ladder, p.bits());
        } else {
          s = search.search(buf, off, len, src.skip, p);
          search.codes(buf, off, len, src.skip, s, codes);
        }
        scales[b] = s;
        for (int i = 0; i < len; i++) {
          recon[i] = kind.roundTrip(c[codes[i]] * s);
          packer.add(codes[i]);
        }
        if (src.kept == null && src.importance == null) {
          stats.addAll(buf, off, recon, 0, len);
        } else {
          for (int i = 0; i < len; i++) {
            src.account(stats, first + off + i, buf[off + i], recon[i]);
          }
        }
      }
      packer.flush(false);
    }
    packer.flush(true);
    return new Encoded(stats, blockParams(scales, ladderCodes, ladder, p));
  }

  /**
   * Block scales [blocks] (F16 or F32); or, for a ladder, the blocks' codes bit-packed
   * (LSB first, as the weights' codes) then the ladder [2^(n-1)] in F32.
   */
  static byte[] blockParams(float[] scales, int[] ladderCodes, float[] ladder, ScalePrecision p) {
    if (ladder == null) {
      int size = p.byteSize();
      byte[] out = new byte[scales.length * size];
      for (int b = 0; b < scales.length; b++) {
        if (size == 4) {
          LittleEndian.put32(out, b * 4, Float.floatToRawIntBits(scales[b]));
        } else {
          LittleEndian.put16(out, b * 2, HalfFloats.floatToF16(scales[b]));
        }
      }
      return out;
    }
    int packedBytes = (int) BitPacking.bytesRequired(scales.length, p.bits());
    byte[] out = new byte[packedBytes + ladder.length * 4];
    byte[] codes = new byte[ladderCodes.length];
    for (int b = 0; b < codes.length; b++) {
      codes[b] = (byte) ladderCodes[b];
    }
    BitPacking.pack(codes, 0, codes.length, p.bits(), out, 0);
    for (int i = 0; i < ladder.length; i++) {
      LittleEndian.put32(out, packedBytes + i * 4, Float.floatToRawIntBits(ladder[i]));
    }
    return out;
  }

  /** Pass 1 of uniform: each unit's minimum and maximum, then its scale and zero point. */
  private static UniformCodec fitUniform(Source src, UnitLayout layout, EncodingSpec spec)
      throws IOException {
    int units = Math.toIntExact(layout.numUnits());
    float[] min = new float[units];
    float[] max = new float[units];
    java.util.Arrays.fill(min, Float.POSITIVE_INFINITY);
    java.util.Arrays.fill(max, Float.NEGATIVE_INFINITY);
    int chunk = src.chunkElems();
    float[] buf = new float[chunk];
    for (long first = 0; first < src.numel; first += chunk) {
      int n = (int) Math.min(chunk, src.numel - first);
      src.read(first, n, buf);
      for (int i = 0; i < n; i++) {
        if (src.skip != null && src.skip[i]) {
          continue;
        }
        int u = (int) layout.unitOf(first + i);
        min[u] = Math.min(min[u], buf[i]);
        max[u] = Math.max(max[u], buf[i]);
      }
    }
    float[] scales = new float[units];
    int[] zeros = new int[units];
    for (int u = 0; u < units; u++) {
      if (min[u] > max[u]) {
        min[u] = 0; // every weight of the unit is an outlier
        max[u] = 0;
      }
      UniformCodec.Params p = UniformCodec.fit(min[u], max[u], spec.bits(), spec.scalePrecision());
      scales[u] = p.scale();
      zeros[u] = p.zero();
    }
    return new UniformCodec(layout, spec.bits(), scales, zeros);
  }

  /** Streams the tensor and encodes every weight with its unit's parameters. */
  private static ErrorStats encodeStream(Source src, TensorCodec codec, ValueKind kind,
      PackedChunks sink) throws IOException {
    ErrorStats stats = new ErrorStats();
    CodePacker packer = new CodePacker(codec.bits(), sink);
    UnitLayout layout = codec.layout();
    int chunk = src.chunkElems();
    float[] buf = new float[chunk];
    for (long first = 0; first < src.numel; first += chunk) {
      int n = (int) Math.min(chunk, src.numel - first);
      src.read(first, n, buf);
      for (int i = 0; i < n; i++) {
        int u = (int) layout.unitOf(first + i);
        int q = src.code(codec, u, buf[i]);
        src.account(stats, first + i, buf[i], kind.roundTrip(codec.value(u, q)));
        packer.add(q);
      }
      packer.flush(false);
    }
    packer.flush(true);
    return stats;
  }

  /**
   * Per-channel codebooks over rows: chunks of whole rows, each row fitted (into
   * {@code books}) and then encoded with its own codebook.
   */
  private static ErrorStats encodeRows(Source src, UnitLayout layout, float[][] books,
      float[][] given, EncodingSpec spec, ChannelKMeans fitter, ValueKind kind, PackedChunks sink)
      throws IOException {
    ErrorStats stats = new ErrorStats();
    CodePacker packer = new CodePacker(spec.bits(), sink);
    int row = Math.toIntExact(layout.length());
    int chunk = Math.max(1, src.chunkElems() / row) * row;
    float[] buf = new float[chunk];
    for (long first = 0; first < src.numel; first += chunk) {
      int n = (int) Math.min(chunk, src.numel - first);
      src.read(first, n, buf);
      int firstUnit = (int) (first / row);
      int count = n / row;
      float[] weights = null;
      if (src.importance != null) {
        weights = new float[n];
        for (int i = 0; i < n; i++) {
          weights[i] = src.importance.at(first + i);
        }
      }
      for (int u = 0; u < count; u++) {
        books[firstUnit + u] = given != null ? given[firstUnit + u]
            : round(withZero(fitRow(fitter, buf, weights, u * row, row, src.skip, fitter.k()),
                src.prunes()), spec.codebookPrecision());
      }
      // The chunk's rows as units 0..count-1 of a codec of their own.
      KMeansCodec c = KMeansCodec.perUnit(new UnitLayout(UnitLayout.Kind.ROWS, n, row),
          java.util.Arrays.copyOfRange(books, firstUnit, firstUnit + count), spec.bits());
      for (int i = 0; i < n; i++) {
        int u = i / row;
        int q = src.code(c, u, buf[i]);
        src.account(stats, first + i, buf[i], kind.roundTrip(c.value(u, q)));
        packer.add(q);
      }
      packer.flush(false);
    }
    packer.flush(true);
    return stats;
  }

  /**
   * A row's codebook, fitted on its weights but the outliers ({@code skip}), each weighing its
   * importance {@code weights[i]} (null: all 1).
   */
  private static float[] fitRow(ChannelKMeans fitter, float[] buf, float[] weights, int off,
      int len, boolean[] skip, int k) {
    if (skip == null) {
      return fitter.fit(buf, weights, off, len);
    }
    float[] rest = new float[len];
    float[] restW = weights == null ? null : new float[len];
    int n = 0;
    for (int i = off; i < off + len; i++) {
      if (!skip[i]) {
        if (restW != null) {
          restW[n] = weights[i];
        }
        rest[n++] = buf[i];
      }
    }
    return n == 0 ? new float[k] : fitter.fit(rest, restW, 0, n);
  }

  private static ErrorStats encodeArray(float[] all, TensorCodec codec, ValueKind kind,
      PackedChunks sink, Source src) throws IOException {
    ErrorStats stats = new ErrorStats();
    CodePacker packer = new CodePacker(codec.bits(), sink);
    UnitLayout layout = codec.layout();
    for (int e = 0; e < all.length; e++) {
      int u = (int) layout.unitOf(e);
      int q = src.code(codec, u, all[e]);
      src.account(stats, e, all[e], kind.roundTrip(codec.value(u, q)));
      packer.add(q);
      if ((e & 0xFFFF) == 0xFFFF) {
        packer.flush(false);
      }
    }
    packer.flush(true);
    return stats;
  }

  /** Per-channel codebooks [units, k] in the codebook precision's dtype. */
  private static byte[] codebookParams(float[][] books, EncodingSpec spec) {
    CodebookPrecision p = spec.codebookPrecision();
    int size = p.byteSize();
    int k = spec.k();
    byte[] out = new byte[books.length * k * size];
    for (int u = 0, pos = 0; u < books.length; u++) {
      for (int c = 0; c < k; c++, pos += size) {
        Centroids.put(out, pos, p, books[u][c]);
      }
    }
    return out;
  }

  /** Uniform scales [units] (F16 or F32), then zero points [units] (U8). */
  private static byte[] uniformParams(UniformCodec codec, EncodingSpec spec) {
    int units = (int) codec.layout().numUnits();
    int size = spec.scalePrecision().byteSize();
    byte[] out = new byte[units * (size + 1)];
    for (int u = 0; u < units; u++) {
      float s = codec.scale(u);
      if (size == 4) {
        LittleEndian.put32(out, u * 4, Float.floatToRawIntBits(s));
      } else {
        LittleEndian.put16(out, u * 2, HalfFloats.floatToF16(s));
      }
      out[units * size + u] = (byte) codec.zero(u);
    }
    return out;
  }
}
