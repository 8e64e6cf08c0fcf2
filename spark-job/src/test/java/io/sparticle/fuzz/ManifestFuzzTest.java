package io.sparticle.fuzz;

import static org.junit.jupiter.api.Assertions.*;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.sparticle.format.CheckpointFormatException;
import io.sparticle.format.DType;
import io.sparticle.format.Manifest;
import java.util.HashSet;
import java.util.Set;

/**
 * Fuzzes the compressed format's {@code manifest.json} reader: each input is the file's bytes.
 *
 * <p>Contract: {@link Manifest#parse} returns a manifest that keeps FORMAT.md's rules, or throws
 * {@link CheckpointFormatException}; nothing else. A manifest that parses writes JSON that parses
 * back to an equal manifest and the same bytes.
 */
class ManifestFuzzTest {
  static final String FILE = "out/manifest.json";

  @FuzzTest
  @DictionaryEntries({
    "\"sparticle\"", "\"format_version\"", "\"required_features\"", "\"source\"", "\"files\"",
    "\"groups\"", "\"tensors\"", "\"codebooks_file\"", "\"crc32c\"", "\"index_metadata\"",
    "\"onnx\"", "\"holes\"", "\"skeleton_file\"", "\"model_file\"", "\"codebook\"", "\"dense\"",
    "\"kmeans\"", "\"lsb\"", "\"encoding\"", "\"scale\"", "\"group\"", "\"bits\"", "\"source_file\""
  })
  void parse(byte[] json) throws CheckpointFormatException {
    Manifest m;
    try {
      m = Manifest.parse(FILE, json);
    } catch (CheckpointFormatException e) {
      assertEquals(FILE, e.file(), e.getMessage());
      return;
    }
    assertValid(m);

    byte[] written = m.toJson();
    Manifest back = Manifest.parse(FILE, written);
    assertEquals(m, back);
    assertArrayEquals(written, back.toJson());
  }

  private static void assertValid(Manifest m) {
    Set<String> files = new HashSet<>();
    m.files().forEach(f -> assertTrue(files.add(f.name()), "file listed twice: " + f.name()));
    assertTrue(files.contains(m.codebooksFile()));
    for (Manifest.GroupEntry g : m.groups()) {
      assertTrue(g.bits() >= 1 && g.bits() <= 8 && g.k() == 1 << g.bits(), g.toString());
    }
    for (Manifest.TensorEntry t : m.tensors()) {
      assertTrue(files.contains(t.file()), t.name());
      Math.multiplyExact(t.numel(), DType.fromName(t.dtype()).orElseThrow().byteSize());
      if (Manifest.ENCODING_CODEBOOK.equals(t.encoding())) {
        assertEquals(m.groups().get(t.group()).bits(), t.bits(), t.name());
        assertTrue(Float.isFinite(t.scale()) && t.scale() > 0, t.name());
      }
    }
    if (m.source().onnx() != null) {
      long end = 0;
      for (Manifest.Hole h : m.source().onnx().holes()) {
        assertTrue(h.offset() >= end && h.length() >= 0, "holes overlap or go backwards: " + h);
        end = Math.addExact(h.offset(), h.length()); // a hole past 2^63 cannot be rebuilt
      }
      assertTrue(files.contains(m.source().onnx().skeletonFile()));
    }
  }
}
