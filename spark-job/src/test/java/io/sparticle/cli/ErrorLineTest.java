package io.sparticle.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.format.CheckpointFormatException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** A failure is one line, {@code sparticle: error: REASON (exit N NAME)}; its trace needs --verbose. */
class ErrorLineTest {
  @Test
  void theReasonAndTheCodeByName() {
    assertEquals("sparticle: error: Cannot set bits to 9: must be between 1 and 8 (exit 2 USAGE)",
        ExitCode.errorLine(new IllegalArgumentException("Cannot set bits to 9: must be between 1 and 8")));
    assertEquals("sparticle: error: Input /x does not exist (exit 4 IO_FAILURE)",
        ExitCode.errorLine(new UncheckedIOException(new java.io.FileNotFoundException("Input /x does not exist"))));
  }

  @Test
  void theCauseThatDecidedTheCodeGivesTheReason() {
    CheckpointFormatException bad = new CheckpointFormatException(
        CheckpointFormatException.Reason.values()[0], "/m/a.safetensors", "w", "bad header");
    String line = ExitCode.errorLine(new RuntimeException("Job aborted", new IOException(bad)));
    assertEquals("sparticle: error: " + bad.getMessage() + " (exit 3 BAD_INPUT)", line);
  }

  @Test
  void anInternalErrorSaysHowToSeeItsTrace() {
    assertEquals("sparticle: error: java.lang.IllegalStateException: No result for output part p"
        + "; --verbose prints the stack trace (exit 1 INTERNAL_ERROR)",
        ExitCode.errorLine(new IllegalStateException("No result for output part p")));
  }

  @Test
  void aQuotedStackTraceIsCutAndLinesAreJoined() {
    // As Spark reports an executor's failure: the remote trace is part of the message.
    String spark = "Job aborted due to stage failure: Task 0 in stage 1.0 failed:\n"
        + "java.lang.NullPointerException: x\n\tat io.sparticle.spark.EncodePass.encode(EncodePass.java:80)\n"
        + "\tat org.apache.spark.rdd.RDD.iterator(RDD.scala:1)\n";
    assertEquals("Job aborted due to stage failure: Task 0 in stage 1.0 failed: "
        + "java.lang.NullPointerException: x", ExitCode.oneLine(spark));
    assertEquals("no message", ExitCode.oneLine(null));
    assertEquals("a b", ExitCode.oneLine("a\r\n  b\n\n"));
    // "at" that starts a line of text, not indented, is not a stack frame.
    assertEquals("tensor 'w' at offset 8", ExitCode.oneLine("tensor 'w'\nat offset 8"));
  }

  @Test
  void outOfMemoryNamesItsCode() {
    String line = ExitCode.errorLine(new IllegalStateException("fit", new OutOfMemoryError("Java heap space")));
    assertTrue(line.startsWith("sparticle: error: out of memory (Java heap space): raise the memory"), line);
    assertTrue(line.endsWith(" (exit 5 OUT_OF_MEMORY)"), line);
  }

  @Test
  void theCliPrintsOneLineAndTheTraceOnlyWithVerbose() {
    // verify of a directory that is not there: an I/O failure, before Spark starts.
    Run quiet = run("inspect", "/nonexistent/sparticle-dir");
    assertEquals(4, quiet.code());
    assertEquals("", quiet.out());
    String[] lines = quiet.err().split("\n");
    assertEquals(1, lines.length, quiet.err());
    assertTrue(lines[0].startsWith("sparticle: error: "), lines[0]);
    assertTrue(lines[0].endsWith(" (exit 4 IO_FAILURE)"), lines[0]);
    Run verbose = run("inspect", "/nonexistent/sparticle-dir", "--verbose");
    assertEquals(4, verbose.code());
    assertTrue(verbose.err().contains("\tat "), verbose.err());
    assertTrue(verbose.err().strip().endsWith(lines[0]), "the one line comes last: " + verbose.err());
  }

  @Test
  void aUsageErrorIsOneLineThatPointsToHelp() {
    Run r = run("compress", "--input", "x");
    assertEquals(2, r.code());
    assertEquals("sparticle: error: Missing required option: '--output=<output>'; "
        + "see 'sparticle compress --help' (exit 2 USAGE)\n", r.err());
    Run both = run("verify", "a", "--input", "b");
    assertEquals(2, both.code());
    assertEquals("sparticle: error: Give the directory once: as DIR or as --input DIR, not both "
        + "(exit 2 USAGE)\n", both.err());
  }

  record Run(int code, String out, String err) {}

  static Run run(String... args) {
    PrintStream oldOut = System.out;
    PrintStream oldErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      int code = SparticleCli.run(args);
      return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
  }

  @Test
  void noEscapeCodesInTheErrorLine() {
    assertFalse(run("frobnicate").err().contains("\u001b"));
  }
}
