package io.sparticle.eval;

import java.util.Locale;

/** How a sentence embedding is read off the model's last hidden state (its first output). */
public enum Pooling {
  /** Mean of the token vectors, padding excluded by the attention mask (sentence-transformers). */
  MEAN,
  /** The first token's vector ({@code [CLS]} for BERT-style tokenizers). */
  CLS;

  /** The lower-case name used in JSON and on the command line: {@code mean} or {@code cls}. */
  public String jsonName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Parses {@code mean} or {@code cls} (any case). */
  public static Pooling parse(String name) {
    for (Pooling p : values()) {
      if (p.name().equalsIgnoreCase(name)) {
        return p;
      }
    }
    throw new IllegalArgumentException(
        "Cannot set pooling to " + name + ": must be mean or cls");
  }
}
