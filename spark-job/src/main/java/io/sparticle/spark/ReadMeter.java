package io.sparticle.spark;

import io.sparticle.io.ReadStats;
import java.io.Serializable;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.util.LongAccumulator;

/** Sums the tasks' {@link ReadStats} on the driver, through Spark accumulators. */
final class ReadMeter implements Serializable {
  private final LongAccumulator bytes;
  private final LongAccumulator requests;
  private final LongAccumulator reporting;

  ReadMeter(JavaSparkContext jsc) {
    this.bytes = jsc.sc().longAccumulator("sparticle.read.bytes");
    this.requests = jsc.sc().longAccumulator("sparticle.read.requests");
    this.reporting = jsc.sc().longAccumulator("sparticle.read.tasks-reporting-requests");
  }

  /** Called by a task once its readers are closed. */
  void add(ReadStats s) {
    bytes.add(s.bytes());
    if (s.requests() >= 0) {
      requests.add(s.requests());
      reporting.add(1);
    }
  }

  long bytes() {
    return bytes.value();
  }

  /** Storage requests (S3 GETs), or -1 when the store did not report them. */
  long requests() {
    return reporting.value() > 0 ? requests.value() : -1;
  }
}
