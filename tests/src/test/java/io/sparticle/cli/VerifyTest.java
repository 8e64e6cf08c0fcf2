package io.sparticle.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.format.DType;
import io.sparticle.spark.SharedSpark;
import io.sparticle.synth.SyntheticCheckpoint;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** sparticle verify catches a flipped byte, a truncated file, a deleted file, a missing _SUCCESS. */
class VerifyTest {
  @TempDir Path tmp;
  Path packed;

  @BeforeEach
  void compress() throws Exception {
    SharedSpark.get();
    Path model = tmp.resolve("model");
    SyntheticCheckpoint.write(SyntheticCheckpoint.preset("tiny"), DType.BF16, 256 << 10, 5,
        model.toString(), new Configuration());
    packed = tmp.resolve("packed");
    assertEquals(0, CliTest.run("compress", "--input", model.toString(), "--output", packed.toString()).code());
  }

  private Path part() throws Exception {
    try (Stream<Path> s = Files.list(packed)) {
      return s.filter(p -> p.getFileName().toString().startsWith("part-")).sorted().findFirst().orElseThrow();
    }
  }

  @Test
  void intactCheckpointVerifies() {
    CliTest.Run r = CliTest.run("verify", "--input", packed.toString());
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().startsWith("OK "), r.out());
  }

  @Test
  void flippedByteIsCaughtByItsChecksum() throws Exception {
    Path part = part();
    try (RandomAccessFile f = new RandomAccessFile(part.toFile(), "rw")) {
      long at = f.length() - 10; // inside the packed codes, not the header
      f.seek(at);
      int b = f.read();
      f.seek(at);
      f.write(b ^ 0x40);
    }
    CliTest.Run r = CliTest.run("verify", "--input", packed.toString());
    assertEquals(3, r.code(), r.err());
    assertTrue(r.err().contains(part.getFileName() + " has CRC-32C"), r.err());
  }

  @Test
  void truncatedFileIsCaught() throws Exception {
    Path part = part();
    try (RandomAccessFile f = new RandomAccessFile(part.toFile(), "rw")) {
      f.setLength(f.length() - 1);
    }
    CliTest.Run r = CliTest.run("verify", "--input", packed.toString());
    assertEquals(3, r.code(), r.err());
    assertTrue(r.err().contains(part.getFileName().toString()) && r.err().contains("manifest says"), r.err());
  }

  @Test
  void deletedFileIsCaught() throws Exception {
    Path part = part();
    Files.delete(part);
    CliTest.Run r = CliTest.run("verify", "--input", packed.toString());
    assertEquals(3, r.code(), r.err());
    assertTrue(r.err().contains(part.getFileName() + ": listed in the manifest but missing"), r.err());
  }

  @Test
  void incompleteDirectoryIsCaught() throws Exception {
    Files.delete(packed.resolve("_SUCCESS"));
    CliTest.Run r = CliTest.run("verify", "--input", packed.toString());
    assertEquals(3, r.code(), r.err());
    assertTrue(r.err().contains("no _SUCCESS"), r.err());
  }
}
