package io.sparticle.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.format.DType;
import io.sparticle.format.SafetensorsHeader;
import io.sparticle.format.SafetensorsReader;
import io.sparticle.format.TensorInfo;
import io.sparticle.io.LocalInputFile;
import io.sparticle.spark.SharedSpark;
import io.sparticle.synth.SyntheticCheckpoint;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CLI as a user meets it: exit codes, messages, and that bad input never looks complete. */
class CliTest {
  @TempDir Path tmp;

  @BeforeAll
  static void spark() {
    SharedSpark.get(); // the CLI's getOrCreate() reuses the tests' local[2] session
  }

  record Run(int code, String out, String err) {}

  static Run run(String... args) {
    PrintStream oldOut = System.out;
    PrintStream oldErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      int code = SparticleCli.run(args);
      return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
  }

  private Path model(DType dtype) throws Exception {
    Path dir = tmp.resolve("model");
    SyntheticCheckpoint.write(SyntheticCheckpoint.preset("tiny"), dtype, 256 << 10, 3,
        dir.toString(), new Configuration());
    return dir;
  }

  private static boolean anySuccess(Path dir) throws Exception {
    if (!Files.exists(dir)) {
      return false;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      return s.anyMatch(p -> p.getFileName().toString().equals("_SUCCESS"));
    }
  }

  @Test
  void runnableOnnxNamesEveryTensorItWritesDense() throws Exception {
    // Opset 9 has no Mod: both weights stay dense, each with a warning and in --json.
    Path src = io.sparticle.spark.TinyOnnx.write(tmp.resolve("src"), "tiny.onnx", 256, 9, false);
    Path packed = tmp.resolve("packed");
    Run c = run("compress", "--input", src.toString(), "--output", packed.toString(), "--progress-interval", "0");
    assertEquals(0, c.code(), c.err());
    Run d = run("decompress", "--input", packed.toString(), "--output", tmp.resolve("run").toString(),
        "--format", "onnx-compressed", "--json", "--progress-interval", "0");
    assertEquals(0, d.code(), d.err());
    assertEquals("sparticle: warning: 'w1' is written dense: the model imports ai.onnx opset 9, and the graph needs 11\n"
        + "sparticle: warning: 'w2' is written dense: the model imports ai.onnx opset 9, and the graph needs 11\n",
        d.err());
    assertTrue(d.out().contains("\"kept_dense\":{\"w1\":\"the model imports ai.onnx opset 9"), d.out());
    assertTrue(Files.exists(tmp.resolve("run/_SUCCESS")));
    Run bad = run("decompress", "--input", packed.toString(), "--output", tmp.resolve("bad").toString(),
        "--format", "gguf");
    assertEquals(2, bad.code(), bad.err());
    assertEquals("sparticle: error: Cannot set format to gguf: must be onnx, onnx-compressed or safetensors"
        + " (exit 2 USAGE)\n", bad.err());
    assertFalse(anySuccess(tmp.resolve("bad")));
  }

  @Test
  void compressInspectDecompressSucceed() throws Exception {
    Path model = model(DType.BF16);
    Run c = run("compress", "--input", model.toString(), "--output", tmp.resolve("out").toString(), "--bits", "4");
    assertEquals(0, c.code(), c.err());
    assertTrue(c.out().contains("ratio"), c.out());
    Run i = run("inspect", "--input", tmp.resolve("out").toString());
    assertEquals(0, i.code(), i.err());
    assertTrue(i.out().contains("model.layers.0.mlp.up_proj.weight"), i.out());
    Run p = run("inspect", "--input", model.toString(), "--bits", "3");
    assertEquals(0, p.code(), p.err());
    assertTrue(p.out().contains("kmeans/group 3b"), p.out());
    Run d = run("decompress", "--input", tmp.resolve("out").toString(), "--output", tmp.resolve("dense").toString());
    assertEquals(0, d.code(), d.err());
    assertTrue(Files.exists(tmp.resolve("dense/model.safetensors.index.json")));
  }

  @Test
  void inspectShowsEachGroupAndTheReportOrThatTheyAreMissing() throws Exception {
    Path model = model(DType.BF16);
    Path out = tmp.resolve("out");
    assertEquals(0, run("compress", "--input", model.toString(), "--output", out.toString()).code());
    Run i = run("inspect", out.toString());
    assertEquals(0, i.code(), i.err());
    assertTrue(i.out().matches("(?s).*\nlm_head\\.weight +kmeans/group +4 +1 +4\\.\\d{3} +\\d+\\.\\d\\d\n.*"),
        i.out());
    assertTrue(i.out().endsWith("Report: " + out.resolve("report.html") + "\n"), i.out());
    // Without report.json and report.html (an older checkpoint): the manifest's columns only.
    Files.delete(out.resolve("report.json"));
    Files.delete(out.resolve("report.html"));
    Run bare = run("inspect", "--input", out.toString());
    assertEquals(0, bare.code(), bare.err());
    assertTrue(bare.out().matches("(?s).*\nlm_head\\.weight +kmeans/group +4 +1 +- +-\n.*"), bare.out());
    assertTrue(bare.out().contains("(no report.json: bits/weight and SQNR are not known)"), bare.out());
    assertTrue(bare.out().endsWith("Report: no report.html in " + out + "\n"), bare.out());
  }

