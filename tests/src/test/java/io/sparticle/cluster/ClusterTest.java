package io.sparticle.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.cli.SparticleCli;
import io.sparticle.format.DType;
import io.sparticle.spark.Checkpoints;
import io.sparticle.spark.SharedSpark;
import io.sparticle.spark.VerifyJob;
import io.sparticle.synth.SyntheticCheckpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The job on a real standalone cluster (a Master, two Workers on two loopback addresses, executor
 * JVMs, a driver JVM started by SparkSubmit), against the same job in local mode: identical
 * output, and identical output again after an executor is killed, after the driver is killed and
 * the command re-run, and with speculative copies of a straggling task.
 */
class ClusterTest {
  private static final Duration JOB_TIMEOUT = Duration.ofMinutes(5);

  @TempDir static Path tmp;
  private static StandaloneCluster cluster;
  private static Path model;
  private static Path config;
  private static Path reference;
  private static Path hookJar;

  @BeforeAll
  static void setUp() throws Exception {
    model = tmp.resolve("model");
    SyntheticCheckpoint.write(SyntheticCheckpoint.preset("small"), DType.BF16, 4 << 20, 3,
        model.toString(), new Configuration());
    // Small output files, so the encode pass has several tasks to spread, kill and duplicate.
    config = tmp.resolve("job.yaml");
    Files.writeString(config, "output-shard-bytes: 4194304\n");
    reference = tmp.resolve("local");
    SharedSpark.get(); // the CLI's getOrCreate() picks up the tests' local[2] session
    assertEquals(0, SparticleCli.run(compressArgs(reference.toString())));
    assertTrue(parts(reference).size() >= 4, "several encode tasks: " + parts(reference));

    Path testClasses = Path.of(StandaloneCluster.codeLocation(SlowWriteFileSystem.class));
    hookJar = StandaloneCluster.jarOf(testClasses, tmp.resolve("slow-write-fs.jar"),
        SlowWriteFileSystem.class.getName().replace('.', '/'));
    cluster = StandaloneCluster.start(tmp.resolve("cluster"), 2);
  }

  @AfterAll
  static void tearDown() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void clusterOutputIsByteIdenticalToLocalMode() throws Exception {
    Path out = tmp.resolve("plain");
    StandaloneCluster.Submission run = cluster.submit("plain", Map.of(), List.of(),
        compressArgs(out.toString()));
    assertEquals(0, run.await(JOB_TIMEOUT), run.tail());
    String log = run.log();
    assertTrue(log.contains("on hostPort 127.0.0.1:") && log.contains("on hostPort 127.0.0.2:"),
        "executors on both workers:\n" + run.tail());
    assertSameOutput(out);
  }

  @Test
  void executorKilledDuringEncodeIsReplacedAndTheOutputIsIdentical() throws Exception {
    Path out = tmp.resolve("executor-killed");
    Path signals = tmp.resolve("signals-executor-killed");
    StandaloneCluster.Submission run = cluster.submit("executor-killed", slowWrites(signals, 1500),
        List.of(hookJar), compressArgs(SlowWriteFileSystem.SCHEME + "://" + out));

    String first = awaitSignal(signals, run);
    long pid = Long.parseLong(first.substring(first.lastIndexOf(".pid") + 4));
    ProcessHandle executor = ProcessHandle.of(pid).orElseThrow();
    assertTrue(executor.info().commandLine().orElse("").contains("CoarseGrainedExecutorBackend"),
        "the writer is an executor JVM");
    assertTrue(executor.destroyForcibly());

    assertEquals(0, run.await(JOB_TIMEOUT), run.tail());
    String part = first.substring("write.".length(), first.indexOf(".attempt"));
    assertTrue(signals(signals).stream().anyMatch(s -> s.startsWith("write." + part + ".")
            && !s.endsWith(".pid" + pid)),
        "the killed executor's part was written again elsewhere: " + signals(signals));
    assertTrue(run.log().contains("Lost executor") || run.log().contains("ExecutorLostFailure"),
        run.tail());
    cluster.awaitIdle();
    assertSameOutput(out);
  }

