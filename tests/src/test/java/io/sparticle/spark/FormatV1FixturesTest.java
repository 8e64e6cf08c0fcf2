package io.sparticle.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.format.DType;
import io.sparticle.format.Manifest;
import io.sparticle.synth.SyntheticCheckpoint;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Checkpoints committed by format version 1 (fixtures/v1, written at commit 54ec648) still
 * decompress to exactly the bytes they decompressed to then, verify, and verify against their
 * regenerated inputs.
 */
class FormatV1FixturesTest {
  @TempDir Path tmp;

  static Stream<Arguments> fixtures() {
    return Stream.of(
        Arguments.of("bf16-4bit-module", DType.BF16, 1L << 20),
        Arguments.of("f16-3bit-tensor-f16cb", DType.F16, 16L << 20),
        Arguments.of("f32-2bit-rules-bf16cb", DType.F32, 16L << 20));
  }

  @ParameterizedTest
  @MethodSource("fixtures")
  void decompressesToTheSameBytesAndVerifies(String name, DType dtype, long shardBytes)
      throws Exception {
    Path fixture = copyFixture(name);
    Manifest m = Manifest.parse("manifest.json", Files.readAllBytes(fixture.resolve("manifest.json")));
    assertEquals(1, m.formatVersion());

    Path restored = tmp.resolve("restored");
    Sparticle.decompress(SharedSpark.get()).input(fixture.toString()).output(restored.toString())
        .execute();
    Map<String, String> expected = expectedHashes(name);
    Map<String, String> actual = new LinkedHashMap<>();
    try (Stream<Path> files = Files.list(restored)) {
      for (Path p : files.sorted().toList()) {
        if (!p.getFileName().toString().equals("_SUCCESS")) {
          actual.put(p.getFileName().toString(), sha256(p));
        }
      }
    }
    assertEquals(expected, actual, name + ": decompressed files and their SHA-256");

    Path input = tmp.resolve("input");
    SyntheticCheckpoint.write(SyntheticCheckpoint.preset("tiny"), dtype, shardBytes, 1,
        input.toString(), new Configuration());
    VerifyJob.Result r = VerifyJob.verify(SharedSpark.get(), fixture.toString(), input.toString());
    assertEquals(m.tensors().size(), r.tensors());
  }

  private Path copyFixture(String name) throws IOException {
    Path src = Path.of("src/test/resources/fixtures/v1", name);
    assertTrue(Files.isDirectory(src), src + " (run from the tests module)");
    Path dst = tmp.resolve(name);
    Files.createDirectories(dst);
    try (Stream<Path> files = Files.list(src)) {
      for (Path p : files.toList()) {
        Files.copy(p, dst.resolve(p.getFileName()));
      }
    }
    return dst;
  }

  private static Map<String, String> expectedHashes(String name) throws IOException {
    Map<String, String> m = new LinkedHashMap<>();
    List<String> lines = Files.readAllLines(Path.of("src/test/resources/fixtures/v1", name + ".sha256"));
    for (String line : lines) {
      String[] parts = line.trim().split("\\s+");
      m.put(parts[1], parts[0]);
    }
    return new java.util.TreeMap<>(m);
  }

  private static String sha256(Path p) throws Exception {
    MessageDigest d = MessageDigest.getInstance("SHA-256");
    try (InputStream in = Files.newInputStream(p)) {
      byte[] buf = new byte[1 << 16];
      for (int n; (n = in.read(buf)) > 0; ) {
        d.update(buf, 0, n);
      }
    }
    return HexFormat.of().formatHex(d.digest());
  }
}