  @Test
  void truncatedShardExitsThreeNamingTheFileAndWritesNothing() throws Exception {
    Path model = model(DType.BF16);
    Path shard = shard(model, 1);
    long len = Files.size(shard);
    try (RandomAccessFile f = new RandomAccessFile(shard.toFile(), "rw")) {
      f.setLength(len - 100);
    }
    Path out = tmp.resolve("out");
    Run r = run("compress", "--input", model.toString(), "--output", out.toString());
    assertEquals(3, r.code(), r.err());
    assertTrue(r.err().contains(shard.getFileName().toString()), r.err());
    assertTrue(r.err().contains("tensor '"), r.err());
    assertFalse(anySuccess(out));
  }

  @Test
  void malformedHeaderExitsThree() throws Exception {
    Path model = model(DType.F16);
    Path shard = shard(model, 0);
    byte[] b = Files.readAllBytes(shard);
    b[8] = '['; // the header JSON must be an object
    Files.write(shard, b);
    Run r = run("compress", "--input", model.toString(), "--output", tmp.resolve("out").toString());
    assertEquals(3, r.code(), r.err());
    assertTrue(r.err().contains(shard.getFileName().toString()), r.err());
    assertFalse(anySuccess(tmp.resolve("out")));
  }

  @Test
  void nanWeightExitsThreeNamingTheTensorAndLeavesNoSuccess() throws Exception {
    Path model = model(DType.F32);
    Path shard = shard(model, 2);
    SafetensorsHeader h = SafetensorsReader.readHeader(new LocalInputFile(shard));
    TensorInfo victim = h.tensors().stream().filter(t -> t.rank() == 2 && t.numel() >= 4096).findFirst().orElseThrow();
    try (RandomAccessFile f = new RandomAccessFile(shard.toFile(), "rw")) {
      f.seek(h.absoluteOffset(victim) + 4 * 17);
      f.write(new byte[] {0, 0, (byte) 0xC0, 0x7F}); // a quiet NaN, little-endian
    }
    Path out = tmp.resolve("out");
    Run r = run("compress", "--input", model.toString(), "--output", out.toString());
    assertEquals(3, r.code(), r.err());
    assertTrue(r.err().contains("tensor '" + victim.name() + "'"), r.err());
    assertTrue(r.err().contains("NaN or infinite"), r.err());
    assertFalse(anySuccess(out));
  }

  @Test
  void committedOutputIsNotReplacedWithoutOverwrite() throws Exception {
    Path model = model(DType.BF16);
    Path out = tmp.resolve("out");
    assertEquals(0, run("compress", "--input", model.toString(), "--output", out.toString()).code());
    List<String> before = list(out);
    byte[] manifest = Files.readAllBytes(out.resolve("manifest.json"));
    Run again = run("compress", "--input", model.toString(), "--output", out.toString(), "--bits", "2");
    assertEquals(2, again.code(), again.err());
    assertTrue(again.err().contains("--overwrite"), again.err());
    assertEquals(before, list(out));
    assertArrayEquals(manifest, Files.readAllBytes(out.resolve("manifest.json")));
    Run forced = run("compress", "--input", model.toString(), "--output", out.toString(), "--bits", "2", "--overwrite");
    assertEquals(0, forced.code(), forced.err());
    assertFalse(java.util.Arrays.equals(manifest, Files.readAllBytes(out.resolve("manifest.json"))));
  }

  @Test
  void outputInsideTheInputIsRefused() throws Exception {
    Path model = model(DType.BF16);
    Run r = run("compress", "--input", model.toString(), "--output", model.resolve("packed").toString(), "--overwrite");
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains("overlaps the input"), r.err());
  }

  @Test
  void usageAndConfigErrorsExitTwo() throws Exception {
    Path model = model(DType.BF16);
    Run bits = run("compress", "--input", model.toString(), "--output", tmp.resolve("o1").toString(), "--bits", "9");
    assertEquals(2, bits.code());
    assertTrue(bits.err().contains("Cannot set bits to 9: must be between 1 and 8"), bits.err());
    Path cfg = tmp.resolve("bad.yaml");
    Files.writeString(cfg, "bits: 4\nbitz: 3\n");
    Run config = run("compress", "--input", model.toString(), "--output", tmp.resolve("o2").toString(), "--config", cfg.toString());
    assertEquals(2, config.code());
    assertTrue(config.err().contains("Unknown config key 'bitz'"), config.err());
    assertEquals(2, run("compress", "--input", model.toString()).code()); // --output missing
    assertEquals(2, run("frobnicate").code());
  }

  @Test
  void missingInputIsAnIoFailureAndIncompleteOutputCannotBeDecompressed() throws Exception {
    Run missing = run("compress", "--input", tmp.resolve("nope").toString(), "--output", tmp.resolve("o").toString());
    assertEquals(4, missing.code(), missing.err());
    assertTrue(missing.err().contains("does not exist"), missing.err());
    Files.createDirectories(tmp.resolve("half"));
    Files.writeString(tmp.resolve("half/manifest.json"), "{}");
    Run half = run("decompress", "--input", tmp.resolve("half").toString(), "--output", tmp.resolve("d").toString());
    assertEquals(3, half.code(), half.err());
    assertTrue(half.err().contains("no _SUCCESS"), half.err());
  }

  /** The i-th shard of a generated sharded checkpoint, in name order. */
  private static Path shard(Path model, int i) throws Exception {
    try (Stream<Path> s = Files.list(model)) {
      return s.filter(p -> p.toString().endsWith(".safetensors")).sorted().toList().get(i);
    }
  }

  private static List<String> list(Path dir) throws Exception {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString() + ":" + p.toFile().length()).sorted().toList();
    }
  }
}
