package io.sparticle.format.onnx;

import java.io.IOException;
import java.io.OutputStream;
import java.util.Map;

/**
 * Supplies initializer payloads to {@link OnnxRewriter} and {@link OnnxSkeleton} by writing them,
 * so a payload is streamed rather than held whole when it comes from a decoder.
 *
 * <pre>{@code
 * PayloadWriter zeros = (name, length, out) -> out.write(new byte[(int) length]);
 * }</pre>
 */
@FunctionalInterface
public interface PayloadWriter {
  /**
   * Writes exactly {@code length} bytes to {@code out}: the payload of initializer {@code name}.
   * Callers check the count; do not close {@code out}.
   */
  void write(String name, long length, OutputStream out) throws IOException;

  /** Payloads held in memory, by initializer name. */
  static PayloadWriter of(Map<String, byte[]> payloads) {
    return (name, length, out) -> {
      byte[] bytes = payloads.get(name);
      if (bytes == null) {
        throw new IllegalArgumentException("No payload for initializer '" + name + "'");
      }
      out.write(bytes);
    };
  }
}
