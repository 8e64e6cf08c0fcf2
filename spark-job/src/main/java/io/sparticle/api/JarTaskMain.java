package io.sparticle.api;

import io.sparticle.cli.ExitCode;
import io.sparticle.cli.SparticleCli;

/**
 * The main class of a Databricks JAR task (or any host that runs {@code main} inside a shared,
 * long-lived driver): the same commands and options as {@link SparticleCli}, but it never calls
 * {@code System.exit}, which Databricks asks JAR tasks not to do, and it never stops the shared
 * SparkSession. A failure is thrown, so the task fails with the CLI's message and exit code.
 *
 * <pre>{@code
 * spark_jar_task: {main_class_name: io.sparticle.api.JarTaskMain,
 *                  parameters: [compress, --input, ..., --output, ..., --bits, "4"]}
 * }</pre>
 */
public final class JarTaskMain {
  private JarTaskMain() {}

  /** Thrown when the command exits non-zero; the CLI has already printed why on stderr. */
  public static final class CommandFailedException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final int exitCode;

    CommandFailedException(String command, int exitCode) {
      super("sparticle " + command + " failed with exit code " + exitCode + " ("
          + name(exitCode) + "); its message is in the driver's stderr");
      this.exitCode = exitCode;
    }

    public int exitCode() {
      return exitCode;
    }
  }

  public static void main(String[] args) {
    int code = SparticleCli.run(args);
    if (code != 0) {
      throw new CommandFailedException(args.length > 0 ? args[0] : "", code);
    }
  }

  private static String name(int code) {
    for (ExitCode c : ExitCode.values()) {
      if (c.code == code) {
        return c.name();
      }
    }
    return "unknown";
  }
}
