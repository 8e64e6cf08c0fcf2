package io.sparticle.spark;

import java.util.concurrent.Callable;

/**
 * Turns a task's {@link OutOfMemoryError} into an ordinary task failure that names it. Spark's
 * executor treats the error as fatal and exits its JVM (in local mode the driver's, with exit code
 * 52 and no word on what to do); as an exception, the job fails with the task's message and the
 * CLI exits with OUT_OF_MEMORY and the setting to raise. The task's buffers are unreachable by
 * the time it is rethrown, so the executor has its memory back.
 */
final class TaskMemory {
  private TaskMemory() {}

  /** An executor's task ran out of memory; the message carries the original error's name. */
  static final class TaskOutOfMemoryException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    TaskOutOfMemoryException(String what, OutOfMemoryError e) {
      super(what + " ran out of memory: " + e, null, false, false);
    }
  }

  static <T> T guard(String what, Callable<T> body) throws Exception {
    try {
      return body.call();
    } catch (OutOfMemoryError e) {
      throw new TaskOutOfMemoryException(what, e);
    }
  }
}
