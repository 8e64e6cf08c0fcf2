package io.sparticle.cli;

import static org.junit.jupiter.api.Assertions.*;

import io.sparticle.format.CheckpointFormatException;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class OutOfMemoryExitTest {

  @Test
  void outOfMemoryAnywhereInTheChainDecides() {
    Throwable wrapped = new IllegalStateException("fit failed",
        new java.util.concurrent.ExecutionException(new OutOfMemoryError("Java heap space")));
    assertEquals(ExitCode.OUT_OF_MEMORY, ExitCode.of(wrapped));
    assertTrue(ExitCode.message(wrapped).startsWith("out of memory (Java heap space): raise the "
        + "memory of the JVM that ran out"), ExitCode.message(wrapped));
    // An executor's failure reaches the driver as text in Spark's exception.
    Throwable remote = new RuntimeException("Job aborted due to stage failure: Task 0 in stage 1.0"
        + " failed: io.sparticle.spark.TaskMemory$TaskOutOfMemoryException: the histogram task of"
        + " f ran out of memory: java.lang.OutOfMemoryError: Java heap space");
    assertEquals(ExitCode.OUT_OF_MEMORY, ExitCode.of(remote));
    // It outranks a bad-input cause only when memory ran out; otherwise nothing changes.
    assertEquals(ExitCode.BAD_INPUT, ExitCode.of(new IOException(new CheckpointFormatException(
        CheckpointFormatException.Reason.values()[0], "f", "t", "bad"))));
    assertEquals(5, ExitCode.OUT_OF_MEMORY.code);
  }

  /** A thread other than main dies of OutOfMemoryError: the process ends with 5, promptly. */
  @Test
  void anotherThreadRunningOutEndsTheProcess() throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java");
    cmd.add("-Xmx64m");
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(Hog.class.getName());
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    boolean ended = p.waitFor(60, TimeUnit.SECONDS);
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!ended) {
      p.destroyForcibly();
    }
    assertTrue(ended, "the process hung: " + out);
    assertEquals(ExitCode.OUT_OF_MEMORY.code, p.exitValue(), out);
    assertTrue(out.contains("sparticle: error: out of memory: raise the memory of the JVM"), out);
    assertTrue(out.contains(" (in thread hog; exit 5 OUT_OF_MEMORY)\n"), out);
  }

  /** Installs the CLI's handler, exhausts the heap in another thread, and waits for ever. */
  public static final class Hog {
    public static void main(String[] args) throws InterruptedException {
      SparticleCli.installOutOfMemoryHandler();
      Thread t = new Thread(() -> {
        List<long[]> keep = new ArrayList<>();
        while (true) {
          keep.add(new long[1 << 20]);
        }
      }, "hog");
      t.start();
      Thread.sleep(Long.MAX_VALUE);
    }
  }
}
