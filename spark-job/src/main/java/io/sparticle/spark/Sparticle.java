package io.sparticle.spark;

import org.apache.spark.sql.SparkSession;

/**
 * Entry point for Java, Scala and notebooks.
 *
 * <pre>{@code
 * CompressReport r = Sparticle.compress(spark).input(in).output(out).execute();
 * Sparticle.decompress(spark).input(out).output(restored).execute();
 * }</pre>
 */
public final class Sparticle {
  private Sparticle() {}

  public static CompressJob compress(SparkSession spark) {
    return new CompressJob(spark);
  }

  public static DecompressJob decompress(SparkSession spark) {
    return new DecompressJob(spark);
  }
}
