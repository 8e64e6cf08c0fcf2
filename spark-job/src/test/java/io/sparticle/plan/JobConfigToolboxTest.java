package io.sparticle.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.sparticle.quant.EncodingSpec;
import io.sparticle.quant.EncodingSpec.Entropy;
import io.sparticle.quant.EncodingSpec.Method;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The toolbox's keys: vq-dim, vq-sample, prune, entropy, in YAML, as options and in rules. */
class JobConfigToolboxTest {

  private static String rejects(String yaml) {
    return assertThrows(IllegalArgumentException.class, () -> JobConfig.fromYaml(yaml)).getMessage();
  }

  private static String rejects(Map<String, String> options) {
    return assertThrows(IllegalArgumentException.class,
        () -> JobConfig.fromYaml(null, options)).getMessage();
  }

  /** The spec the default encoding gives a tensor no rule matches. */
  private static EncodingSpec defaultSpec(JobConfig c) {
    JobConfig.Encoding e = c.encoding();
    return JobConfig.spec(c.bits(), e.method(), e.scope(), e.blockSize(), c.codebookPrecision(),
        e.scalePrecision(), false, e.outliers(), e.vqDim(), e.prune(), e.entropy());
  }

  // ---- hand-made examples ----

  @Test
  void yamlKeys() {
    JobConfig c = JobConfig.fromYaml("""
        method: vq
        bits: 2
        vq-dim: 8
        vq-sample: 20000
        entropy: huffman
        """);
    assertEquals(Method.VQ, c.encoding().method());
    assertEquals(8, c.encoding().vqDim());
    assertEquals(20000, c.encoding().vqSample());
    assertEquals(Entropy.HUFFMAN, c.encoding().entropy());
    assertEquals("vq/group 2b d8 k65536 F32 huffman", defaultSpec(c).describe());

    JobConfig p = JobConfig.fromYaml("bits: 4\nprune: 0.5\nentropy: RANS\n");
    assertEquals(0.5, p.encoding().prune());
    assertEquals(Entropy.RANS, p.encoding().entropy());
    assertEquals("kmeans/group 4b F32 prune 0.5 rans", defaultSpec(p).describe());

    // Defaults: vq-dim unset (vq then takes 4), no pruning, no entropy coding, 65,536 samples.
    JobConfig d = JobConfig.defaults();
    assertNull(d.encoding().vqDim());
    assertEquals(0, d.encoding().prune());
    assertEquals(Entropy.NONE, d.encoding().entropy());
    assertEquals(1 << 16, d.encoding().vqSample());
    assertEquals(JobConfig.Encoding.DEFAULT_VQ_SAMPLE, d.encoding().vqSample());
    assertEquals(4, defaultSpec(JobConfig.fromYaml("method: vq\nbits: 2\n")).dim());
    assertEquals("gmm/group 3b F32", defaultSpec(JobConfig.fromYaml("method: gmm\nbits: 3\n")).describe());
  }

  @Test
  void optionsAsTheCliGivesThem() {
    Map<String, String> o = new HashMap<>();
    o.put("method", "vq");
    o.put("bits", "4");
    o.put("vq-dim", "2");
    o.put("vq-sample", "4096");
    o.put("entropy", "rans");
    JobConfig c = JobConfig.fromYaml("method: kmeans\nentropy: huffman\n", o);
    assertEquals(Method.VQ, c.encoding().method());
    assertEquals(2, c.encoding().vqDim());
    assertEquals(4096, c.encoding().vqSample());
    assertEquals(Entropy.RANS, c.encoding().entropy(), "an option wins over the file");
    assertEquals(0.3, JobConfig.fromYaml(null, Map.of("prune", "0.3")).encoding().prune());
    assertEquals(Entropy.NONE, JobConfig.fromYaml("entropy: rans\n", Map.of("entropy", "none"))
        .encoding().entropy());
    // A null option stands for the default (as documented), over the file's value.
    Map<String, String> unset = new HashMap<>();
    unset.put("prune", null);
    unset.put("entropy", null);
    JobConfig d = JobConfig.fromYaml("prune: 0.25\nentropy: rans\n", unset);
    assertEquals(0.0, d.encoding().prune());
    assertEquals(Entropy.NONE, d.encoding().entropy());
  }

  @Test
  void rulesTakeTheNewKeys() {
    JobConfig c = JobConfig.fromYaml("""
        rules:
          - match: '.*mlp.*'
            method: vq
            vq-dim: 2
            entropy: rans
          - match: '.*attn.*'
            prune: 0.25
            entropy: huffman
        """);
    GroupRule vq = c.rules().get(0);
    assertEquals(Method.VQ, vq.method());
    assertEquals(2, vq.vqDim());
    assertEquals(Entropy.RANS, vq.entropy());
    assertNull(vq.prune());
    GroupRule pruned = c.rules().get(1);
    assertEquals(0.25, pruned.prune());
    assertEquals(Entropy.HUFFMAN, pruned.entropy());
    assertNull(pruned.vqDim());
    assertNull(pruned.method());
  }

  // ---- error rules ----

