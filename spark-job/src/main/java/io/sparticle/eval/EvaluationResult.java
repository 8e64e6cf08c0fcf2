package io.sparticle.eval;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;

/**
 * How faithful a compressed embedding model is to its original, on a list of sentences.
 *
 * <pre>{@code
 * EvaluationResult r = evaluator.evaluate(original, compressed, Sentences.load(null)).withBits(4);
 * Files.writeString(Path.of("eval.json"), r.toJson());
 * }</pre>
 *
 * @param meanCosine mean over sentences of the cosine between the two models' embeddings
 * @param minCosine the smallest of those cosines
 * @param pairwiseSpearman Spearman rank correlation of the two models' cosines over all sentence
 *     pairs i &lt; j; NaN if either model gives every pair the same cosine
 * @param top1Agreement fraction of sentences whose nearest other sentence is the same under both
 * @param sentences number of sentences, at least 2
 * @param pooling how embeddings were pooled
 * @param bits code width of the compressed model, 1..8, if the caller knows it; else null
 */
public record EvaluationResult(
    double meanCosine,
    double minCosine,
    double pairwiseSpearman,
    double top1Agreement,
    int sentences,
    Pooling pooling,
    Integer bits) {

  private static final JsonFactory JSON = new JsonFactory();

  public EvaluationResult {
    if (sentences < Sentences.MIN_SENTENCES) {
      throw new IllegalArgumentException(
          "Cannot set sentences to " + sentences + ": must be at least " + Sentences.MIN_SENTENCES);
    }
    if (pooling == null) {
      throw new IllegalArgumentException("pooling must not be null");
    }
    if (bits != null && (bits < 1 || bits > 8)) {
      throw new IllegalArgumentException("Cannot set bits to " + bits + ": must be between 1 and 8");
    }
    checkRange("meanCosine", meanCosine, -1, 1);
    checkRange("minCosine", minCosine, -1, 1);
    if (!Double.isNaN(pairwiseSpearman)) {
      checkRange("pairwiseSpearman", pairwiseSpearman, -1, 1);
    }
    checkRange("top1Agreement", top1Agreement, 0, 1);
  }

  /** A result without {@code bits}. */
  public EvaluationResult(double meanCosine, double minCosine, double pairwiseSpearman,
      double top1Agreement, int sentences, Pooling pooling) {
    this(meanCosine, minCosine, pairwiseSpearman, top1Agreement, sentences, pooling, null);
  }

  /** This result with {@code bits} set (or cleared, with null). */
  public EvaluationResult withBits(Integer bits) {
    return new EvaluationResult(
        meanCosine, minCosine, pairwiseSpearman, top1Agreement, sentences, pooling, bits);
  }

  /**
   * One JSON object, keys in this order: {@code mean_cosine, min_cosine, pairwise_spearman,
   * top1_agreement, sentences, pooling, bits}. {@code bits} is null when unset, and so is
   * {@code pairwise_spearman} when it is NaN (JSON has no NaN).
   */
  public String toJson() {
    StringWriter out = new StringWriter();
    try (JsonGenerator g = JSON.createGenerator(out)) {
      g.writeStartObject();
      g.writeNumberField("mean_cosine", meanCosine);
      g.writeNumberField("min_cosine", minCosine);
      g.writeFieldName("pairwise_spearman");
      if (Double.isNaN(pairwiseSpearman)) {
        g.writeNull();
      } else {
        g.writeNumber(pairwiseSpearman);
      }
      g.writeNumberField("top1_agreement", top1Agreement);
      g.writeNumberField("sentences", sentences);
      g.writeStringField("pooling", pooling.jsonName());
      g.writeFieldName("bits");
      if (bits == null) {
        g.writeNull();
      } else {
        g.writeNumber(bits);
      }
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e); // a StringWriter does not fail
    }
    return out.toString();
  }

  // Rounding lets a cosine of unit vectors land a few ulps past 1.
  private static void checkRange(String name, double value, int min, int max) {
    double slack = 1e-6;
    if (!(value >= min - slack && value <= max + slack)) {
      throw new IllegalArgumentException(
          "Cannot set " + name + " to " + value + ": must be between " + min + " and " + max);
    }
  }
}
