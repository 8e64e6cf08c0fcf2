package io.sparticle.io;

import java.io.IOException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;

/**
 * Keeps one file open while a task reads consecutive ranges of it, so an object store serves a
 * task's ranges from one long GET instead of one request per tensor. Opening another file closes
 * the previous one. Not thread-safe; one per task.
 */
public final class SequentialReaders implements AutoCloseable {
  private final Configuration conf;
  private final ReadStats stats = new ReadStats();
  private String openPath;
  private RangeReader reader;

  public SequentialReaders(Configuration conf) {
    this.conf = conf;
  }

  /** Totals of the readers closed so far (all of them, after {@link #close}). */
  public ReadStats stats() {
    return stats;
  }

  /** A reader for {@code path} (of known {@code length}), reusing the open one if it is the same. */
  public RangeReader get(String path, long length) throws IOException {
    if (!path.equals(openPath)) {
      close();
      reader = HadoopInputFile.of(new Path(path), conf, length).open();
      openPath = path;
    }
    return reader;
  }

  @Override
  public void close() throws IOException {
    if (reader != null) {
      RangeReader r = reader;
      reader = null;
      openPath = null;
      try {
        r.close();
      } finally {
        // Read after close: S3A folds the last request into the stream's statistics on close.
        stats.add(r.bytesRead(), r.requests());
      }
    }
  }
}
