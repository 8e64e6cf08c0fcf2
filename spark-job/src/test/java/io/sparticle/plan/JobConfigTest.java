package io.sparticle.plan;

import static org.junit.jupiter.api.Assertions.*;

import io.sparticle.quant.CodebookPrecision;
import java.util.List;
import org.junit.jupiter.api.Test;

class JobConfigTest {
  private static final String KNOWN_TOP = "bits, block-size, calibration, chunk-bytes, "
      + "codebook-precision, entropy, grouping, importance, kmeans, method, min-elements, min-rank, "
      + "non-finite, outliers, output-shard-bytes, prune, rules, scale-precision, scope, target-bits, "
      + "tokenizer, vq-dim, vq-sample";

  private static String rejects(String yaml) {
    return assertThrows(IllegalArgumentException.class, () -> JobConfig.fromYaml(yaml)).getMessage();
  }

  @Test
  void defaults() {
    JobConfig d = JobConfig.defaults();
    assertEquals(4, d.bits());
    assertEquals(CodebookPrecision.F32, d.codebookPrecision());
    assertEquals(4096, d.minElements());
    assertEquals(2, d.minRank());
    assertEquals(64L * 1024 * 1024, d.chunkBytes());
    assertEquals(512L * 1024 * 1024, d.outputShardBytes());
    assertEquals(100, d.maxIterations());
    assertEquals(1e-6, d.tolerance());
    assertEquals(42, d.seed());
    assertEquals(4, d.fitThreads());
    assertEquals(List.of(), d.rules());
    assertEquals(JobConfig.NonFinite.ERROR, d.nonFinite());
  }

  @Test
  void nonFinite() {
    assertEquals(JobConfig.NonFinite.KEEP_DENSE, JobConfig.fromYaml("non-finite: keep-dense\n").nonFinite());
    assertEquals(JobConfig.NonFinite.ERROR, JobConfig.fromYaml("non-finite: error\n").nonFinite());
    assertEquals(JobConfig.NonFinite.KEEP_DENSE, JobConfig.NonFinite.parse("KEEP_DENSE"));
    assertEquals("keep-dense", JobConfig.NonFinite.KEEP_DENSE.key());
    assertEquals("Cannot set non-finite to skip: must be one of error, keep-dense",
        rejects("non-finite: skip\n"));
    assertEquals("Config key 'non-finite' must be a string, got true", rejects("non-finite: true\n"));
    JobConfig k = JobConfig.defaults().withNonFinite(JobConfig.NonFinite.KEEP_DENSE);
    assertEquals(JobConfig.NonFinite.KEEP_DENSE, k.withBits(3).withGrouping(JobConfig.Grouping.TENSOR).nonFinite());
  }

  @Test
  void emptyOrNullYamlGivesDefaults() {
    assertEquals(JobConfig.defaults(), JobConfig.fromYaml(""));
    assertEquals(JobConfig.defaults(), JobConfig.fromYaml("# nothing\n"));
    assertEquals(JobConfig.defaults(), JobConfig.fromYaml("~"));
  }

  @Test
  void fullYamlParsesEveryKey() {
    JobConfig c = JobConfig.fromYaml("""
        bits: 3
        codebook-precision: bf16
        min-elements: 100
        min-rank: 1
        chunk-bytes: 64MiB
        output-shard-bytes: 1g
        kmeans:
          max-iterations: 25
          tolerance: 0.001
          seed: 7
          fit-threads: 2
        rules:
          - match: 'model\\.layers\\.(\\d+)\\.mlp\\..*'
            group: 'layers.$1.mlp'
            bits: 2
            per-tensor-scale: true
          - match: '.*norm.*'
            keep-dense: true
          - match: 'lm_head\\.weight'
        """);
    assertEquals(3, c.bits());
    assertEquals(CodebookPrecision.BF16, c.codebookPrecision());
    assertEquals(100, c.minElements());
    assertEquals(1, c.minRank());
    assertEquals(64L << 20, c.chunkBytes());
    assertEquals(1L << 30, c.outputShardBytes());
    assertEquals(25, c.maxIterations());
    assertEquals(0.001, c.tolerance());
    assertEquals(7, c.seed());
    assertEquals(2, c.fitThreads());
    assertEquals(3, c.rules().size());

    GroupRule r0 = c.rules().get(0);
    assertEquals("model\\.layers\\.(\\d+)\\.mlp\\..*", r0.match().pattern());
    assertEquals("layers.$1.mlp", r0.group());
    assertEquals(2, r0.bits());
    assertFalse(r0.keepDense());
    assertTrue(r0.perTensorScale());

    GroupRule r1 = c.rules().get(1);
    assertEquals(".*norm.*", r1.match().pattern());
    assertNull(r1.group());
    assertNull(r1.bits());
    assertTrue(r1.keepDense());
    assertFalse(r1.perTensorScale());

    GroupRule r2 = c.rules().get(2);
    assertEquals("lm_head\\.weight", r2.match().pattern());
    assertNull(r2.group());
    assertNull(r2.bits());
    assertFalse(r2.keepDense());
    assertFalse(r2.perTensorScale());
  }

