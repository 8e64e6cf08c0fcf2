package io.sparticle.format.onnx;

import io.sparticle.io.InputFile;
import io.sparticle.io.RangeReader;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Writes a copy of an ONNX file with some initializers' payloads replaced by bytes of the same
 * length, so the protobuf structure (every tag and length) and every other byte stay identical.
 *
 * <p>Works on the model file or any of its external data files. A payload can be replaced when it
 * is its tensor's element bytes ({@link Payload#isElementBytes()}: {@code raw_data}, packed
 * {@code float_data} or external data); the source is streamed, never held whole.
 *
 * <pre>{@code
 * OnnxModel model = OnnxModelReader.read(file);
 * try (OutputStream out = Files.newOutputStream(target)) {
 *   OnnxRewriter.rewrite(model, file, Map.of("encoder.w", decodedBytes), out);
 * }
 * }</pre>
 */
public final class OnnxRewriter {
  static final int COPY_BUFFER = 1 << 20;

  private OnnxRewriter() {}

  /** Rewrites the model file with in-memory payloads, by initializer name; returns bytes written. */
  public static long rewrite(OnnxModel model, InputFile source, Map<String, byte[]> payloads, OutputStream out)
      throws IOException {
    return rewrite(model, model.fileName(), source, payloads.keySet(), PayloadWriter.of(payloads), out);
  }

  /**
   * Streams {@code source}, the model's file {@code fileName}, to {@code out}, writing what
   * {@code payloads} writes in place of the payload of each initializer in {@code names}; returns
   * the bytes written, always the file's length.
   *
   * @throws IllegalArgumentException if {@code source} is not the length the model recorded for
   *     {@code fileName}, or a name is unknown, not stored as element bytes, or in another file
   * @throws IllegalStateException if {@code payloads} writes the wrong number of bytes
   */
  public static long rewrite(
      OnnxModel model, String fileName, InputFile source, Collection<String> names, PayloadWriter payloads,
      OutputStream out) throws IOException {
    Long expected = model.fileLengths().get(fileName);
    if (expected == null) {
      throw new IllegalArgumentException("Cannot rewrite " + fileName + ": not a file of " + model.path());
    }
    long length = source.length();
    if (length != expected) {
      throw new IllegalArgumentException(
          "Cannot rewrite " + source.path() + ": it is " + length + " bytes, but " + fileName + " was " + expected
              + " when the model was read");
    }
    List<OnnxSkeleton.Hole> holes = new ArrayList<>();
    for (String name : names) {
      Payload p = model.initializer(name).payload();
      if (!p.isElementBytes()) {
        throw new IllegalArgumentException(
            "Cannot replace initializer '" + name + "': its data is " + p.kind() + ", not element bytes");
      }
      if (!p.file().equals(fileName)) {
        throw new IllegalArgumentException(
            "Cannot replace initializer '" + name + "' in " + fileName + ": its data is in " + p.file());
      }
      if (p.length() > 0) {
        holes.add(new OnnxSkeleton.Hole(name, p.offset(), p.length()));
      }
    }
    holes.sort(Comparator.comparingLong(OnnxSkeleton.Hole::offset));
    try (RangeReader in = source.open()) {
      return splice(in, length, holes, payloads, out);
    }
  }

  /**
   * Copies {@code [0, length)} of {@code in} to {@code out}, except the holes (sorted, disjoint):
   * each is filled by {@code fill}, or dropped when {@code fill} is null. Returns bytes written.
   */
  static long splice(RangeReader in, long length, List<OnnxSkeleton.Hole> holes, PayloadWriter fill, OutputStream out)
      throws IOException {
    OnnxSkeleton.checkHoles(holes);
    byte[] buffer = new byte[(int) Math.min(COPY_BUFFER, Math.max(length, 1))];
    long pos = 0;
    long written = 0;
    for (OnnxSkeleton.Hole h : holes) {
      written += copy(in, pos, h.offset(), buffer, out);
      if (fill != null) {
        writePayload(fill, h, out);
        written += h.length();
      }
      pos = h.end();
    }
    return written + copy(in, pos, length, buffer, out);
  }

  /** Writes hole {@code h}'s payload, checking that exactly its length was written. */
  static void writePayload(PayloadWriter payloads, OnnxSkeleton.Hole h, OutputStream out) throws IOException {
    CountingStream counting = new CountingStream(out);
    payloads.write(h.name(), h.length(), counting);
    if (counting.count != h.length()) {
      throw new IllegalStateException(
          "Payload writer wrote " + counting.count + " bytes for initializer '" + h.name() + "', whose payload is "
              + h.length() + " bytes");
    }
  }

  static long copy(RangeReader in, long from, long to, byte[] buffer, OutputStream out) throws IOException {
    for (long pos = from; pos < to; ) {
      int n = (int) Math.min(buffer.length, to - pos);
      in.readFully(pos, buffer, 0, n);
      out.write(buffer, 0, n);
      pos += n;
    }
    return to - from;
  }

  /** Counts bytes on their way to the real stream; closing it does not close that stream. */
  static final class CountingStream extends FilterOutputStream {
    long count;

    CountingStream(OutputStream out) {
      super(out);
    }

    @Override
    public void write(int b) throws IOException {
      out.write(b);
      count++;
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      out.write(b, off, len);
      count += len;
    }

    @Override
    public void close() throws IOException {
      flush();
    }
  }
}
