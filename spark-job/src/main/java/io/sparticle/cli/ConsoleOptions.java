package io.sparticle.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sparticle.spark.ProgressListener;
import java.io.OutputStream;
import java.io.PrintStream;
import java.time.Duration;
import picocli.CommandLine.Option;

/**
 * What a command prints, as every command takes it: {@code --quiet} (errors only),
 * {@code --verbose} (an error's stack trace too; read by the CLI's error handler) and
 * {@code --progress-interval}. A command's result goes to stdout, progress and errors to stderr,
 * so with {@code --json} stdout holds exactly one JSON line.
 */
final class ConsoleOptions {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(names = {"-q", "--quiet"}, description = "Print nothing but errors")
  boolean quiet;

  @Option(names = {"-v", "--verbose"}, description = "With an error, also print its stack trace")
  boolean verbose;

  @Option(names = "--progress-interval", paramLabel = "SECONDS",
      description = "Report a running phase on stderr every SECONDS (default: 1 on a terminal, "
          + "where one line updates in place; 5 otherwise, as plain lines; 0: never). A phase "
          + "shorter than this is not reported.")
  Double progressInterval;

  /** Where a command prints its human-readable result: stdout, or nowhere with --quiet or --json. */
  PrintStream out(boolean json) {
    return quiet || json ? new PrintStream(OutputStream.nullOutputStream()) : System.out;
  }

  /** Prints {@code o} as one JSON line on stdout (unless --quiet). */
  void json(ObjectNode o) {
    if (!quiet) {
      try {
        System.out.println(JSON.writeValueAsString(o));
      } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
        throw new IllegalStateException("Cannot write JSON: " + e.getMessage(), e);
      }
      System.out.flush();
    }
  }

  /** Prints a warning line on stderr (unless --quiet). */
  void warn(String line) {
    if (!quiet) {
      System.err.println(line);
      System.err.flush();
    }
  }

  static ObjectNode object() {
    return JSON.createObjectNode();
  }

  static com.fasterxml.jackson.databind.JsonNode parse(byte[] json) throws java.io.IOException {
    return JSON.readTree(json);
  }

  /** The progress reporter for the job, or null with --quiet or an interval of 0. */
  ProgressListener progress() {
    if (progressInterval != null && (progressInterval < 0 || progressInterval.isNaN())) {
      throw new IllegalArgumentException("Cannot set progress-interval to " + progressInterval
          + ": must be 0 (never) or more seconds");
    }
    boolean terminal = ConsoleProgress.stderrIsTerminal();
    double seconds = progressInterval != null ? progressInterval : terminal ? 1 : 5;
    if (quiet || seconds == 0) {
      return null;
    }
    return new ConsoleProgress(System.err, terminal, Duration.ofNanos((long) (seconds * 1e9)));
  }
}