  @Test
  void byteCountsAsIntegersAndStrings() {
    assertEquals(1048576, JobConfig.fromYaml("chunk-bytes: 1048576").chunkBytes());
    assertEquals(2048, JobConfig.fromYaml("chunk-bytes: '2048'").chunkBytes());
    assertEquals(3L << 10, JobConfig.fromYaml("chunk-bytes: 3k").chunkBytes());
    assertEquals(5L << 20, JobConfig.fromYaml("output-shard-bytes: 5 MB").outputShardBytes());
    assertEquals(2L << 40, JobConfig.fromYaml("output-shard-bytes: 2TiB").outputShardBytes());
    assertEquals(1L << 30, JobConfig.fromYaml("chunk-bytes: 1 GiB").chunkBytes());
  }

  @Test
  void parseBytes() {
    assertEquals(0, JobConfig.parseBytes("0"));
    assertEquals(1048576, JobConfig.parseBytes("1048576"));
    assertEquals(7, JobConfig.parseBytes("7b"));
    assertEquals(7, JobConfig.parseBytes("7B"));
    assertEquals(1024, JobConfig.parseBytes("1k"));
    assertEquals(2048, JobConfig.parseBytes("2KB"));
    assertEquals(3072, JobConfig.parseBytes("3KiB"));
    assertEquals(64L << 20, JobConfig.parseBytes("64MiB"));
    assertEquals(64L << 20, JobConfig.parseBytes("64m"));
    assertEquals(512L << 20, JobConfig.parseBytes("512 MB"));
    assertEquals(1L << 30, JobConfig.parseBytes("1g"));
    assertEquals(1L << 30, JobConfig.parseBytes(" 1 GiB "));
    assertEquals(4L << 40, JobConfig.parseBytes("4tb"));
    assertEquals(Long.MAX_VALUE, JobConfig.parseBytes(Long.toString(Long.MAX_VALUE)));
  }

  @Test
  void parseBytesErrors() {
    assertEquals("'' is not a byte count like 67108864 or 64MiB",
        assertThrows(IllegalArgumentException.class, () -> JobConfig.parseBytes("")).getMessage());
    assertEquals("'MiB' is not a byte count like 67108864 or 64MiB",
        assertThrows(IllegalArgumentException.class, () -> JobConfig.parseBytes("MiB")).getMessage());
    assertEquals("'-5' is not a byte count like 67108864 or 64MiB",
        assertThrows(IllegalArgumentException.class, () -> JobConfig.parseBytes("-5")).getMessage());
    assertEquals("'1.5g' has an unknown unit '.5g' (use KiB, MiB, GiB or TiB)",
        assertThrows(IllegalArgumentException.class, () -> JobConfig.parseBytes("1.5g")).getMessage());
    assertEquals("'64 MiBs' has an unknown unit 'mibs' (use KiB, MiB, GiB or TiB)",
        assertThrows(IllegalArgumentException.class, () -> JobConfig.parseBytes("64 MiBs"))
            .getMessage());
    assertEquals("'3p' has an unknown unit 'p' (use KiB, MiB, GiB or TiB)",
        assertThrows(IllegalArgumentException.class, () -> JobConfig.parseBytes("3p")).getMessage());
  }

  @Test
  void parseBytesOverflowIsIllegalArgument() {
    // Both are user input; a config error must be an IllegalArgumentException naming the value.
    assertEquals("'9999999t' is too large: must be at most 9223372036854775807 bytes",
        assertThrows(IllegalArgumentException.class, () -> JobConfig.parseBytes("9999999t"))
            .getMessage());
    assertEquals("'99999999999999999999' is too large: must be at most 9223372036854775807 bytes",
        assertThrows(IllegalArgumentException.class,
            () -> JobConfig.parseBytes("99999999999999999999")).getMessage());
    assertEquals("Config key 'chunk-bytes': '99999999t' is too large: must be at most "
        + "9223372036854775807 bytes", rejects("chunk-bytes: 99999999t"));
  }

