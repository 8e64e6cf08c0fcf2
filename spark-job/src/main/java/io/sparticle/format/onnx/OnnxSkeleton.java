package io.sparticle.format.onnx;

import io.sparticle.io.InputFile;
import io.sparticle.io.RangeReader;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;

/**
 * An ONNX file with its compressible payloads cut out, so a compressed checkpoint can rebuild the
 * file byte for byte without keeping the original.
 *
 * <p>The skeleton bytes are the file's bytes outside the {@link #holes()}, concatenated in order:
 * the protobuf structure, names, graph and every dense initializer. A hole is one compressible
 * initializer's payload (its element bytes: {@code raw_data} or packed {@code float_data}) at
 * its original offset. {@link #write} interleaves the skeleton with payloads again; given the
 * original payloads it reproduces the original file exactly, and given same-length decoded
 * payloads a valid model with those weights. External data files can be cut the same way with
 * {@link #of(OnnxModel, String)}.
 *
 * <pre>{@code
 * OnnxSkeleton sk = OnnxSkeleton.of(model);
 * sk.extract(modelFile, skeletonOut);                     // keep these bytes and sk.holes()
 * ...
 * OnnxSkeleton.write(skeletonIn, sk.holes(), decoded, modelOut);
 * }</pre>
 *
 * @param fileName the file the holes are in
 * @param fileLength its length
 * @param holes sorted by offset, disjoint, inside the file, each non-empty
 */
public record OnnxSkeleton(String fileName, long fileLength, List<Hole> holes) {

  /** A payload cut out of the file: {@code length} bytes at {@code offset} of the original. */
  public record Hole(String name, long offset, long length) {
    public Hole {
      Objects.requireNonNull(name, "name");
      if (offset < 0 || length < 0 || offset > Long.MAX_VALUE - length) {
        throw new IllegalArgumentException("Cannot create hole '" + name + "': offset " + offset + ", length " + length);
      }
    }

    public long end() {
      return offset + length;
    }
  }

  /**
   * @throws IllegalArgumentException if the holes are not sorted, overlap, are empty or lie
   *     outside the file
   */
  public OnnxSkeleton {
    Objects.requireNonNull(fileName, "fileName");
    holes = List.copyOf(holes);
    checkHoles(holes);
    if (fileLength < 0 || (!holes.isEmpty() && holes.get(holes.size() - 1).end() > fileLength)) {
      throw new IllegalArgumentException("Cannot create skeleton of " + fileName + ": holes past its " + fileLength + " bytes");
    }
  }

  /** The skeleton of the model file: every compressible initializer stored in it is a hole. */
  public static OnnxSkeleton of(OnnxModel model) {
    return of(model, model.fileName());
  }

  /** The skeleton of {@code fileName}, the model file or one of its external data files. */
  public static OnnxSkeleton of(OnnxModel model, String fileName) {
    Long length = model.fileLengths().get(fileName);
    if (length == null) {
      throw new IllegalArgumentException("Cannot cut " + fileName + ": not a file of " + model.path());
    }
    List<Hole> holes = new ArrayList<>();
    for (OnnxInitializer init : model.compressible()) {
      Payload p = init.payload();
      if (p.file().equals(fileName) && p.length() > 0) {
        holes.add(new Hole(init.name(), p.offset(), p.length()));
      }
    }
    holes.sort(Comparator.comparingLong(Hole::offset));
    return new OnnxSkeleton(fileName, length, holes);
  }

  /** Bytes of the skeleton: the file's length less the holes'. */
  public long skeletonLength() {
    long n = fileLength;
    for (Hole h : holes) {
      n -= h.length();
    }
    return n;
  }

  /**
   * Writes the skeleton of {@code source}, which must be the file this skeleton was made from,
   * to {@code out}; returns the bytes written ({@link #skeletonLength()}).
   */
  public long extract(InputFile source, OutputStream out) throws IOException {
    long length = source.length();
    if (length != fileLength) {
      throw new IllegalArgumentException(
          "Cannot cut " + source.path() + ": it is " + length + " bytes, the skeleton's file was " + fileLength);
    }
    try (RangeReader in = source.open()) {
      return OnnxRewriter.splice(in, length, holes, null, out);
    }
  }

  /**
   * Rebuilds the file from its skeleton and payloads, checking that the skeleton has exactly
   * {@link #skeletonLength()} bytes; returns {@link #fileLength()}.
   */
  public long write(InputStream skeleton, PayloadWriter payloads, OutputStream out) throws IOException {
    long written = write(skeleton, holes, payloads, out);
    if (written != fileLength) {
      throw new EOFException(
          "Skeleton of " + fileName + " rebuilt " + written + " bytes, expected " + fileLength
              + ": the skeleton is " + (written - (fileLength - skeletonLength())) + " bytes, not " + skeletonLength());
    }
    return written;
  }

  /**
   * Rebuilds a file from its skeleton (read to its end) and the payloads of {@code holes}, which
   * are written at their original offsets; returns the bytes written.
   *
   * @throws EOFException if the skeleton ends before a hole's offset
   * @throws IllegalStateException if {@code payloads} writes the wrong number of bytes
   */
  public static long write(InputStream skeleton, List<Hole> holes, PayloadWriter payloads, OutputStream out)
      throws IOException {
    checkHoles(holes);
    byte[] buffer = new byte[OnnxRewriter.COPY_BUFFER];
    long pos = 0;
    for (Hole h : holes) {
      copy(skeleton, h.offset() - pos, buffer, out, h);
      OnnxRewriter.writePayload(payloads, h, out);
      pos = h.end();
    }
    int n;
    while ((n = skeleton.read(buffer)) > 0) {
      out.write(buffer, 0, n);
      pos += n;
    }
    return pos;
  }

  private static void copy(InputStream in, long n, byte[] buffer, OutputStream out, Hole next) throws IOException {
    long left = n;
    while (left > 0) {
      int r = in.read(buffer, 0, (int) Math.min(buffer.length, left));
      if (r < 0) {
        throw new EOFException(
            "Skeleton ended " + left + " bytes before the gap before '" + next.name() + "' at byte " + next.offset());
      }
      out.write(buffer, 0, r);
      left -= r;
    }
  }

  static void checkHoles(List<Hole> holes) {
    long end = 0;
    for (Hole h : holes) {
      if (h.length() == 0 || h.offset() < end) {
        throw new IllegalArgumentException(
            "Cannot use hole '" + h.name() + "' [" + h.offset() + ", " + h.end() + "): holes must be non-empty,"
                + " sorted and disjoint (previous ends at " + end + ")");
      }
      end = h.end();
    }
  }
}
