package io.sparticle.spark;

import io.sparticle.spark.ProgressListener.Progress;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.spark.Success$;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.storage.RDDInfo;

/**
 * One run of a job (compress, decompress, verify), phase by phase: it labels the Spark jobs of
 * each phase for the Spark UI and, given a {@link ProgressListener}, measures and reports the
 * phase's progress.
 *
 * <pre>{@code
 * try (JobPhases phases = JobPhases.start(jsc, "compress", listener)) {
 *   phases.begin("histogram", "histograms of 9 groups");
 *   phases.track(jsc.parallelize(tasks, tasks.size()), bytesOfEachTask).map(...).collect();
 *   phases.begin("encode", ...);
 *   ...
 *   phases.end(); // the last phase succeeded; close() alone reports it failed
 * }
 * }</pre>
 *
 * <p>Labels: the jobs of a phase get the job group {@code sparticle-<job>-<phase>} and the
 * description {@code sparticle <job>: <phase>: <what>} (a pass may refine the description). When
 * the calling thread already has a job group, such as a notebook cell's, that group is kept, so
 * cancelling the cell still cancels the job; only the description is ours then. {@link #close()}
 * puts the thread's group and description back as they were, so the caller's later jobs are not
 * labelled as ours.
 *
 * <p>Progress: a phase's total is the bytes of the tasks it registered with {@link #track}; a
 * task's bytes count when a {@link SparkListener} on the driver sees it succeed, once per
 * partition however often it ran. A daemon thread reports a phase once it has run for the
 * listener's interval, then about once per interval, and once more when the phase ends.
 */
final class JobPhases implements AutoCloseable {
  static final String GROUP = "spark.jobGroup.id";
  static final String DESCRIPTION = "spark.job.description";
  static final String INTERRUPT = "spark.job.interruptOnCancel";

  private final JavaSparkContext jsc;
  private final String job;
  private final ProgressListener listener;
  private final long intervalNanos;
  private final String callerGroup;
  private final String callerDescription;
  private final String callerInterrupt;
  private final Tracker tracker;
  private final ScheduledExecutorService ticker;
  private Phase current;
  private boolean closed;