  @Test
  void badByteCountInYamlNamesTheKey() {
    assertEquals("Config key 'chunk-bytes': '64 parsecs' has an unknown unit 'parsecs' "
        + "(use KiB, MiB, GiB or TiB)", rejects("chunk-bytes: 64 parsecs"));
    assertEquals("Config key 'output-shard-bytes' must be a byte count, got 1.5",
        rejects("output-shard-bytes: 1.5"));
    assertEquals("Config key 'chunk-bytes' must be a byte count, got true",
        rejects("chunk-bytes: true"));
  }

  @Test
  void unknownKeys() {
    assertEquals("Unknown config key 'bitz'; known keys: " + KNOWN_TOP, rejects("bitz: 3"));
    assertEquals("Unknown config key 'kmeans.iterations'; known keys: "
        + "fit-threads, max-iterations, seed, tolerance",
        rejects("kmeans:\n  iterations: 3\n"));
    assertEquals("Unknown config key 'rules[0].bitz'; known keys: "
        + "bits, block-size, codebook-precision, entropy, group, keep-dense, match, method, "
        + "outliers, per-tensor-scale, prune, scale-precision, scope, vq-dim",
        rejects("rules:\n  - match: 'a'\n    bitz: 3\n"));
    assertTrue(rejects("rules:\n  - match: 'a'\n  - match: 'b'\n    groop: x\n")
        .startsWith("Unknown config key 'rules[1].groop'; "));
  }

  @Test
  void bitsOutOfRange() {
    assertEquals("Cannot set bits to 0: must be between 1 and 8", rejects("bits: 0"));
    assertEquals("Cannot set bits to 9: must be between 1 and 8", rejects("bits: 9"));
    assertEquals("Cannot set bits to -1: must be between 1 and 8", rejects("bits: -1"));
    assertEquals("Config rules[0]: Cannot set bits to 9: must be between 1 and 8",
        rejects("rules:\n  - match: 'a'\n    bits: 9\n"));
    assertEquals("Config rules[0]: Cannot set bits to 0: must be between 1 and 8",
        rejects("rules:\n  - match: 'a'\n    bits: 0\n"));
    for (int b = 1; b <= 8; b++) {
      assertEquals(b, JobConfig.fromYaml("bits: " + b).bits());
    }
  }

  @Test
  void bitsBeyondIntRangeAreRejectedNotTruncated() {
    // 2^32 + 4 must not wrap to 4.
    assertEquals("Cannot set bits to 4294967300: out of range", rejects("bits: 4294967300"));
    assertEquals("Config rules[0]: Cannot set bits to 4294967300: out of range",
        rejects("rules:\n  - match: 'a'\n    bits: 4294967300\n"));
    assertEquals("Cannot set kmeans.fit-threads to 4294967297: out of range",
        rejects("kmeans:\n  fit-threads: 4294967297\n"));
    assertEquals("Cannot set min-rank to -4294967294: out of range", rejects("min-rank: -4294967294"));
  }

  @Test
  void nonIntegerBits() {
    assertEquals("Config key 'bits' must be an integer, got 4.5", rejects("bits: 4.5"));
    assertEquals("Config key 'bits' must be an integer, got \"four\"", rejects("bits: four"));
    assertEquals("Config rules[0]: Config key 'bits' must be an integer, got \"3\"",
        rejects("rules:\n  - match: 'a'\n    bits: '3'\n"));
  }

  @Test
  void badCodebookPrecision() {
    assertEquals("Cannot set codebook-precision to F8: must be one of F32, F16, BF16, step:Q",
        rejects("codebook-precision: F8"));
    assertEquals("Config key 'codebook-precision' must be a string, got 16",
        rejects("codebook-precision: 16"));
    assertEquals(CodebookPrecision.F16, JobConfig.fromYaml("codebook-precision: f16").codebookPrecision());
    assertEquals("codebook-precision must be one of F32, F16, BF16",
        assertThrows(IllegalArgumentException.class,
            () -> JobConfig.defaults().withCodebookPrecision(null)).getMessage());
  }

