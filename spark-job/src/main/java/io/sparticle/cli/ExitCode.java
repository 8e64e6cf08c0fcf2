package io.sparticle.cli;

import io.sparticle.format.CheckpointFormatException;
import java.io.IOException;

/** The CLI's exit codes, and the one place exceptions are mapped to them. */
public enum ExitCode {
  OK(0),
  INTERNAL_ERROR(1),
  USAGE(2),
  BAD_INPUT(3),
  IO_FAILURE(4),
  OUT_OF_MEMORY(5);

  /** What to raise when a JVM runs out of memory; the CLI prints it with the error. */
  public static final String MEMORY_HINT = "raise the memory of the JVM that ran out: the driver's"
      + " (submit/sparticle: SPARTICLE_JAVA_OPTS=-Xmx8g; spark-submit: --driver-memory 8g) or,"
      + " on a cluster, the executors' (--executor-memory / spark.executor.memory); smaller"
      + " chunk-bytes also lowers each task's buffers";

  public final int code;

  ExitCode(int code) {
    this.code = code;
  }

  /**
   * Walks the cause chain (Spark wraps task failures) for the most telling exception: a bad
   * checkpoint first, then misuse, then I/O; anything else is an internal error.
   */
  public static ExitCode of(Throwable t) {
    if (outOfMemory(t)) {
      return OUT_OF_MEMORY;
    }
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof CheckpointFormatException) {
        return BAD_INPUT;
      }
    }
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof IllegalArgumentException || c instanceof picocli.CommandLine.ParameterException) {
        return USAGE;
      }
    }
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof IOException) {
        return IO_FAILURE;
      }
    }
    return INTERNAL_ERROR;
  }

  /**
   * Whether a JVM ran out of memory: an {@link OutOfMemoryError} in the cause chain, or a Spark
   * task failure that reports one (an executor's error reaches the driver as text).
   */
  static boolean outOfMemory(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof OutOfMemoryError
          || (c.getMessage() != null && c.getMessage().contains("java.lang.OutOfMemoryError"))) {
        return true;
      }
    }
    return false;
  }

  /** The code of that number, or null for a number no code has. */
  public static ExitCode ofCode(int code) {
    for (ExitCode c : values()) {
      if (c.code == code) {
        return c;
      }
    }
    return null;
  }

  /**
   * What the CLI prints for a failure, on one line: {@code sparticle: error: REASON (exit N
   * NAME)}; an internal error adds that {@code --verbose} prints its stack trace.
   */
  public static String errorLine(Throwable t) {
    ExitCode code = of(t);
    String reason = message(t);
    if (code == INTERNAL_ERROR) {
      reason += "; --verbose prints the stack trace";
    }
    return errorLine(code, reason);
  }

  /** {@code sparticle: error: REASON (exit N NAME)}, the reason on one line. */
  public static String errorLine(ExitCode code, String reason) {
    return "sparticle: error: " + oneLine(reason) + " (exit " + code.code + " " + code.name() + ")";
  }

  /**
   * A message's lines joined by spaces, up to the first line of a stack trace (Spark quotes an
   * executor's trace in the message of a task failure).
   */
  static String oneLine(String text) {
    if (text == null || text.isBlank()) {
      return "no message";
    }
    StringBuilder b = new StringBuilder();
    for (String line : text.split("\\R")) {
      String l = line.strip();
      if (l.startsWith("at ") && line.length() > l.length()) {
        break;
      }
      if (!l.isEmpty()) {
        b.append(b.length() == 0 ? "" : " ").append(l);
      }
    }
    return b.toString();
  }

  /** The message of the exception that decided the code. */
  public static String message(Throwable t) {
    ExitCode code = of(t);
    if (code == OUT_OF_MEMORY) {
      String what = "out of memory";
      for (Throwable c = t; c != null; c = c.getCause()) {
        if (c instanceof OutOfMemoryError) {
          what = "out of memory (" + c.getMessage() + ")";
          break;
        }
      }
      return what + ": " + MEMORY_HINT;
    }
    for (Throwable c = t; c != null; c = c.getCause()) {
      boolean match = switch (code) {
        case BAD_INPUT -> c instanceof CheckpointFormatException;
        case USAGE -> c instanceof IllegalArgumentException || c instanceof picocli.CommandLine.ParameterException;
        case IO_FAILURE -> c instanceof IOException;
        default -> false;
      };
      if (match) {
        return c.getMessage();
      }
    }
    return t.toString();
  }
}
