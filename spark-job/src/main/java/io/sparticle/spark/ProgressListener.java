package io.sparticle.spark;

import java.time.Duration;

/**
 * Receives a running job's progress on the driver, phase by phase (compress: plan, histogram,
 * particleization, encode, commit; decompress: checksum, decode; verify: checksum, compare). A
 * phase that ends within {@link #interval()} is never reported; a longer one is reported about
 * once per interval while it runs and once more when it ends. Nothing is reported unless a
 * listener is given, so a notebook's job prints nothing of its own.
 *
 * <pre>{@code
 * Sparticle.compress(spark).input(in).output(out)
 *     .progress(p -> System.err.println(p.phase() + " " + p.percent() + "%"))
 *     .execute();
 * }</pre>
 *
 * <p>Calls come from a daemon thread while a phase runs and from the job's thread when it ends,
 * never two at once.
 */
@FunctionalInterface
public interface ProgressListener {
  void onProgress(Progress progress);

  /** How often a running phase is reported; 5 s unless the listener says otherwise. */
  default Duration interval() {
    return Duration.ofSeconds(5);
  }

  /**
   * A phase's progress: {@code doneBytes} of {@code totalBytes} are the input bytes of its Spark
   * tasks that have finished (a task counts once, when it succeeds, however often it ran);
   * {@code totalBytes} is 0 for a phase that runs on the driver or has no byte count (the
   * codebook fits), which reports only its time.
   */
  record Progress(String job, String phase, long doneBytes, long totalBytes, double seconds,
      State state) {
    /** A phase is reported while it runs, then once as done or failed. */
    public enum State { RUNNING, DONE, FAILED }

    public Progress {
      if (doneBytes < 0 || totalBytes < 0 || doneBytes > totalBytes || seconds < 0) {
        throw new IllegalArgumentException("Cannot report " + doneBytes + " of " + totalBytes
            + " bytes after " + seconds + " s");
      }
    }

    /** Whether the phase has a byte count; if not, only {@link #seconds()} says anything. */
    public boolean measured() {
      return totalBytes > 0;
    }

    /** Whole percent of the bytes done, rounded down: 100 only when every task has finished. */
    public int percent() {
      return measured() ? (int) (doneBytes * 100.0 / totalBytes) : 0;
    }

    /** Bytes done per second since the phase began; 0 before any task has finished. */
    public double bytesPerSecond() {
      return seconds > 0 ? doneBytes / seconds : 0;
    }

    /**
     * Seconds left at the throughput so far, or -1 while that is unknown (nothing done yet, or no
     * byte count).
     */
    public double etaSeconds() {
      if (!measured() || doneBytes == 0) {
        return -1;
      }
      return (totalBytes - doneBytes) / bytesPerSecond();
    }
  }
}
