package io.sparticle.cli;

import io.sparticle.spark.ProgressListener;
import java.io.PrintStream;
import java.time.Duration;
import java.util.Locale;

/**
 * The CLI's progress lines, on stderr: on a terminal one line that updates in place
 * ({@code \r}, no escape sequences); otherwise (Airflow's logs, a pipe, a file) plain lines, one
 * per report.
 *
 * <pre>
 * compress   histogram        42%    1.2 GB/s  ETA 3 s
 * compress   histogram       100%    1.3 GB/s  done in 9.4 s
 * compress   particleization running 12 s
 * </pre>
 */
final class ConsoleProgress implements ProgressListener {
  /** Set by submit/sparticle: whether its stderr is a terminal (the JVM's own stderr is a pipe). */
  static final String TTY_PROPERTY = "sparticle.stderr.tty";

  private final PrintStream out;
  private final boolean terminal;
  private final Duration interval;
  private int shown; // length of the line a terminal shows now, 0 after a newline

  ConsoleProgress(PrintStream out, boolean terminal, Duration interval) {
    this.out = out;
    this.terminal = terminal;
    this.interval = interval;
  }

  /**
   * Whether stderr is a terminal: as the launcher says, else as {@link System#console()} says
   * (stdin and stdout are terminals; spark-submit passes stderr through unchanged).
   */
  static boolean stderrIsTerminal() {
    String tty = System.getProperty(TTY_PROPERTY);
    return tty != null ? Boolean.parseBoolean(tty) : System.console() != null;
  }

  @Override
  public Duration interval() {
    return interval;
  }

  @Override
  public synchronized void onProgress(Progress p) {
    if (p.state() == Progress.State.FAILED) {
      // The error's own line follows; a terminal's progress line must not run into it.
      if (terminal && shown > 0) {
        out.println();
        shown = 0;
      }
      out.flush();
      return;
    }
    String line = format(p);
    if (!terminal) {
      out.println(line);
    } else {
      // Spaces, not an escape sequence, clear what a longer line left behind.
      out.print("\r" + line + " ".repeat(Math.max(0, shown - line.length())));
      shown = line.length();
      if (p.state() == Progress.State.DONE) {
        out.println();
        shown = 0;
      }
    }
    out.flush();
  }

  /** One report as a line: job, phase, percent, throughput and ETA (or time, when done). */
  static String format(Progress p) {
    String head = String.format(Locale.ROOT, "%-10s %-15s ", p.job(), p.phase());
    boolean done = p.state() == Progress.State.DONE;
    if (!p.measured()) {
      return head + (done ? "done in " : "running ") + duration(p.seconds(), false);
    }
    String rate = p.doneBytes() == 0 ? "-" : rate(p.bytesPerSecond());
    // Every task's bytes done but the phase still running: its last merge or commit.
    String tail = done ? "done in " + duration(p.seconds(), false)
        : p.doneBytes() == p.totalBytes() ? "finishing"
        : "ETA " + (p.etaSeconds() < 0 ? "-" : duration(p.etaSeconds(), true));
    return head + String.format(Locale.ROOT, "%3d%%  %10s  %s", p.percent(), rate, tail);
  }

  /** Bytes per second in decimal units, three significant digits at most: 850 MB/s, 1.2 GB/s. */
  static String rate(double bytesPerSecond) {
    String[] units = {"B/s", "kB/s", "MB/s", "GB/s", "TB/s"};
    double v = bytesPerSecond;
    int u = 0;
    while (u < units.length - 1 && v >= 999.5) {
      v /= 1000;
      u++;
    }
    return String.format(Locale.ROOT, v < 99.95 && u > 0 ? "%.1f %s" : "%.0f %s", v, units[u]);
  }

  /**
   * Seconds as {@code 2.5 s}, {@code 17 s}, {@code 4 min 05 s} or {@code 2 h 03 min}; an estimate
   * is whole seconds rounded up, so a phase not yet done never shows 0 s left.
   */
  static String duration(double seconds, boolean estimate) {
    if (!estimate && seconds < 9.95) {
      return String.format(Locale.ROOT, "%.1f s", seconds);
    }
    long s = estimate ? (long) Math.ceil(seconds) : Math.round(seconds);
    if (s < 60) {
      return s + " s";
    }
    if (s < 3600) {
      return String.format(Locale.ROOT, "%d min %02d s", s / 60, s % 60);
    }
    return String.format(Locale.ROOT, "%d h %02d min", s / 3600, s % 3600 / 60);
  }
}
