package io.sparticle.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SentencesTest {
  @TempDir Path dir;

  @Test
  void defaultListHas120DistinctSentences() throws IOException {
    List<String> s = Sentences.load(null);
    assertEquals(120, s.size());
    assertEquals(120, new HashSet<>(s).size());
  }

  @Test
  void userFileSkipsBlankLinesAndStrips() throws IOException {
    Path f = dir.resolve("s.txt");
    Files.writeString(f, "\uFEFFCafé au lait.\n\n   \r\n  Ein Satz.  \r\nlast line", StandardCharsets.UTF_8);
    assertEquals(List.of("Café au lait.", "Ein Satz.", "last line"), Sentences.load(f));
  }

  @Test
  void rejectsFewerThanTwoSentences() throws IOException {
    Path f = dir.resolve("one.txt");
    Files.writeString(f, "\nonly one\n\n");
    var e = assertThrows(IOException.class, () -> Sentences.load(f));
    assertEquals("Sentence file " + f + " has 1 sentence(s): need at least 2", e.getMessage());
  }

  @Test
  void rejectsInvalidUtf8() throws IOException {
    Path f = dir.resolve("latin1.txt");
    Files.write(f, "caf\u00e9\nsecond\n".getBytes(StandardCharsets.ISO_8859_1));
    var e = assertThrows(IOException.class, () -> Sentences.load(f));
    assertEquals("Sentence file " + f + " is not valid UTF-8", e.getMessage());
  }

  @Test
  void missingFileIsAnIOException() {
    assertThrows(IOException.class, () -> Sentences.load(dir.resolve("missing.txt")));
  }
}
