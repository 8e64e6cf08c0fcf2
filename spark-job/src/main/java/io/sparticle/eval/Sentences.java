package io.sparticle.eval;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The sentences an evaluation embeds: a UTF-8 text file, one sentence a line, blank lines
 * skipped, or the 120 built-in everyday English sentences (with near-paraphrase pairs, so that
 * nearest neighbours mean something).
 *
 * <pre>{@code
 * List<String> sentences = Sentences.load(null);                  // the built-in list
 * List<String> mine = Sentences.load(Path.of("my-sentences.txt"));
 * }</pre>
 */
public final class Sentences {
  /** Classpath resource of the built-in list. */
  public static final String DEFAULT_RESOURCE = "/io/sparticle/eval/sentences.txt";

  /** Pairwise metrics need at least one pair. */
  public static final int MIN_SENTENCES = 2;

  private Sentences() {}

  /**
   * Reads {@code file} (or the built-in list when {@code file} is null): lines are stripped of
   * surrounding white space, blank lines skipped.
   *
   * @throws IOException if the file cannot be read, is not valid UTF-8, or has fewer than 2
   *     sentences
   */
  public static List<String> load(Path file) throws IOException {
    if (file == null) {
      try (InputStream in = Sentences.class.getResourceAsStream(DEFAULT_RESOURCE)) {
        if (in == null) {
          throw new IllegalStateException("Missing resource " + DEFAULT_RESOURCE);
        }
        return read(in, DEFAULT_RESOURCE);
      }
    }
    try (InputStream in = Files.newInputStream(file)) {
      return read(in, file.toString());
    }
  }

  private static List<String> read(InputStream in, String source) throws IOException {
    List<String> sentences = new ArrayList<>();
    // Malformed UTF-8 is an error, not a silent replacement character.
    var decoder =
        StandardCharsets.UTF_8
            .newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);
    try (BufferedReader reader = new BufferedReader(new InputStreamReader(in, decoder))) {
      String line;
      boolean first = true;
      while ((line = reader.readLine()) != null) {
        if (first && line.startsWith("\uFEFF")) {
          line = line.substring(1); // byte order mark written by some editors
        }
        first = false;
        String s = line.strip();
        if (!s.isEmpty()) {
          sentences.add(s);
        }
      }
    } catch (CharacterCodingException e) {
      throw new IOException("Sentence file " + source + " is not valid UTF-8", e);
    }
    if (sentences.size() < MIN_SENTENCES) {
      throw new IOException(
          "Sentence file " + source + " has " + sentences.size()
              + " sentence(s): need at least " + MIN_SENTENCES);
    }
    return List.copyOf(sentences);
  }
}
