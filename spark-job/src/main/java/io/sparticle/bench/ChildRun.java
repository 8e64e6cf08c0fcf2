package io.sparticle.bench;

import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How a {@code sparticle compress} in a child JVM ended, read from its exit code and its log
 * (stdout and stderr together): the summary line of its report when it succeeded, the error
 * line when it did not.
 *
 * <pre>{@code
 * ChildRun r = ChildRun.of(p.exitValue(), seconds, false, Files.readAllLines(log));
 * table.row("compress, -Xmx1g JVM", BenchTable.seconds(r.seconds()), null, r.describe());
 * }</pre>
 *
 * @param exitCode the process's exit code (-1 when it was killed for running too long)
 * @param timedOut whether the bench killed it
 * @param tensors compressed tensors, from the report's summary line; -1 when there is none
 * @param params parameters of the checkpoint, from the same line; -1 when there is none
 * @param error the line that says why it failed, or null
 */
public record ChildRun(int exitCode, double seconds, boolean timedOut, int tensors, long params,
    String error) {
  /** {@code CompressReport.summary()}'s first line. */
  static final Pattern SUMMARY = Pattern.compile(
      "^Compressed ([\\d,]+) of ([\\d,]+) params in ([\\d,]+) groups \\(([\\d,]+) tensors\\)");

  private static final int MAX_ERROR = 200;

  public static ChildRun of(int exitCode, double seconds, boolean timedOut, List<String> log) {
    int tensors = -1;
    long params = -1;
    String cli = null;
    String oom = null;
    String exception = null;
    for (String line : log) {
      Matcher m = SUMMARY.matcher(line);
      if (m.find()) {
        params = Long.parseLong(m.group(2).replace(",", ""));
        tensors = Integer.parseInt(m.group(4).replace(",", ""));
      } else if (line.startsWith("sparticle: ") && !line.startsWith("sparticle: (in thread")) {
        cli = line.substring("sparticle: ".length());
      } else if (oom == null && line.contains("OutOfMemoryError")) {
        oom = line.trim();
      } else if (exception == null && line.startsWith("Exception in thread")) {
        exception = line.trim();
      }
    }
    // The CLI's own word on memory says what to raise; otherwise an OutOfMemoryError in the log is
    // the cause whatever the CLI says after it (Spark's "SparkContext was shut down" as it exits).
    boolean cliOnMemory = cli != null && cli.startsWith("out of memory");
    String error = exitCode == 0 && !timedOut ? null
        : cliOnMemory ? cli : oom != null ? oom : cli != null ? cli : exception;
    if (error != null && error.length() > MAX_ERROR) {
      error = error.substring(0, MAX_ERROR - 3) + "...";
    }
    return new ChildRun(exitCode, seconds, timedOut, tensors, params, error);
  }

  public boolean ok() {
    return exitCode == 0 && !timedOut;
  }

  /**
   * "ok (exit 0), 21,075 tensors compressed" or "FAILED: exit 52 (Spark: a task ran out of
   * memory): java.lang.OutOfMemoryError: Java heap space".
   */
  public String describe() {
    if (timedOut) {
      return String.format(Locale.ROOT, "FAILED: still running after %.0f s, killed", seconds);
    }
    if (ok()) {
      return tensors < 0 ? "ok (exit 0), no report summary in its log"
          : String.format(Locale.ROOT, "ok (exit 0), %,d tensors compressed", tensors);
    }
    String why = meaning(exitCode);
    return "FAILED: exit " + exitCode + (why == null ? "" : " (" + why + ")")
        + (error == null ? "" : ": " + error);
  }

  /** What the exit codes of the CLI, Spark and the OS mean, where they say more than "failed". */
  static String meaning(int exitCode) {
    return switch (exitCode) {
      case 1 -> "internal error";
      case 2 -> "usage or config error";
      case 3 -> "bad input file";
      case 4 -> "I/O failure";
      case 5 -> "out of memory";
      case 52 -> "Spark: out of memory";
      case 137 -> "killed: SIGKILL, e.g. the kernel's OOM killer";
      case 143 -> "killed: SIGTERM";
      default -> null;
    };
  }
}
