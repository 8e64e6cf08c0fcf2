package io.sparticle.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sparticle.format.DType;
import io.sparticle.format.SafetensorsHeader;
import io.sparticle.format.SafetensorsLayout;
import io.sparticle.format.SafetensorsReader;
import io.sparticle.format.TensorInfo;
import io.sparticle.io.LocalInputFile;
import io.sparticle.quant.HalfFloats;
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

/**
 * sparticle verify catches a flipped byte, a truncated file, a deleted file, a missing _SUCCESS;
 * with --against, a changed weight, a changed dense tensor and a missing tensor of the input.
 */
class VerifyTest {
  @TempDir Path tmp;
  Path model;
  Path packed;

  @BeforeEach
  void compress() throws Exception {
    SharedSpark.get();
    model = tmp.resolve("model");
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
  void fileTheManifestDoesNotListIsCaught() throws Exception {
    // What a duplicate task attempt or an earlier run could leave: a second version of a part.
    Path part = part();
    Files.copy(part, packed.resolve("part-00099-of-00099.safetensors"));
    Files.createDirectories(packed.resolve("_temporary/0"));
    CliTest.Run r = CliTest.run("verify", "--input", packed.toString());
    assertEquals(3, r.code(), r.err());
    assertTrue(r.err().contains("holds 2 file(s) the manifest does not list: "
        + "_temporary/, part-00099-of-00099.safetensors"), r.err());
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

  @Test
  void trueInputVerifies() {
    CliTest.Run r = CliTest.run("verify", "--input", packed.toString(), "--against", model.toString());
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("names, dtypes, shapes, dense bytes and codes match " + model), r.out());
  }

  @Test
  void changedWeightOfACompressedTensorIsCaught() throws Exception {
    Located t = firstTensor("codes");
    // Move one weight to the far side of the codebook, so its nearest centroid changes.
    long at = t.header().absoluteOffset(t.info()) + 2 * 17;
    float old;
    try (RandomAccessFile f = new RandomAccessFile(t.file().toFile(), "rw")) {
      f.seek(at);
      int lo = f.read();
      int hi = f.read();
      old = HalfFloats.bf16ToFloat((short) (lo | hi << 8));
      short replacement = HalfFloats.floatToBf16(old > 0 ? -10f : 10f);
      f.seek(at);
      f.write(replacement & 0xFF);
      f.write((replacement >>> 8) & 0xFF);
    }
    CliTest.Run r = CliTest.run("verify", "--input", packed.toString(), "--against", model.toString());
    assertEquals(3, r.code(), r.err());
    assertTrue(r.err().contains(t.file().getFileName() + ": tensor '" + t.info().name() + "': weight 17 of "
        + t.info().numel() + " encodes to code "), r.err());
    assertTrue(r.err().contains("with the stored codebook and scale, but the checkpoint stores code "), r.err());
  }

  @Test
  void changedDenseTensorIsCaught() throws Exception {
    Located t = firstTensor("dense");
    try (RandomAccessFile f = new RandomAccessFile(t.file().toFile(), "rw")) {
      long at = t.header().absoluteOffset(t.info()) + 3;
      f.seek(at);
      int b = f.read();
      f.seek(at);
      f.write(b ^ 0x01);
    }
    CliTest.Run r = CliTest.run("verify", "--input", packed.toString(), "--against", model.toString());
    assertEquals(3, r.code(), r.err());
    assertTrue(r.err().contains(t.file().getFileName() + ": tensor '" + t.info().name()
        + "': dense bytes differ from the input's at byte 3 of " + t.info().byteLength()), r.err());
  }

  @Test
  void tensorMissingFromTheInputIsCaught() throws Exception {
    Located t = firstTensor("codes");
    // Rewrite its shard without it, and the index without its entry.
    SafetensorsLayout.Builder b = SafetensorsLayout.builder();
    t.header().metadata().forEach(b::metadata);
    java.io.ByteArrayOutputStream data = new java.io.ByteArrayOutputStream();
    byte[] old = Files.readAllBytes(t.file());
    for (TensorInfo i : t.header().tensors()) {
      if (!i.name().equals(t.info().name())) {
        b.add(i.name(), i.dtype(), i.shape());
        data.write(old, (int) t.header().absoluteOffset(i), (int) i.byteLength());
      }
    }
    SafetensorsLayout l = b.build();
    Files.write(t.file(), l.headerBytes());
    Files.write(t.file(), data.toByteArray(), java.nio.file.StandardOpenOption.APPEND);
    Path index = model.resolve("model.safetensors.index.json");
    ObjectNode json = (ObjectNode) new ObjectMapper().readTree(index.toFile());
    ((ObjectNode) json.get("weight_map")).remove(t.info().name());
    new ObjectMapper().writeValue(index.toFile(), json);

    CliTest.Run r = CliTest.run("verify", "--input", packed.toString(), "--against", model.toString());
    assertEquals(3, r.code(), r.err());
    assertTrue(r.err().contains(t.file().getFileName() + ": tensor '" + t.info().name()
        + "': is in the compressed checkpoint but not in the input"), r.err());
  }

  record Located(Path file, SafetensorsHeader header, TensorInfo info) {}

  /** The first tensor the manifest stores with this encoding, found in the input. */
  private Located firstTensor(String encoding) throws Exception {
    JsonNode m = new ObjectMapper().readTree(packed.resolve("manifest.json").toFile());
    for (JsonNode t : m.get("tensors")) {
      if (t.get("encoding").asText().equals(encoding) && t.get("shape").size() > 0) {
        Path f = model.resolve(t.get("source_file").asText());
        SafetensorsHeader h = SafetensorsReader.readHeader(new LocalInputFile(f));
        return new Located(f, h, h.tensor(t.get("name").asText()));
      }
    }
    throw new AssertionError("no " + encoding + " tensor");
  }
}
