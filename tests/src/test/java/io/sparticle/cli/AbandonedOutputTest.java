package io.sparticle.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.cli.CliTest.Run;
import io.sparticle.format.DType;
import io.sparticle.format.SafetensorsHeader;
import io.sparticle.format.SafetensorsReader;
import io.sparticle.format.TensorInfo;
import io.sparticle.io.LocalInputFile;
import io.sparticle.spark.SharedSpark;
import io.sparticle.synth.SyntheticCheckpoint;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run that dies leaves an output without {@code _SUCCESS}; re-running the same command must
 * replace it without {@code --overwrite}, while anything else in the way still needs it.
 */
class AbandonedOutputTest {
  @TempDir Path tmp;

  @BeforeAll
  static void spark() {
    SharedSpark.get();
  }

  @Test
  void rerunOfTheSameCommandReplacesItsOwnIncompleteOutput() throws Exception {
    Path model = tmp.resolve("model");
    SyntheticCheckpoint.write(SyntheticCheckpoint.preset("tiny"), DType.F32, 256 << 10, 3,
        model.toString(), new Configuration());
    Path clean = tmp.resolve("clean");
    assertEquals(0, CliTest.run("compress", "--input", model.toString(), "--output", clean.toString()).code());

    // A NaN makes the job fail after it prepared its output: the leftovers of a failed run.
    Path shard;
    try (Stream<Path> s = Files.list(model)) {
      shard = s.filter(p -> p.toString().endsWith(".safetensors")).sorted().findFirst().orElseThrow();
    }
    byte[] original = Files.readAllBytes(shard);
    SafetensorsHeader h = SafetensorsReader.readHeader(new LocalInputFile(shard));
    TensorInfo victim = h.tensors().stream().filter(t -> t.numel() >= 4096).findFirst().orElseThrow();
    try (RandomAccessFile f = new RandomAccessFile(shard.toFile(), "rw")) {
      f.seek(h.absoluteOffset(victim));
      f.write(new byte[] {0, 0, (byte) 0xC0, 0x7F});
    }
    Path out = tmp.resolve("out");
    assertEquals(3, CliTest.run("compress", "--input", model.toString(), "--output", out.toString()).code());
    assertTrue(Files.exists(out.resolve("_STARTED")), "the failed run marked its output");
    assertFalse(Files.exists(out.resolve("_SUCCESS")));

    // Another job's incomplete output is not ours to delete.
    Run decompress = CliTest.run("decompress", "--input", clean.toString(), "--output", out.toString());
    assertEquals(2, decompress.code(), decompress.err());
    assertTrue(decompress.err().contains("holds the incomplete output of compress of file:" + model),
        decompress.err());
    assertTrue(Files.exists(out.resolve("_STARTED")), "left untouched");

    // The same command, once the input is fixed: it takes its own leftovers over.
    Files.write(shard, original);
    Run rerun = CliTest.run("compress", "--input", model.toString(), "--output", out.toString());
    assertEquals(0, rerun.code(), rerun.err());
    assertEquals(list(clean), list(out), "same files as a clean run, no _STARTED left");
    for (String name : list(clean)) {
      if (!name.equals("report.json")) { // holds timings
        assertArrayEquals(Files.readAllBytes(clean.resolve(name)), Files.readAllBytes(out.resolve(name)), name);
      }
    }
  }

  @Test
  void unrelatedFilesStillNeedOverwrite() throws Exception {
    Path model = tmp.resolve("model");
    SyntheticCheckpoint.write(SyntheticCheckpoint.preset("tiny"), DType.BF16, 1 << 20, 3,
        model.toString(), new Configuration());
    Path out = tmp.resolve("out");
    Files.createDirectories(out);
    Files.writeString(out.resolve("notes.txt"), "mine");
    Run r = CliTest.run("compress", "--input", model.toString(), "--output", out.toString());
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains("is not empty; pass --overwrite"), r.err());
    assertEquals("mine", Files.readString(out.resolve("notes.txt")));
  }

  private static List<String> list(Path dir) throws Exception {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(Files::isRegularFile)
          .map(p -> dir.relativize(p).toString()).sorted().toList();
    }
  }
}