  @Test
  void outOfRangeValues() {
    assertEquals("Cannot set vq-dim to 3: must be 2, 4 or 8", rejects("method: vq\nvq-dim: 3\n"));
    assertEquals("Cannot set vq-dim to 16: must be 2, 4 or 8",
        rejects(Map.of("method", "vq", "vq-dim", "16")));
    assertEquals("Cannot set bits to 5 with vq-dim 4: vq takes 1 to 4 bits per weight, so that a "
        + "code of bits x vq-dim is at most 16 bits (65,536 codewords)",
        rejects("method: vq\nbits: 5\n"));
    assertEquals("Cannot set bits to 3 with vq-dim 8: vq takes 1 to 2 bits per weight, so that a "
        + "code of bits x vq-dim is at most 16 bits (65,536 codewords)",
        rejects(Map.of("method", "vq", "bits", "3", "vq-dim", "8")));
    assertEquals("vq-dim applies to method vq only", rejects("vq-dim: 4\n"));
    assertEquals("vq-dim applies to method vq only", rejects(Map.of("method", "gmm", "vq-dim", "2")));
    assertEquals("Config key 'vq-dim' must be an integer, got \"four\"",
        rejects("method: vq\nvq-dim: four\n"));
    assertEquals("Cannot set vq-dim to 4294967300: out of range", rejects("method: vq\nvq-dim: 4294967300\n"));
    for (String n : new String[] {"1023", "16777217", "0", "-5"}) {
      assertEquals("Cannot set vq-sample to " + n + ": must be between 1024 and 16777216",
          rejects(Map.of("method", "vq", "vq-sample", n)));
    }
    assertEquals(1024, JobConfig.fromYaml("vq-sample: 1024\n").encoding().vqSample());
    assertEquals(1 << 24, JobConfig.fromYaml("vq-sample: 16777216\n").encoding().vqSample());

    for (String bad : new String[] {"1.0", "-0.1", "0.995", "2"}) {
      assertEquals("Cannot set prune to " + Double.parseDouble(bad)
          + ": must be a fraction between 0 and 0.99", rejects(Map.of("prune", bad)));
    }
    assertEquals("Cannot set prune to half: must be a number", rejects("prune: half\n"));
    assertEquals("Cannot set prune to 50%: must be a number", rejects(Map.of("prune", "50%")));
    assertEquals("Cannot set entropy to zstd: must be one of none, huffman, rans",
        rejects("entropy: zstd\n"));
    assertEquals("Config key 'entropy' must be a string, got true", rejects("entropy: true\n"));
  }

  @Test
  void combinationsRefusedBeforeAnyWork() {
    assertEquals("Cannot prune with method vq: a pruned weight has no reserved code inside a "
        + "sub-vector's code; prune applies to kmeans, gmm and uniform",
        rejects("method: vq\nbits: 2\nprune: 0.5\n"));
    assertEquals("Cannot prune with kmeans scope block: block scales are searched over every "
        + "weight of a block; prune applies to kmeans scope group or channel, gmm and uniform",
        rejects(Map.of("scope", "block", "prune", "0.1")));
    assertEquals("Cannot prune at 1 bit: the reserved zero code would leave no code for the "
        + "surviving weights", rejects(Map.of("bits", "1", "prune", "0.1")));
    assertEquals("Cannot use scope channel with method gmm: it takes group only",
        rejects(Map.of("method", "gmm", "scope", "channel")));
    assertEquals("Cannot use scope block with method vq: it takes group only",
        rejects(Map.of("method", "vq", "bits", "2", "scope", "block")));
  }

  @Test
  void ruleErrorsNameTheRule() {
    assertEquals("Config rules[0]: Cannot set prune to 1.5: must be a fraction between 0 and 0.99",
        rejects("rules:\n  - match: x\n    prune: 1.5\n"));
    assertEquals("Config rules[1]: Cannot set entropy to lz4: must be one of none, huffman, rans",
        rejects("rules:\n  - match: x\n  - match: y\n    entropy: lz4\n"));
    assertEquals("Config rules[0]: Config key 'vq-dim' must be an integer, got 2.5",
        rejects("rules:\n  - match: x\n    method: vq\n    vq-dim: 2.5\n"));
    assertEquals("Config rules[0]: Rule 'x': keep-dense cannot be combined with group, bits, per-tensor-scale or "
        + "encoding keys", rejects("rules:\n  - match: x\n    keep-dense: true\n    entropy: rans\n"));
    assertEquals("Config rules[0]: Rule 'x': keep-dense cannot be combined with group, bits, per-tensor-scale or "
        + "encoding keys", rejects("rules:\n  - match: x\n    keep-dense: true\n    vq-dim: 4\n"));
    assertEquals("Config rules[0]: Rule 'x': keep-dense cannot be combined with group, bits, per-tensor-scale or "
        + "encoding keys", rejects("rules:\n  - match: x\n    keep-dense: true\n    prune: 0.1\n"));
    String unknown = rejects("rules:\n  - match: x\n    vq-sample: 4096\n");
    assertEquals("Unknown config key 'rules[0].vq-sample'; known keys: bits, block-size, "
        + "codebook-precision, entropy, group, keep-dense, match, method, outliers, "
        + "per-tensor-scale, prune, scale-precision, scope, vq-dim", unknown);
  }
}
