package io.sparticle.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.format.DType;
import io.sparticle.spark.ProgressListener.Progress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every Spark job of a run is labelled by its phase, and a phase's bytes are counted exactly. */
class JobPhasesTest {
  @TempDir Path tmp;

  private static final AtomicBoolean FAILED = new AtomicBoolean();

  /** The group and description of every job the context starts while it listens. */
  private static final class Labels extends SparkListener {
    final List<String[]> jobs = Collections.synchronizedList(new ArrayList<>());

    @Override
    public void onJobStart(SparkListenerJobStart e) {
      jobs.add(new String[] {e.properties().getProperty(JobPhases.GROUP),
          e.properties().getProperty(JobPhases.DESCRIPTION)});
    }
  }

  private static JavaSparkContext jsc() {
    return JavaSparkContext.fromSparkContext(SharedSpark.get().sparkContext());
  }

  private static List<String[]> labelsOf(ThrowingRunnable run) throws Exception {
    Labels labels = new Labels();
    jsc().sc().addSparkListener(labels);
    try {
      run.run();
      // The listener bus is asynchronous: wait until it has delivered everything so far.
      jsc().sc().listenerBus().waitUntilEmpty(10_000);
    } finally {
      jsc().sc().removeSparkListener(labels);
    }
    return labels.jobs;
  }

  interface ThrowingRunnable {
    void run() throws Exception;
  }

  @Test
  void everyJobOfACompressAndDecompressHasItsPhasesGroupAndTheThreadIsLeftAsItWas() throws Exception {
    Path model = Checkpoints.generate(tmp.resolve("model"), DType.BF16);
    List<String[]> jobs = labelsOf(() -> {
      Sparticle.compress(SharedSpark.get()).input(model.toString()).output(tmp.resolve("c").toString())
          .execute();
      Sparticle.decompress(SharedSpark.get()).input(tmp.resolve("c").toString())
          .output(tmp.resolve("d").toString()).execute();
      VerifyJob.verify(SharedSpark.get(), tmp.resolve("c").toString(), model.toString());
    });
    Set<String> groups = new LinkedHashSet<>();
    for (String[] j : jobs) {
      assertTrue(j[0] != null && j[0].startsWith("sparticle-"), "job group " + j[0]);
      assertTrue(j[1] != null && j[1].startsWith("sparticle"), "description " + j[1]);
      groups.add(j[0]);
    }
    assertEquals(List.of("sparticle-compress-histogram", "sparticle-compress-particleization",
        "sparticle-compress-encode", "sparticle-decompress-checksum", "sparticle-decompress-decode",
        "sparticle-verify-checksum", "sparticle-verify-compare"), List.copyOf(groups));
    assertNull(jsc().getLocalProperty(JobPhases.GROUP));
    assertNull(jsc().getLocalProperty(JobPhases.DESCRIPTION));
  }

  @Test
  void aCallersJobGroupIsKeptSoCancellingItStillCancelsTheJob() throws Exception {
    Path model = Checkpoints.generate(tmp.resolve("model"), DType.F16);
    jsc().setJobGroup("cell-42", "the notebook's cell", false);
    try {
      List<String[]> jobs = labelsOf(() -> Sparticle.compress(SharedSpark.get())
          .input(model.toString()).output(tmp.resolve("c").toString()).execute());
      assertTrue(jobs.size() >= 2, jobs.size() + " jobs");
      for (String[] j : jobs) {
        assertEquals("cell-42", j[0]);
        assertTrue(j[1].startsWith("sparticle"), j[1]);
      }
      assertEquals("cell-42", jsc().getLocalProperty(JobPhases.GROUP));
      assertEquals("the notebook's cell", jsc().getLocalProperty(JobPhases.DESCRIPTION));
    } finally {
      jsc().clearJobGroup();
    }
  }

  @Test
  void aPhaseCountsOnlySucceededTasksBytesAndReportsItsEnd() throws Exception {
    List<Progress> seen = Collections.synchronizedList(new ArrayList<>());
    ProgressListener listener = new ProgressListener() {
      @Override
      public void onProgress(Progress p) {
        seen.add(p);
      }

      @Override
      public Duration interval() {
        return Duration.ofMillis(1);
      }
    };
    FAILED.set(false);
    JavaSparkContext jsc = jsc();
    try (JobPhases phases = JobPhases.start(jsc, "test", listener)) {
      phases.begin("work", "four tasks, the third failing once");
      long[] bytes = {10, 20, 30, 40};
      List<Integer> out = phases.track(jsc.parallelize(List.of(0, 1, 2, 3), 4), bytes)
          .map(i -> {
            if (i == 2 && FAILED.compareAndSet(false, true)) {
              throw new IllegalStateException("injected: fails once, then succeeds");
            }
            Thread.sleep(200); // long enough for running reports between tasks
            return i;
          })
          .collect();
      assertEquals(List.of(0, 1, 2, 3), out);
      // A running report counts what the listener has seen: wait until it has seen every task.
      long deadline = System.nanoTime() + 10_000_000_000L;
      while (System.nanoTime() < deadline && seen.stream().noneMatch(p -> p.doneBytes() == 100)) {
        Thread.sleep(20);
      }
      phases.begin("idle", "a phase with no tasks");
      Thread.sleep(100);
      phases.end();
    }
    List<Progress> work = seen.stream().filter(p -> p.phase().equals("work")).toList();
    assertTrue(work.stream().anyMatch(p -> p.state() == Progress.State.RUNNING
        && p.doneBytes() == 100), "every partition's bytes counted once: " + work);
    long before = -1;
    for (Progress p : work) {
      assertEquals(100, p.totalBytes());
      assertTrue(p.doneBytes() >= before, "done bytes never go back: " + work);
      before = p.doneBytes();
    }
    Progress last = work.get(work.size() - 1);
    assertEquals(Progress.State.DONE, last.state());
    assertEquals(100, last.doneBytes());
    Progress idle = seen.get(seen.size() - 1);
    assertEquals("idle", idle.phase());
    assertEquals(Progress.State.DONE, idle.state());
    assertEquals(0, idle.totalBytes());
    assertNull(jsc.getLocalProperty(JobPhases.GROUP));
  }

  @Test
  void aPhaseShorterThanTheIntervalIsNotReportedAndAFailureIsReportedAsSuch() throws Exception {
    List<Progress> seen = Collections.synchronizedList(new ArrayList<>());
    ProgressListener listener = new ProgressListener() {
      @Override
      public void onProgress(Progress p) {
        seen.add(p);
      }

      @Override
      public Duration interval() {
        return Duration.ofMillis(300);
      }
    };
    try (JobPhases phases = JobPhases.start(jsc(), "test", listener)) {
      phases.begin("short", "ends at once");
      phases.begin("long", "fails after a while");
      Thread.sleep(700);
      // no end(): the job failed in this phase
    }
    assertTrue(seen.stream().noneMatch(p -> p.phase().equals("short")), seen.toString());
    assertTrue(seen.size() >= 2, seen.toString());
    assertEquals(Progress.State.RUNNING, seen.get(0).state());
    assertEquals(Progress.State.FAILED, seen.get(seen.size() - 1).state());
  }
}
