package io.sparticle.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.spark.ProgressListener.Progress;
import io.sparticle.spark.ProgressListener.Progress.State;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class ConsoleProgressTest {
  private static final long GB = 1_000_000_000L;

  @Test
  void aHandMadeLine() {
    // 1.2 GB of 2.86 GB in 1 s: 41.9% rounds down, 1.2 GB/s, 1.66 GB left is 1.38 s, shown as 2 s.
    Progress p = new Progress("compress", "histogram", 1_200_000_000L, 2_860_000_000L, 1.0,
        State.RUNNING);
    assertEquals(41, p.percent());
    assertEquals(1.2e9, p.bytesPerSecond(), 1e-3);
    assertEquals(1.66 / 1.2, p.etaSeconds(), 1e-9);
    assertEquals("compress   histogram        41%    1.2 GB/s  ETA 2 s", ConsoleProgress.format(p));
  }

  @Test
  void percentIsHundredOnlyWhenEveryByteIsDone() {
    assertEquals(99, new Progress("j", "p", GB - 1, GB, 1, State.RUNNING).percent());
    assertEquals(100, new Progress("j", "p", GB, GB, 1, State.RUNNING).percent());
    assertEquals(0, new Progress("j", "p", 0, GB, 1, State.RUNNING).percent());
  }

  @Test
  void nothingDoneYetHasNoRateAndNoEta() {
    Progress p = new Progress("encode", "encode", 0, GB, 3, State.RUNNING);
    assertEquals(-1, p.etaSeconds());
    assertEquals(0, p.bytesPerSecond());
    assertEquals("encode     encode            0%           -  ETA -", ConsoleProgress.format(p));
  }

  @Test
  void allBytesDoneButStillRunningIsFinishing() {
    Progress p = new Progress("compress", "histogram", GB, GB, 2, State.RUNNING);
    assertEquals("compress   histogram       100%    500 MB/s  finishing", ConsoleProgress.format(p));
  }

  @Test
  void aDonePhaseSaysItsTime() {
    assertEquals("compress   encode          100%    2.0 GB/s  done in 4.5 s",
        ConsoleProgress.format(new Progress("compress", "encode", 9 * GB, 9 * GB, 4.5, State.DONE)));
    assertEquals("verify     checksum        100%    1.1 GB/s  done in 1 min 23 s",
        ConsoleProgress.format(new Progress("verify", "checksum", 91 * GB, 91 * GB, 83, State.DONE)));
  }

  @Test
  void aPhaseWithoutBytesSaysOnlyItsTime() {
    assertEquals("compress   particleization running 12 s", ConsoleProgress.format(
        new Progress("compress", "particleization", 0, 0, 12.2, State.RUNNING)));
    assertEquals("compress   particleization done in 3.0 s", ConsoleProgress.format(
        new Progress("compress", "particleization", 0, 0, 3, State.DONE)));
    assertEquals(-1, new Progress("j", "p", 0, 0, 3, State.RUNNING).etaSeconds());
  }

  @Test
  void ratesInDecimalUnitsWithThreeDigitsAtMost() {
    assertEquals("0 B/s", ConsoleProgress.rate(0));
    assertEquals("512 B/s", ConsoleProgress.rate(512));
    assertEquals("1.0 kB/s", ConsoleProgress.rate(999.5));
    assertEquals("12.5 MB/s", ConsoleProgress.rate(12.5e6));
    assertEquals("850 MB/s", ConsoleProgress.rate(850e6));
    assertEquals("100 MB/s", ConsoleProgress.rate(99.96e6));
    assertEquals("1.0 GB/s", ConsoleProgress.rate(999.6e6));
    assertEquals("3.4 TB/s", ConsoleProgress.rate(3.4e12));
    assertEquals("3400 TB/s", ConsoleProgress.rate(3.4e15));
  }

  @Test
  void durationsRoundEstimatesUp() {
    assertEquals("1 s", ConsoleProgress.duration(0.2, true));
    assertEquals("0.2 s", ConsoleProgress.duration(0.2, false));
    assertEquals("59 s", ConsoleProgress.duration(58.1, true));
    assertEquals("58 s", ConsoleProgress.duration(58.1, false));
    assertEquals("1 min 00 s", ConsoleProgress.duration(60, true));
    assertEquals("4 min 05 s", ConsoleProgress.duration(245, false));
    assertEquals("2 h 03 min", ConsoleProgress.duration(2 * 3600 + 3 * 60 + 59, false));
  }

  @Test
  void impossibleProgressIsRefused() {
    assertThrows(IllegalArgumentException.class, () -> new Progress("j", "p", 2, 1, 0, State.RUNNING));
    assertThrows(IllegalArgumentException.class, () -> new Progress("j", "p", -1, 1, 0, State.RUNNING));
    assertThrows(IllegalArgumentException.class, () -> new Progress("j", "p", 0, 1, -1, State.RUNNING));
  }

  @Test
  void plainLinesWhenNotATerminal() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    ConsoleProgress c = new ConsoleProgress(new PrintStream(bytes, true, StandardCharsets.UTF_8),
        false, Duration.ofSeconds(5));
    c.onProgress(new Progress("compress", "encode", GB / 2, GB, 1, State.RUNNING));
    c.onProgress(new Progress("compress", "encode", GB, GB, 2, State.DONE));
    c.onProgress(new Progress("compress", "commit", 0, 0, 6, State.FAILED)); // the error says it
    String out = bytes.toString(StandardCharsets.UTF_8);
    assertEquals("compress   encode           50%    500 MB/s  ETA 1 s\n"
        + "compress   encode          100%    500 MB/s  done in 2.0 s\n", out);
    assertFalse(out.contains("\r"));
    assertFalse(out.contains("\u001b"));
  }

  @Test
  void oneLineUpdatedInPlaceOnATerminal() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    ConsoleProgress c = new ConsoleProgress(new PrintStream(bytes, true, StandardCharsets.UTF_8),
        true, Duration.ofSeconds(1));
    c.onProgress(new Progress("compress", "particleization", 0, 0, 12, State.RUNNING));
    c.onProgress(new Progress("compress", "particleization", 0, 0, 13, State.DONE));
    c.onProgress(new Progress("compress", "encode", 0, GB, 1, State.RUNNING));
    c.onProgress(new Progress("compress", "encode", GB / 4, GB, 2, State.FAILED));
    String out = bytes.toString(StandardCharsets.UTF_8);
    String running = "compress   particleization running 12 s";
    String done = "compress   particleization done in 13 s";
    // The shorter second line is padded with spaces over what the first left: no escape codes.
    assertEquals("\r" + running + "\r" + done + " ".repeat(running.length() - done.length()) + "\n"
        + "\rcompress   encode            0%           -  ETA -" + "\n", out);
    assertFalse(out.contains("\u001b"));
    assertTrue(out.endsWith("\n"), "a failed phase ends its line before the error's");
  }
}