  @Test
  void otherRanges() {
    assertEquals("Cannot set chunk-bytes to 1023: must be between 1024 and 1073741824",
        rejects("chunk-bytes: 1023"));
    assertEquals("Cannot set chunk-bytes to 2147483648: must be between 1024 and 1073741824",
        rejects("chunk-bytes: 2g"));
    assertEquals(1024, JobConfig.fromYaml("chunk-bytes: 1k").chunkBytes());
    assertEquals("Cannot set output-shard-bytes to 0: must be between 1 and 9223372036854775807",
        rejects("output-shard-bytes: 0"));
    assertEquals("Cannot set min-elements to 0: must be between 1 and 9223372036854775807",
        rejects("min-elements: 0"));
    assertEquals("Cannot set min-rank to 65: must be between 0 and 64", rejects("min-rank: 65"));
    assertEquals("Cannot set kmeans.max-iterations to 0: must be between 1 and 10000",
        rejects("kmeans:\n  max-iterations: 0\n"));
    assertEquals("Cannot set kmeans.fit-threads to 257: must be between 1 and 256",
        rejects("kmeans:\n  fit-threads: 257\n"));
    assertEquals("Cannot set kmeans.tolerance to 0.0: must be > 0 and < 1",
        rejects("kmeans:\n  tolerance: 0\n"));
    assertEquals("Cannot set kmeans.tolerance to 1.0: must be > 0 and < 1",
        rejects("kmeans:\n  tolerance: 1.0\n"));
    assertEquals("Cannot set kmeans.tolerance to NaN: must be > 0 and < 1",
        assertThrows(IllegalArgumentException.class, () -> new JobConfig(4,
            CodebookPrecision.F32, 1, 2, 1024, 1, 1, Double.NaN, 0, 1, List.of())).getMessage());
    assertEquals("Config key 'tolerance' must be a number, got \"small\"",
        rejects("kmeans:\n  tolerance: small\n"));
  }

  @Test
  void structureErrors() {
    assertEquals("Config key 'kmeans' must be a mapping", rejects("kmeans: 3"));
    assertEquals("Config key 'rules' must be a list", rejects("rules:\n  match: a\n"));
    assertEquals("Config rules[0] must be a mapping", rejects("rules:\n  - 'a.*'\n"));
    assertEquals("Config must be a YAML mapping of keys to values", rejects("- bits: 3\n"));
    assertEquals("Config must be a YAML mapping of keys to values", rejects("just a string"));
  }

  @Test
  void invalidYaml() {
    String m = rejects("bits: [3\n");
    assertTrue(m.startsWith("Config is not valid YAML: "), m);
  }

  @Test
  void ruleErrors() {
    assertEquals("Config rules[0] needs 'match' (a regex on tensor names)",
        rejects("rules:\n  - group: g\n"));
    String m = rejects("rules:\n  - match: 'a('\n");
    assertTrue(m.startsWith("Config rules[0].match is not a valid regex: "), m);
    assertEquals("Config rules[0]: Rule 'a\\.(\\d+)': group 'g.$2' uses $2 but the regex has 1 "
        + "capture group(s)", rejects("rules:\n  - match: 'a\\.(\\d+)'\n    group: 'g.$2'\n"));
    assertEquals("Config rules[0]: Rule 'a': group 'g.$0' uses $0 but the regex has 0 capture "
        + "group(s)", rejects("rules:\n  - match: 'a'\n    group: 'g.$0'\n"));
    assertEquals("Config rules[0]: Rule 'a': group must not be empty",
        rejects("rules:\n  - match: 'a'\n    group: ''\n"));
    String combined = "Rule 'a': keep-dense cannot be combined with group, bits, per-tensor-scale or encoding keys";
    assertEquals("Config rules[0]: " + combined,
        rejects("rules:\n  - match: 'a'\n    keep-dense: true\n    bits: 3\n"));
    assertEquals("Config rules[0]: " + combined,
        rejects("rules:\n  - match: 'a'\n    keep-dense: true\n    group: g\n"));
    assertEquals("Config rules[0]: " + combined,
        rejects("rules:\n  - match: 'a'\n    keep-dense: true\n    per-tensor-scale: true\n"));
    assertEquals("Config rules[0]: Config key 'keep-dense' must be true or false, got \"yes\"",
        rejects("rules:\n  - match: 'a'\n    keep-dense: 'yes'\n"));
    assertEquals("Config key 'match' must be a string, got 5", rejects("rules:\n  - match: 5\n"));
  }

