package io.sparticle.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparticle.eval.Fidelity;
import io.sparticle.format.DType;
import io.sparticle.synth.SyntheticCheckpoint;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The console as a user (or Airflow) meets it: submit/sparticle run as a subprocess, its stdout
 * and stderr read through pipes. Sparticle's own lines only: no escape sequences, no WARN or
 * WARNING lines (the JVM's incubator-module notice, Spark's, Hadoop's, netlib's or DJL's), plain
 * progress lines when piped, one JSON line with --json, one line for an error.
 */
class LauncherConsoleTest {
  private static final Path LAUNCHER = Path.of("..", "submit", "sparticle").toAbsolutePath().normalize();
  private static final Pattern PROGRESS =
      Pattern.compile("compress +(histogram|encode) +\\d{1,3}% +(-|[0-9.]+ [kMGT]?B/s) +(ETA .+|finishing|done in .+)");

  @TempDir Path tmp;

  record Run(int code, String out, String err) {
    List<String> errLines() {
      return err.isEmpty() ? List.of() : List.of(err.split("\n"));
    }
  }

  /** Runs the launcher on the embedded Spark (SPARK_HOME unset), stdout and stderr piped. */
  static Run launch(String... args) throws Exception {
    return launch(LAUNCHER, "-Xmx1g", args);
  }

  /** Runs {@code launcher} with these JVM options (null: the launcher's default). */
  static Run launch(Path launcher, String javaOpts, String... args) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(launcher.toString());
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().remove("SPARK_HOME");
    if (javaOpts != null) {
      pb.environment().put("SPARTICLE_JAVA_OPTS", javaOpts);
    } else {
      pb.environment().remove("SPARTICLE_JAVA_OPTS");
    }
    Process p = pb.start();
    p.getOutputStream().close();
    CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
    String out = read(p.getInputStream());
    // The first call may build the job jar (Maven, about a minute on a cold machine).
    assertTrue(p.waitFor(10, TimeUnit.MINUTES), "submit/sparticle " + String.join(" ", args) + " hung");
    return new Run(p.exitValue(), out, err.get(1, TimeUnit.MINUTES));
  }

  private static String read(InputStream in) {
    try (in) {
      ByteArrayOutputStream b = new ByteArrayOutputStream();
      in.transferTo(b);
      return b.toString(StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Only Sparticle's own lines: no escape sequences, nothing a library warns. */
  static void assertClean(Run r) {
    for (String stream : new String[] {r.out(), r.err()}) {
      assertFalse(stream.contains("\u001b"), "an escape sequence in:\n" + stream);
      for (String line : stream.split("\n")) {
        assertFalse(line.contains("WARN"), "a warning line: " + line + "\nin:\n" + stream);
      }
    }
    for (String line : r.errLines()) {
      assertTrue(line.startsWith("sparticle") || line.startsWith("compress ")
          || line.startsWith("decompress ") || line.startsWith("verify "),
          "a line that is not Sparticle's: " + line + "\nin:\n" + r.err());
    }
  }

  @Test
  void compressPipedPrintsPlainProgressAndOneJsonLineAndNothingElse() throws Exception {
    Path model = tmp.resolve("model");
    SyntheticCheckpoint.write(SyntheticCheckpoint.preset("small"), DType.BF16, 16 << 20, 1,
        model.toString(), new Configuration());
    Path out = tmp.resolve("out");
    // A short interval: the histogram and encode phases of the small preset take about a second.
    Run c = launch("compress", "--input", model.toString(), "--output", out.toString(),
        "--master", "local[2]", "--progress-interval", "0.1", "--json");
    assertEquals(0, c.code(), c.err());
    assertClean(c);
    assertFalse(c.err().contains("\r"), "piped progress is plain lines:\n" + c.err());
    assertTrue(c.errLines().stream().anyMatch(l -> PROGRESS.matcher(l).matches()),
        "progress lines on stderr:\n" + c.err());
    assertTrue(c.errLines().stream().anyMatch(l -> l.matches("compress +\\w+ +.*done in .+")),
        "a reported phase says when it is done:\n" + c.err());
    // --json: stdout is exactly one line, the report's totals.
    assertEquals(1, c.out().split("\n").length, c.out());
    assertTrue(c.out().endsWith("}\n"), c.out());
    JsonNode totals = new ObjectMapper().readTree(c.out());
    JsonNode report = new ObjectMapper().readTree(out.resolve("report.json").toFile()).get("totals");
    assertEquals(report.get("output_bytes"), totals.get("output_bytes"));
    assertEquals(report.get("sqnr_db"), totals.get("sqnr_db"));

    // inspect DIR: the groups' table and where the HTML report is (or that it is not there).
    Run i = launch("inspect", out.toString());
    assertEquals(0, i.code(), i.err());
    assertClean(i);
    assertEquals("", i.err());
    assertTrue(i.out().contains("group                                    method           bits  tensors"
        + "  bits/weight  SQNR dB\n"), i.out());
    assertTrue(Pattern.compile("(?m)^lm_head\\.weight +kmeans/group +4 +1 +4\\.\\d{3} +\\d+\\.\\d\\d$")
        .matcher(i.out()).find(), i.out());
    Path html = out.resolve(io.sparticle.spark.HtmlReport.FILE);
    assertTrue(Files.exists(html), "compress writes " + html);
    assertTrue(i.out().endsWith("Report: " + html + "\n"), i.out());

    // verify DIR --quiet: nothing at all on success.
    Run v = launch("verify", out.toString(), "--quiet");
    assertEquals(new Run(0, "", ""), v);

    // A failure: one line on stderr, nothing on stdout.
    Run missing = launch("compress", "--input", tmp.resolve("nope").toString(), "--output",
        tmp.resolve("o").toString(), "--master", "local[2]");
    assertEquals(4, missing.code());
    assertEquals("", missing.out());
    assertEquals(1, missing.errLines().size(), missing.err());
    assertTrue(missing.err().matches("sparticle: error: .*nope does not exist \\(exit 4 IO_FAILURE\\)\n"),
        missing.err());
  }

  /**
   * What a new user runs first, as the README says: a fresh clone's {@code submit/sparticle demo},
   * which builds the job jar on first use (Maven's output must not show), then compresses and
   * evaluates the real model.
   */
  @Test
  void demoFromAFreshClonePrintsOnlySparticlesLines() throws Exception {
    Path root = LAUNCHER.getParent().getParent();
    Path fresh = tmp.resolve("fresh");
    Process clone = new ProcessBuilder("git", "clone", "-q", root.toString(), fresh.toString())
        .redirectErrorStream(true).start();
    String cloneOut = read(clone.getInputStream());
    assertTrue(clone.waitFor(2, TimeUnit.MINUTES) && clone.exitValue() == 0,
        "git clone of " + root + " (the tests run in a git checkout): " + cloneOut);
    Run d = launch(fresh.resolve("submit").resolve("sparticle"), null, "demo", "--dir",
        tmp.resolve("demo").toString());
    assertEquals(0, d.code(), d.err());
    assertClean(d);
    assertEquals(List.of("sparticle: building the job jar (first use) ..."), d.errLines(),
        "stderr: the first-use notice only");
    assertTrue(Pattern.compile("(?m)^sparticle +4 +\\d+\\.\\d\\d +\\d+\\.\\d\\d ").matcher(d.out()).find(),
        "the demo's result line:\n" + d.out());
  }

  @Test
  void compressAndEvaluateOfARealModelPrintOnlySparticlesLines() throws Exception {
    // ONNX Runtime and DJL's tokenizers load here: they must not add lines of their own.
    Fidelity.RealModel m = Fidelity.RealModel.extract(tmp.resolve("minilm"));
    Path out = tmp.resolve("packed");
    Run c = launch("compress", "--input", m.model().toString(), "--output", out.toString(),
        "--master", "local[2]");
    assertEquals(0, c.code(), c.err());
    assertClean(c);
    assertTrue(c.out().startsWith("Compressed "), c.out());
    Run e = launch("evaluate", "--original", m.model().toString(), "--compressed", out.toString(),
        "--master", "local[2]");
    assertEquals(0, e.code(), e.err());
    assertClean(e);
    assertTrue(e.out().contains("\"mean_cosine\":"), e.out());
  }
}
