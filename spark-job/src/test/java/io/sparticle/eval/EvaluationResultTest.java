package io.sparticle.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

class EvaluationResultTest {

  @Test
  void jsonHasTheDocumentedKeysInOrder() {
    EvaluationResult r = new EvaluationResult(0.5, 0.25, 0.75, 1.0, 120, Pooling.MEAN);
    assertEquals("{\"mean_cosine\":0.5,\"min_cosine\":0.25,\"pairwise_spearman\":0.75,"
        + "\"top1_agreement\":1.0,\"sentences\":120,\"pooling\":\"mean\",\"bits\":null}",
        r.toJson());
    assertEquals("{\"mean_cosine\":0.5,\"min_cosine\":0.25,\"pairwise_spearman\":0.75,"
        + "\"top1_agreement\":1.0,\"sentences\":120,\"pooling\":\"mean\",\"bits\":4}",
        r.withBits(4).toJson());
  }

  @Test
  void jsonRoundTripsDoublesAndWritesNaNAsNull() throws Exception {
    EvaluationResult r =
        new EvaluationResult(0.9987654321, -0.125, Double.NaN, 0.3, 2, Pooling.CLS).withBits(3);
    JsonNode n = new ObjectMapper().readTree(r.toJson());
    assertEquals(0.9987654321, n.get("mean_cosine").doubleValue(), 0);
    assertEquals(-0.125, n.get("min_cosine").doubleValue(), 0);
    assertEquals(true, n.get("pairwise_spearman").isNull());
    assertEquals("cls", n.get("pooling").textValue());
    assertEquals(3, n.get("bits").intValue());
  }

  @Test
  void rejectsOutOfRangeValues() {
    EvaluationResult ok = new EvaluationResult(1, 1, 1, 1, 2, Pooling.MEAN);
    var e = assertThrows(IllegalArgumentException.class, () -> ok.withBits(12));
    assertEquals("Cannot set bits to 12: must be between 1 and 8", e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> new EvaluationResult(1, 1, 1, 1, 1, Pooling.MEAN));
    assertEquals("Cannot set sentences to 1: must be at least 2", e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> new EvaluationResult(Double.NaN, 1, 1, 1, 2, Pooling.MEAN));
    assertEquals("Cannot set meanCosine to NaN: must be between -1 and 1", e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> new EvaluationResult(1, 1, 1, 1.5, 2, Pooling.MEAN));
    assertEquals("Cannot set top1Agreement to 1.5: must be between 0 and 1", e.getMessage());
    assertThrows(IllegalArgumentException.class,
        () -> new EvaluationResult(1, 1, 1, 1, 2, null));
    assertEquals(Pooling.CLS, Pooling.parse("CLS"));
    e = assertThrows(IllegalArgumentException.class, () -> Pooling.parse("max"));
    assertEquals("Cannot set pooling to max: must be mean or cls", e.getMessage());
  }
}