  @Test
  void groupRuleConstructorChecks() {
    assertEquals("A rule needs 'match'", assertThrows(IllegalArgumentException.class,
        () -> new GroupRule(null, null, null, false, false)).getMessage());
    GroupRule r = new GroupRule(java.util.regex.Pattern.compile("l\\.(\\d+)\\.(a|b)"),
        "x$1-$2$", 3, false, true);
    java.util.regex.Matcher m = r.match().matcher("l.12.b");
    assertTrue(m.matches());
    assertEquals("x12-b$", r.groupName(m, "l.12.b"));
    GroupRule perTensor = new GroupRule(java.util.regex.Pattern.compile("l.*"), null, null, false, false);
    java.util.regex.Matcher m2 = perTensor.match().matcher("l.3");
    assertTrue(m2.matches());
    assertEquals("l.3", perTensor.groupName(m2, "l.3"));
  }

  @Test
  void withers() {
    JobConfig d = JobConfig.fromYaml("rules:\n  - match: 'a'\n    bits: 2\n");
    JobConfig b3 = d.withBits(3);
    assertEquals(3, b3.bits());
    assertEquals(d.rules(), b3.rules());
    assertEquals(d.chunkBytes(), b3.chunkBytes());
    assertEquals(4, d.bits());
    assertEquals(CodebookPrecision.F16, d.withCodebookPrecision(CodebookPrecision.F16).codebookPrecision());
    assertEquals(2048, d.withChunkBytes(2048).chunkBytes());
    assertEquals(99, d.withOutputShardBytes(99).outputShardBytes());
    assertEquals(new JobConfig(2, CodebookPrecision.BF16, 4096, 2, 4096, 100, 100, 1e-6, 42, 4,
            d.rules()),
        d.withBits(2).withCodebookPrecision(CodebookPrecision.BF16).withChunkBytes(4096)
            .withOutputShardBytes(100));
    assertEquals("Cannot set bits to 9: must be between 1 and 8",
        assertThrows(IllegalArgumentException.class, () -> d.withBits(9)).getMessage());
    assertEquals("Cannot set chunk-bytes to 10: must be between 1024 and 1073741824",
        assertThrows(IllegalArgumentException.class, () -> d.withChunkBytes(10)).getMessage());
    assertEquals("Cannot set output-shard-bytes to 0: must be between 1 and 9223372036854775807",
        assertThrows(IllegalArgumentException.class, () -> d.withOutputShardBytes(0)).getMessage());
  }

  @Test
  void calibrationKeys() {
    assertEquals(JobConfig.Calibration.NONE, JobConfig.defaults().calibration());
    assertFalse(JobConfig.defaults().calibration().any());
    JobConfig c = JobConfig.fromYaml("calibration: s.txt\ntokenizer: hdfs://nn/t.json\n");
    assertEquals(new JobConfig.Calibration("s.txt", "hdfs://nn/t.json", null), c.calibration());
    assertTrue(c.calibration().any());
    // Withers keep it.
    assertEquals(c.calibration(), c.withBits(3).withGrouping(JobConfig.Grouping.TENSOR).calibration());
    JobConfig i = JobConfig.fromYaml(null, java.util.Map.of("importance", "imp.safetensors"));
    assertEquals("imp.safetensors", i.calibration().importance());
    assertEquals("Cannot set both calibration and importance: calibration measures the importance",
        rejects("calibration: s.txt\nimportance: i.safetensors\n"));
    assertEquals("Cannot set tokenizer without calibration: it tokenizes the calibration sentences",
        rejects("tokenizer: t.json\n"));
    assertEquals("Config key 'calibration' must be a string, got 3", rejects("calibration: 3\n"));
  }

  @Test
  void rulesAreImmutable() {
    JobConfig c = JobConfig.fromYaml("rules:\n  - match: 'a'\n");
    assertThrows(UnsupportedOperationException.class, () -> c.rules().clear());
  }

  /** Every example config the README points to parses, and the quality ones say what they claim. */
  @org.junit.jupiter.api.Test
  void shippedConfigsParse() throws Exception {
    java.nio.file.Path dir = java.nio.file.Path.of("..", "conf");
    int n = 0;
    try (var files = java.nio.file.Files.list(dir)) {
      for (java.nio.file.Path f : files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
        JobConfig c = JobConfig.fromYaml(java.nio.file.Files.readString(f));
        n++;
        if (f.getFileName().toString().equals("size-4.0.yaml")) {
          assertEquals(4.0, c.encoding().targetBits());
        }
        if (f.getFileName().toString().equals("quality-4.25.yaml")) {
          assertEquals(0.0015, c.encoding().outliers());
        }
      }
    }
    assertTrue(n >= 5, n + " configs");
  }
}