  private JobPhases(JavaSparkContext jsc, String job, ProgressListener listener) {
    this.jsc = jsc;
    this.job = job;
    this.listener = listener;
    this.callerGroup = jsc.getLocalProperty(GROUP);
    this.callerDescription = jsc.getLocalProperty(DESCRIPTION);
    this.callerInterrupt = jsc.getLocalProperty(INTERRUPT);
    if (listener == null) {
      this.intervalNanos = 0;
      this.tracker = null;
      this.ticker = null;
      return;
    }
    this.intervalNanos = Math.max(1, listener.interval().toNanos());
    this.tracker = new Tracker();
    jsc.sc().addSparkListener(tracker);
    this.ticker = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "sparticle-progress");
      t.setDaemon(true);
      return t;
    });
    // Several ticks per interval, so a phase is reported close to each interval's end.
    long tick = Math.min(TimeUnit.SECONDS.toNanos(1), Math.max(TimeUnit.MILLISECONDS.toNanos(50),
        intervalNanos / 5));
    ticker.scheduleAtFixedRate(this::tick, tick, tick, TimeUnit.NANOSECONDS);
  }

  /**
   * Starts labelling the calling thread's Spark jobs for {@code job}; {@code listener} (null for
   * none) receives the progress of every phase.
   */
  static JobPhases start(JavaSparkContext jsc, String job, ProgressListener listener) {
    return new JobPhases(jsc, job, listener);
  }

  /** Ends the current phase, which succeeded, and begins {@code phase}. */
  synchronized void begin(String phase, String description) {
    if (closed) {
      throw new IllegalStateException("Cannot begin phase " + phase + ": the job has ended");
    }
    finish(Progress.State.DONE);
    current = new Phase(phase, System.nanoTime());
    String text = "sparticle " + job + ": " + phase + ": " + description;
    if (callerGroup == null) {
      jsc.setJobGroup("sparticle-" + job + "-" + phase, text, false);
    } else {
      jsc.setJobDescription(text);
    }
  }

  /**
   * Counts {@code rdd}'s partitions toward the current phase: partition {@code i} holds
   * {@code bytes[i]} input bytes. Call it on the RDD the phase's first stage starts from (e.g.
   * {@code jsc.parallelize(tasks, n)}) before running the job; returns {@code rdd}.
   */
  synchronized <T> JavaRDD<T> track(JavaRDD<T> rdd, long[] bytes) {
    if (rdd.getNumPartitions() != bytes.length) {
      throw new IllegalArgumentException("Cannot track " + rdd.getNumPartitions()
          + " partitions with " + bytes.length + " byte counts");
    }
    if (current == null) {
      throw new IllegalStateException("Cannot track an RDD outside a phase");
    }
    if (tracker != null) {
      long total = 0;
      for (long b : bytes) {
        total = Math.addExact(total, b);
      }
      current.total += total;
      tracker.register(rdd.id(), current, bytes.clone());
    }
    return rdd;
  }

  /** The last phase succeeded. */
  synchronized void end() {
    finish(Progress.State.DONE);
  }

  /**
   * Reports the phase still open as failed, stops measuring, and restores the thread's job group
   * and description.
   */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      finish(Progress.State.FAILED);
    } finally {
      if (ticker != null) {
        ticker.shutdownNow();
        jsc.sc().removeSparkListener(tracker);
      }
      jsc.setLocalProperty(GROUP, callerGroup);
      jsc.setLocalProperty(DESCRIPTION, callerDescription);
      jsc.setLocalProperty(INTERRUPT, callerInterrupt);
    }
  }

  /** Reports the current phase's end if it was reported while running; none is current then. */
  private void finish(Progress.State state) {
    Phase p = current;
    current = null;
    if (p == null || listener == null || !p.reported) {
      return;
    }
    long total = p.total;
    long done = state == Progress.State.DONE ? total : Math.min(total, p.done.get());
    listener.onProgress(new Progress(job, p.name, done, total, p.seconds(), state));
  }

  private synchronized void tick() {
    Phase p = current;
    if (p == null || closed) {
      return;
    }
    long now = System.nanoTime();
    if (now - p.start < intervalNanos || (p.reported && now - p.lastReport < intervalNanos)) {
      return;
    }
    p.reported = true;
    p.lastReport = now;
    try {
      // Not clamped to the total: a partition counted twice would be a bug, and Progress refuses it.
      listener.onProgress(new Progress(job, p.name, p.done.get(), p.total, p.seconds(),
          Progress.State.RUNNING));
    } catch (RuntimeException e) {
      // A failing listener must not end the ticker (a scheduled task that throws never runs
      // again) nor the job: progress is a courtesy.
    }
  }

  /** A phase's measure; {@code total} grows as RDDs are tracked, {@code done} as tasks finish. */
  private static final class Phase {
    final String name;
    final long start;
    final AtomicLong done = new AtomicLong();
    long total;
    boolean reported;
    long lastReport;

    Phase(String name, long start) {
      this.name = name;
      this.start = start;
    }

    double seconds() {
      return Math.max(0, (System.nanoTime() - start) / 1e9);
    }
  }

  /**
   * Sees the tasks of tracked RDDs finish. A stage whose RDDs include a tracked one maps its
   * partitions to that RDD's byte counts; each partition counts once.
   */
  private static final class Tracker extends SparkListener {
    private record Tracked(Phase phase, long[] bytes) {}

    private record Stage(Phase phase, long[] bytes, BitSet done) {}

    private final Map<Integer, Tracked> rdds = new HashMap<>();
    private final Map<Integer, Stage> stages = new HashMap<>();

    synchronized void register(int rddId, Phase phase, long[] bytes) {
      rdds.put(rddId, new Tracked(phase, bytes));
    }

    @Override
    public synchronized void onStageSubmitted(SparkListenerStageSubmitted event) {
      int stageId = event.stageInfo().stageId();
      if (stages.containsKey(stageId)) {
        return; // a re-attempt: partitions already counted stay counted
      }
      scala.collection.Iterator<RDDInfo> it = event.stageInfo().rddInfos().iterator();
      while (it.hasNext()) {
        Tracked t = rdds.get(it.next().id());
        if (t != null) {
          stages.put(stageId, new Stage(t.phase(), t.bytes(), new BitSet(t.bytes().length)));
          return;
        }
      }
    }

    @Override
    public synchronized void onTaskEnd(SparkListenerTaskEnd event) {
      Stage s = stages.get(event.stageId());
      if (s == null || event.reason() != Success$.MODULE$) {
        return;
      }
      int partition = event.taskInfo().partitionId();
      if (partition < 0) {
        partition = event.taskInfo().index(); // a listener event from before partitionId
      }
      if (partition < s.bytes().length && !s.done().get(partition)) {
        s.done().set(partition);
        s.phase().done.addAndGet(s.bytes()[partition]);
      }
    }
  }
}