  @Test
  void driverKilledMidJobLeavesNoSuccessAndTheRerunCompletes() throws Exception {
    Path out = tmp.resolve("driver-killed");
    Path signals = tmp.resolve("signals-driver-killed");
    Map<String, String> conf = slowWrites(signals, 1500);
    String[] args = compressArgs(SlowWriteFileSystem.SCHEME + "://" + out);
    StandaloneCluster.Submission run = cluster.submit("driver-killed", conf, List.of(hookJar), args);

    awaitSignal(signals, run);
    run.process.destroyForcibly();
    assertNotEquals(0, run.await(JOB_TIMEOUT));
    cluster.awaitIdle(); // the master drops the application and its executors
    assertFalse(Files.exists(out.resolve("_SUCCESS")));
    assertTrue(Files.exists(out.resolve("_STARTED")), "the killed run's leftovers are marked");

    StandaloneCluster.Submission rerun = cluster.submit("driver-killed-rerun", conf,
        List.of(hookJar), args);
    assertEquals(0, rerun.await(JOB_TIMEOUT), rerun.tail());
    assertTrue(rerun.log().contains("holds the incomplete output of an earlier run"), rerun.tail());
    cluster.awaitIdle();
    assertSameOutput(out);
  }

  @Test
  void speculativeCopiesLeaveExactlyOneVersionOfEachFile() throws Exception {
    Path out = tmp.resolve("speculation");
    Path signals = tmp.resolve("signals-speculation");
    String straggler = parts(reference).get(0);
    Map<String, String> conf = new LinkedHashMap<>(slowWrites(signals, 0));
    conf.put("spark.hadoop." + SlowWriteFileSystem.STALL_PART, straggler);
    conf.put("spark.speculation", "true");
    conf.put("spark.speculation.interval", "200ms");
    conf.put("spark.speculation.quantile", "0.5");
    conf.put("spark.speculation.multiplier", "2");
    conf.put("spark.speculation.efficiency.enabled", "false");
    StandaloneCluster.Submission run = cluster.submit("speculation", conf, List.of(hookJar),
        compressArgs(SlowWriteFileSystem.SCHEME + "://" + out));

    assertEquals(0, run.await(JOB_TIMEOUT), run.tail());
    List<String> attempts = signals(signals).stream()
        .filter(s -> s.startsWith("write." + straggler + ".")).toList();
    assertTrue(attempts.size() >= 2, "a speculative copy of the straggler ran: " + attempts);
    cluster.awaitIdle();
    assertSameOutput(out);
  }

  private static String[] compressArgs(String output) {
    return new String[] {"compress", "--input", model.toString(), "--output", output,
        "--config", config.toString(), "--bits", "4"};
  }

  private static Map<String, String> slowWrites(Path signals, long delayMs) {
    Map<String, String> conf = new LinkedHashMap<>();
    conf.put("spark.hadoop.fs." + SlowWriteFileSystem.SCHEME + ".impl",
        SlowWriteFileSystem.class.getName());
    conf.put("spark.hadoop." + SlowWriteFileSystem.SIGNAL_DIR, signals.toString());
    conf.put("spark.hadoop." + SlowWriteFileSystem.DELAY_MS, String.valueOf(delayMs));
    return conf;
  }

  /** The first write signal, once an encode task has begun writing its part. */
  private static String awaitSignal(Path signals, StandaloneCluster.Submission run)
      throws Exception {
    long deadline = System.nanoTime() + JOB_TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      List<String> s = signals(signals).stream().filter(n -> n.startsWith("write.")).toList();
      if (!s.isEmpty()) {
        return s.get(0);
      }
      if (!run.process.isAlive()) {
        throw new AssertionError("The job ended before the encode pass wrote:\n" + run.tail());
      }
      Thread.sleep(50);
    }
    throw new AssertionError("No part was written within " + JOB_TIMEOUT + ":\n" + run.tail());
  }

  private static List<String> signals(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  private static List<String> parts(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).filter(f -> f.startsWith("part-")).sorted()
          .toList();
    }
  }

  /** The same files as the local-mode run, byte for byte but the report's, and it verifies. */
  private static void assertSameOutput(Path out) throws IOException {
    Checkpoints.assertSameOutput(reference, out);
    VerifyJob.verify(SharedSpark.get(), out.toString(), model.toString());
  }
}
