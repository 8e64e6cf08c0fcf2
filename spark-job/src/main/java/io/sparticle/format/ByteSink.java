package io.sparticle.format;

import java.io.IOException;

/** Where a decoder writes a tensor's bytes, in order. */
@FunctionalInterface
public interface ByteSink {
  void write(byte[] b, int offset, int length) throws IOException;
}
