package io.sparticle.io;

import java.io.Serializable;

/**
 * What a task's reads cost: bytes, and the requests the store served them with (GETs on S3A, from
 * the stream's IOStatistics; -1 when the store does not report them, as HDFS and local files
 * don't). Not thread-safe; one per task.
 */
public final class ReadStats implements Serializable {
  private long bytes;
  private long requests;
  private boolean requestsKnown;

  public void add(long bytesRead, long requestCount) {
    bytes += bytesRead;
    if (requestCount >= 0) {
      requests += requestCount;
      requestsKnown = true;
    }
  }

  public long bytes() {
    return bytes;
  }

  /** Requests, or -1 if no reader reported any. */
  public long requests() {
    return requestsKnown ? requests : -1;
  }
}
