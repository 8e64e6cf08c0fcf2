package io.sparticle.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparticle.format.DType;
import io.sparticle.plan.JobConfig;
import io.sparticle.synth.SyntheticCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The quality issue's bars that a generated Llama-shaped checkpoint (the {@code small} preset,
 * 15M BF16 weights, Laplace with outlier input channels) can show in seconds: block-scaled
 * particles, outliers kept exact, and mixed precision to a size target against uniform widths.
 */
class QualityBarsTest {
  @TempDir static Path tmp;
  static Path model;

  @BeforeAll
  static void generate() throws Exception {
    model = tmp.resolve("small");
    SyntheticCheckpoint.write(SyntheticCheckpoint.preset("small"), DType.BF16, 64L << 20, 7,
        model.toString(), new Configuration());
  }

  private static CompressReport compress(String name, Map<String, String> options) throws Exception {
    return Sparticle.compress(SharedSpark.get()).input(model.toString())
        .output(tmp.resolve(name).toString()).config(JobConfig.fromYaml(null, options)).execute();
  }

  @Test
  void blockScaledParticlesAndOutliers() throws Exception {
    CompressReport group = compress("group4", Map.of());
    CompressReport blocks = compress("block4", Map.of("scope", "block"));
    CompressReport outliers = compress("block4-out", Map.of("scope", "block", "outliers", "0.002"));
    // Per-block scales take the outlier channels out of the codebook's range.
    assertTrue(blocks.bitsPerWeight() <= 4.25, "bits/weight " + blocks.bitsPerWeight());
    assertTrue(blocks.total().sqnrDb() >= group.total().sqnrDb() + 4.0,
        "block " + blocks.total().sqnrDb() + " dB vs group " + group.total().sqnrDb());
    assertTrue(outliers.total().sqnrDb() > blocks.total().sqnrDb() + 0.3,
        "outliers " + outliers.total().sqnrDb() + " dB vs " + blocks.total().sqnrDb());
    assertTrue(outliers.bitsPerWeight() < blocks.bitsPerWeight() + 0.1);
  }

  @Test
  void targetBitsBeatsOneWidthForAllAtTheSameSize() throws Exception {
    CompressReport uniform3 = compress("group3", Map.of("bits", "3"));
    CompressReport target = compress("target3", Map.of("target-bits", "3.0"));
    assertTrue(target.bitsPerWeight() <= 3.0, "bits/weight " + target.bitsPerWeight());
    assertTrue(target.total().sqnrDb() >= uniform3.total().sqnrDb() + 0.5,
        "target " + target.total().sqnrDb() + " dB vs 3 bits for all " + uniform3.total().sqnrDb());
    JsonNode report = new ObjectMapper().readTree(Files.readAllBytes(tmp.resolve("target3/report.json")));
    JsonNode allocation = report.get("allocation");
    assertEquals(3.0, allocation.get("target_bits").asDouble());
    assertTrue(allocation.get("planned_bits_per_weight").asDouble() <= 3.0);
    int widths = 0;
    for (JsonNode g : allocation.get("groups")) {
      int bits = g.get("bits").asInt();
      assertTrue(bits >= 2 && bits <= 8, g.toString());
      assertEquals(7, g.get("curve").size(), g.toString());
      // The curve falls with width; the chosen width is what the group was written at.
      double prev = Double.POSITIVE_INFINITY;
      for (JsonNode p : g.get("curve")) {
        assertTrue(p.get("estimated_squared_error").asDouble() <= prev, g.toString());
        prev = p.get("estimated_squared_error").asDouble();
      }
      widths |= 1 << bits;
    }
    assertTrue(Integer.bitCount(widths) >= 2, "mixed widths expected: " + allocation);
    for (JsonNode g : report.get("groups")) {
      boolean found = false;
      for (JsonNode a : allocation.get("groups")) {
        found |= a.get("name").asText().equals(g.get("name").asText())
            && a.get("bits").asInt() == g.get("bits").asInt();
      }
      assertTrue(found, g.get("name").asText());
    }
    // The sensitivity list holds every tensor, largest share of the error first.
    JsonNode sens = report.get("sensitivity");
    assertEquals(report.get("tensors").size(), sens.size());
    double share = 0;
    for (int i = 0; i < sens.size(); i++) {
      share += sens.get(i).get("share").asDouble();
      if (i > 0) {
        assertTrue(sens.get(i).get("squared_error").asDouble()
            <= sens.get(i - 1).get("squared_error").asDouble());
      }
    }
    assertEquals(1.0, share, 1e-9);
  }
}
