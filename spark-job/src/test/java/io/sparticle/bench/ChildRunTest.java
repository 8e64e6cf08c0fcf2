package io.sparticle.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ChildRunTest {
  @Test
  void readsTheTensorCountOfASuccessfulRun() {
    ChildRun r = ChildRun.of(0, 16.94, false, List.of(
        "25/12/06 03:16:01 WARN NativeCodeLoader: Unable to load native-hadoop library",
        "Compressed 367,350,784 of 367,354,112 params in 12 groups (20976 tensors)",
        "  size    734,708,224 -> 184,000,000 bytes  ratio 3.99x  4.010 bits/weight"));
    assertTrue(r.ok());
    assertEquals(20_976, r.tensors());
    assertEquals(367_354_112L, r.params());
    assertNull(r.error());
    assertEquals("ok (exit 0), 20,976 tensors compressed", r.describe());
  }

  @Test
  void saysWhyARunFailed() {
    ChildRun cli = ChildRun.of(4, 3.2, false, List.of("WARN something", "sparticle: Cannot read /x: gone"));
    assertFalse(cli.ok());
    assertEquals(-1, cli.tensors());
    assertEquals("FAILED: exit 4 (I/O failure): Cannot read /x: gone", cli.describe());

    ChildRun oom = ChildRun.of(52, 41.0, false, List.of(
        "25/12/06 ERROR Executor: Exception in task 3.0 in stage 2.0 (TID 40)",
        "java.lang.OutOfMemoryError: Java heap space",
        "\tat io.sparticle.spark.Particleizer.fit(Particleizer.java:10)",
        "java.lang.OutOfMemoryError: Java heap space",
        "sparticle: org.apache.spark.SparkException: Job 0 cancelled because SparkContext was shut down"));
    assertEquals("FAILED: exit 52 (Spark: out of memory): java.lang.OutOfMemoryError: Java heap space",
        oom.describe());

    ChildRun named = ChildRun.of(5, 30.0, false, List.of(
        "java.lang.OutOfMemoryError: Java heap space",
        "sparticle: out of memory (Java heap space): raise the memory of the JVM that ran out",
        "sparticle: (in thread dag-scheduler-event-loop)"));
    assertEquals("FAILED: exit 5 (out of memory): out of memory (Java heap space): raise the memory "
        + "of the JVM that ran out", named.describe());

    ChildRun main = ChildRun.of(1, 2.0, false,
        List.of("Exception in thread \"main\" java.lang.NoClassDefFoundError: x/Y"));
    assertEquals("FAILED: exit 1 (internal error): Exception in thread \"main\" java.lang.NoClassDefFoundError: x/Y",
        main.describe());

    assertEquals("FAILED: exit 7", ChildRun.of(7, 1.0, false, List.of()).describe());
  }

  @Test
  void saysWhenItWasKilledForRunningTooLong() {
    ChildRun r = ChildRun.of(-1, 600.4, true, List.of("Compressed 1 of 2 params in 1 groups (1 tensors)"));
    assertFalse(r.ok());
    assertEquals("FAILED: still running after 600 s, killed", r.describe());
  }

  @Test
  void shortensLongErrors() {
    ChildRun r = ChildRun.of(1, 1.0, false, List.of("sparticle: " + "x".repeat(500)));
    assertEquals(200, r.error().length());
    assertTrue(r.error().endsWith("..."));
  }
}
