package io.sparticle.cli;

import io.sparticle.format.CheckpointFormatException;
import java.io.IOException;

/** The CLI's exit codes, and the one place exceptions are mapped to them. */
public enum ExitCode {
  OK(0),
  INTERNAL_ERROR(1),
  USAGE(2),
  BAD_INPUT(3),
  IO_FAILURE(4);

  public final int code;

  ExitCode(int code) {
    this.code = code;
  }

  /**
   * Walks the cause chain (Spark wraps task failures) for the most telling exception: a bad
   * checkpoint first, then misuse, then I/O; anything else is an internal error.
   */
  public static ExitCode of(Throwable t) {
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

  /** The message of the exception that decided the code. */
  public static String message(Throwable t) {
    ExitCode code = of(t);
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
