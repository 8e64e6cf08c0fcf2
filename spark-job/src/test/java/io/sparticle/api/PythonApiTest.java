package io.sparticle.api;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparticle.format.CheckpointFormatException;
import io.sparticle.plan.JobConfig;
import io.sparticle.quant.CodebookPrecision;
import java.io.FileNotFoundException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The option map of the Python package through the config's one key table, without Spark. */
class PythonApiTest {
  private static final Configuration CONF = new Configuration();

  private static JobConfig config(String path, String... keyValues) throws Exception {
    Map<String, String> m = new LinkedHashMap<>();
    for (int i = 0; i < keyValues.length; i += 2) {
      m.put(keyValues[i], keyValues[i + 1]);
    }
    return PythonApi.jobConfig(path, m, CONF);
  }

  private static String rejects(String... keyValues) {
    return assertThrows(IllegalArgumentException.class, () -> config(null, keyValues)).getMessage();
  }

  @Test
  void valuesAreReadAsJsonElseAsStrings() throws Exception {
    JobConfig c = config(null, "bits", "3", "codebook-precision", "F16", "kmeans.tolerance", "1e-07",
        "kmeans.seed", "7", "chunk-bytes", "1MiB", "non-finite", "keep-dense", "grouping", "tensor",
        "rules", "[{\"match\": \"a.*\", \"keep-dense\": true}]");
    assertEquals(3, c.bits());
    assertEquals(CodebookPrecision.F16, c.codebookPrecision());
    assertEquals(1e-7, c.tolerance());
    assertEquals(7, c.seed());
    assertEquals(1L << 20, c.chunkBytes());
    assertEquals(JobConfig.NonFinite.KEEP_DENSE, c.nonFinite());
    assertEquals(JobConfig.Grouping.TENSOR, c.grouping());
    assertEquals(1, c.rules().size());
    assertTrue(c.rules().get(0).keepDense());
    assertEquals(JobConfig.defaults(), config(null));
    assertEquals(JobConfig.defaults(), config(null, "bits", null));  // null: the default
  }

  @Test
  void theKeyTableRejectsWhatYamlRejects() {
    assertEquals("Cannot set bits to 12: must be between 1 and 8", rejects("bits", "12"));
    assertTrue(rejects("bitz", "3").startsWith("Unknown config key 'bitz'; known keys: bits, "));
    assertTrue(rejects("kmeans.tol", "1").startsWith("Unknown config key 'kmeans.tol'; known keys: "));
    assertEquals("Config key 'min-rank' must be an integer, got \"two\"", rejects("min-rank", "two"));
    assertEquals("Config key 'kmeans' must be a mapping", rejects("kmeans", "3"));
    assertEquals("Option key 'kmeans.' is not a config key", rejects("kmeans.", "3"));
    assertEquals("Option key '' is not a config key", rejects("", "3"));
  }

  @Test
  void optionsAreLaidOverTheConfigFile(@TempDir Path dir) throws Exception {
    Path yaml = dir.resolve("job.yaml");
    Files.writeString(yaml, "bits: 6\nkmeans:\n  seed: 5\n  tolerance: 0.001\n");
    JobConfig file = config(yaml.toString());
    assertEquals(6, file.bits());
    JobConfig both = config(yaml.toString(), "bits", "2", "kmeans.seed", "9");
    assertEquals(2, both.bits());
    assertEquals(9, both.seed());
    assertEquals(0.001, both.tolerance());  // the file's, next to the option in the same mapping
    assertThrows(FileNotFoundException.class, () -> config(dir.resolve("nope.yaml").toString()));
  }

  @Test
  void describeMapsAFailureLikeTheCli() throws Exception {
    ObjectMapper json = new ObjectMapper();
    CheckpointFormatException bad = new CheckpointFormatException(
        CheckpointFormatException.Reason.NON_FINITE_VALUE, "m.safetensors", "w", "1 of 4 values are NaN");
    // Spark wraps task failures: the cause chain decides, as for the CLI's exit code
    JsonNode d = json.readTree(PythonApi.describe(new RuntimeException("Job aborted", bad)));
    assertEquals("BAD_INPUT", d.get("exit_code").asText());
    assertEquals(3, d.get("code").asInt());
    assertEquals("m.safetensors: tensor 'w': 1 of 4 values are NaN", d.get("message").asText());
    assertEquals("NON_FINITE_VALUE", d.get("reason").asText());
    assertEquals("m.safetensors", d.get("file").asText());
    assertEquals("w", d.get("tensor").asText());
    JsonNode usage = json.readTree(PythonApi.describe(new IllegalArgumentException("no")));
    assertEquals("USAGE", usage.get("exit_code").asText());
    assertNull(usage.get("reason"));
    assertEquals("IO_FAILURE",
        json.readTree(PythonApi.describe(new FileNotFoundException("x"))).get("exit_code").asText());
    assertEquals("INTERNAL_ERROR",
        json.readTree(PythonApi.describe(new IllegalStateException("x"))).get("exit_code").asText());
  }
}
