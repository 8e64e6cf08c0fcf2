package io.sparticle.spark;

import org.apache.spark.sql.SparkSession;

/** One local[2] Spark session (tasks may retry once) for all integration tests of a JVM: UI off, driver on 127.0.0.1. */
public final class SharedSpark {
  private static SparkSession session;

  private SharedSpark() {}

  public static synchronized SparkSession get() {
    if (session == null) {
      session = SparkSession.builder()
          .master("local[2,2]") // 2 attempts per task: faults are retried as on a cluster
          .appName("sparticle-tests")
          .config("spark.ui.enabled", "false")
          .config("spark.driver.host", "127.0.0.1")
          .config("spark.driver.bindAddress", "127.0.0.1")
          .config("spark.sql.shuffle.partitions", "2")
          .getOrCreate();
      Runtime.getRuntime().addShutdownHook(new Thread(() -> session.stop()));
    }
    return session;
  }

  /**
   * Waits until no task runs: a failed job's other tasks are cancelled, not stopped at once, so a
   * test that injects faults keeps them armed until the executors are idle.
   */
  public static void awaitNoRunningTasks() throws InterruptedException {
    long deadline = System.nanoTime() + 60_000_000_000L;
    while (System.nanoTime() < deadline) {
      boolean busy = false;
      for (var e : get().sparkContext().statusTracker().getExecutorInfos()) {
        busy |= e.numRunningTasks() > 0;
      }
      if (!busy) {
        return;
      }
      Thread.sleep(50);
    }
    throw new AssertionError("tasks still running after 60 s");
  }
}
