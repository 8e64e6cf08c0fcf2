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
}
