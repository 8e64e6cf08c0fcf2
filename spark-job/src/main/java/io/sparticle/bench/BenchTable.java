package io.sparticle.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The one table {@code sparticle bench} prints: a title, then rows of what was measured, its time,
 * its throughput and a note, in aligned columns (time right-aligned, the rest left-aligned).
 *
 * <pre>{@code
 * BenchTable t = new BenchTable("Sparticle benchmark: small ...");
 * t.row("compress, end to end", BenchTable.seconds(10.7), "103.1M params/s", "4.0x the read floor");
 * out.print(t.format());
 * }</pre>
 */
public final class BenchTable {
  private static final String[] HEADER = {"", "time", "throughput", "notes"};

  private final String title;
  private final List<String[]> rows = new ArrayList<>();

  public BenchTable(String title) {
    this.title = title;
  }

  /** Adds a row; null cells print empty. */
  public BenchTable row(String what, String time, String throughput, String notes) {
    rows.add(new String[] {what, nz(time), nz(throughput), nz(notes)});
    return this;
  }

  public List<String[]> rows() {
    return List.copyOf(rows);
  }

  public String format() {
    int[] w = new int[3];
    List<String[]> all = new ArrayList<>(rows);
    all.add(HEADER);
    for (String[] r : all) {
      for (int i = 0; i < 3; i++) {
        w[i] = Math.max(w[i], r[i].length());
      }
    }
    StringBuilder s = new StringBuilder(title).append('\n');
    line(s, HEADER, w);
    for (String[] r : rows) {
      line(s, r, w);
    }
    return s.toString();
  }

  private static void line(StringBuilder s, String[] r, int[] w) {
    String l = String.format(Locale.ROOT, "%-" + w[0] + "s  %" + w[1] + "s  %-" + w[2] + "s  %s",
        r[0], r[1], r[2], r[3]);
    s.append(l.stripTrailing()).append('\n');
  }

  private static String nz(String s) {
    return s == null ? "" : s;
  }

  /** "0.42 s", "10.7 s", "1234 s": two decimals under 10 s, one under 1000 s. */
  public static String seconds(double s) {
    if (Double.isNaN(s)) {
      return "-";
    }
    return String.format(Locale.ROOT, s < 10 ? "%.2f s" : s < 1000 ? "%.1f s" : "%.0f s", s);
  }

  /** "103.1M params/s", or under a million "6.2k params/s". */
  public static String paramsPerSecond(long params, double seconds) {
    double rate = params / seconds;
    return rate >= 1e6 ? String.format(Locale.ROOT, "%.1fM params/s", rate / 1e6)
        : String.format(Locale.ROOT, "%.1fk params/s", rate / 1e3);
  }

  /** "1,534 MB/s" (decimal megabytes). */
  public static String megabytesPerSecond(long bytes, double seconds) {
    return String.format(Locale.ROOT, "%,.0f MB/s", bytes / seconds / 1e6);
  }
}
