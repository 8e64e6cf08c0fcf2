package io.sparticle.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.format.DType;
import io.sparticle.plan.JobConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An encode task that dies half-way through writing its part is retried; nothing stray is left. */
class FaultInjectionTest {
  @TempDir Path tmp;

  @AfterEach
  void disarm() {
    // Restore core-default's value: unset would drop it.
    Configuration conf = SharedSpark.get().sparkContext().hadoopConfiguration();
    conf.set("fs.file.impl", "org.apache.hadoop.fs.LocalFileSystem");
    conf.setBoolean("fs.file.impl.disable.cache", false);
    FailOnceLocalFileSystem.FAILURES_LEFT.set(0);
  }

  /** Makes the next {@code failures} part writes of the shared session fail half-way. */
  private static void arm(int failures) {
    Configuration conf = SharedSpark.get().sparkContext().hadoopConfiguration();
    conf.set("fs.file.impl", FailOnceLocalFileSystem.class.getName());
    conf.setBoolean("fs.file.impl.disable.cache", true);
    FailOnceLocalFileSystem.FAILED.set(0);
    FailOnceLocalFileSystem.FAILURES_LEFT.set(failures);
  }

  @Test
  void encodeTaskFailingOnceIsRetriedAndOutputIsIdentical() throws Exception {
    Path model = Checkpoints.generate(tmp.resolve("model"), DType.BF16);
    JobConfig config = JobConfig.defaults().withOutputShardBytes(300 << 10);
    Path clean = tmp.resolve("clean");
    Sparticle.compress(SharedSpark.get()).input(model.toString()).output(clean.toString())
        .config(config).execute();

    arm(1);
    Path faulty = tmp.resolve("faulty");
    Sparticle.compress(SharedSpark.get()).input(model.toString()).output(faulty.toString())
        .config(config).execute();

    assertEquals(1, FailOnceLocalFileSystem.FAILED.get(), "the fault fired once");
    List<String> files = tree(faulty);
    assertEquals(tree(clean), files, "same files, nothing stray (no _temporary, no partial part)");
    Checkpoints.assertSameOutput(clean, faulty);
    assertTrue(files.contains("_SUCCESS"));
  }

  @Test
  void aTaskThatKeepsFailingFailsTheJobAndLeavesNoPartialFile() throws Exception {
    Path model = Checkpoints.generate(tmp.resolve("model"), DType.BF16);
    arm(100);
    Path out = tmp.resolve("out");
    Exception e = org.junit.jupiter.api.Assertions.assertThrows(Exception.class, () ->
        Sparticle.compress(SharedSpark.get()).input(model.toString()).output(out.toString()).execute());
    assertTrue(String.valueOf(e.getMessage()).contains("Injected fault"), e.getMessage());
    assertTrue(FailOnceLocalFileSystem.FAILED.get() >= 2, "both attempts failed");
    SharedSpark.awaitNoRunningTasks();
    List<String> left = tree(out);
    assertTrue(left.stream().noneMatch(f -> f.endsWith(".safetensors")), "no data file: " + left);
    assertTrue(left.stream().noneMatch(f -> f.endsWith("_SUCCESS")), "not complete: " + left);
  }

  @Test
  void rerunOfTheSameJobTakesOverTheLeftoversOfAFailedRun() throws Exception {
    Path model = Checkpoints.generate(tmp.resolve("model"), DType.BF16);
    JobConfig config = JobConfig.defaults().withOutputShardBytes(300 << 10);
    Path clean = tmp.resolve("clean");
    Sparticle.compress(SharedSpark.get()).input(model.toString()).output(clean.toString())
        .config(config).execute();

    arm(100);
    Path out = tmp.resolve("out");
    org.junit.jupiter.api.Assertions.assertThrows(Exception.class, () ->
        Sparticle.compress(SharedSpark.get()).input(model.toString()).output(out.toString())
            .config(config).execute());
    SharedSpark.awaitNoRunningTasks();
    disarm();
    assertTrue(tree(out).contains("_STARTED"), "the failed run's leftovers are marked: " + tree(out));
    assertFalse(tree(out).contains("_SUCCESS"));

    // Another job may not take them: they are not its own.
    OutputDirectory.OutputExistsException other = org.junit.jupiter.api.Assertions.assertThrows(
        OutputDirectory.OutputExistsException.class, () ->
            Sparticle.decompress(SharedSpark.get()).input(clean.toString()).output(out.toString())
                .execute());
    assertTrue(other.getMessage().contains("holds the incomplete output of compress of file:" + model),
        other.getMessage());
    assertTrue(tree(out).contains("_STARTED"), "left as it was");

    // The same job again: replaces them, and the result is the clean run's.
    Sparticle.compress(SharedSpark.get()).input(model.toString()).output(out.toString())
        .config(config).execute();
    assertEquals(tree(clean), tree(out), "no _STARTED, nothing stray");
    Checkpoints.assertSameOutput(clean, out);

    // Files that are not a Sparticle run's still need --overwrite.
    Path mine = tmp.resolve("mine");
    Files.createDirectories(mine);
    Files.writeString(mine.resolve("notes.txt"), "mine");
    OutputDirectory.OutputExistsException refused = org.junit.jupiter.api.Assertions.assertThrows(
        OutputDirectory.OutputExistsException.class, () ->
            Sparticle.compress(SharedSpark.get()).input(model.toString()).output(mine.toString())
                .config(config).execute());
    assertTrue(refused.getMessage().contains("is not empty; pass --overwrite"), refused.getMessage());
    assertEquals(List.of("notes.txt"), tree(mine));
  }

  static List<String> tree(Path dir) throws Exception {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(p -> !p.equals(dir)).map(p -> dir.relativize(p).toString()).sorted().toList();
    }
  }
}
