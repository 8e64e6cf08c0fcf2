package io.sparticle.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sparticle.format.DType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * report.html in a real browser: headless Chromium (Debian's {@code chromium}) opens it over
 * file:// with every request, console message, exception and log entry recorded. The page makes
 * no request but for itself, logs no error, and draws its charts and table; a screenshot and the
 * browser's record are kept in {@code tests/target/report-html/}. Without a browser the browser
 * tests are skipped, but under CI (CI=true) they fail: .ci/run installs chromium.
 */
class ReportPageBrowserTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path ARTIFACTS = Path.of("target", "report-html");

  @TempDir static Path tmp;
  static Path packed;
  static JsonNode report;

  @BeforeAll
  static void compress() throws Exception {
    Path model = Checkpoints.generate(tmp.resolve("model"), DType.BF16);
    packed = tmp.resolve("packed");
    Sparticle.compress(SharedSpark.get()).input(model.toString()).output(packed.toString()).execute();
    report = JSON.readTree(packed.resolve(CompressJob.REPORT_FILE).toFile());
  }

  /** The browser, or why there is none: a failure under CI, a skip elsewhere. */
  private static Path chromium() {
    return Chromium.find().orElseGet(() -> {
      String why = "No chromium on PATH (nor $CHROMIUM): install it with `apt-get install chromium`, as .ci/run does";
      if ("true".equalsIgnoreCase(System.getenv("CI"))) {
        fail(why + "; CI must run the browser test");
      }
      Assumptions.abort(why + "; skipped outside CI");
      return null;
    });
  }

  @Test
  void reportJsonHoldsHistogramsAndSizesAndTheCheckpointVerifies() throws Exception {
    assertTrue(Files.size(packed.resolve(HtmlReport.FILE)) > 0);
    JsonNode sizes = report.path("totals").path("size_breakdown");
    long sum = 0;
    for (String part : new String[] {"codes", "codebooks", "scales", "outliers", "dense", "other"}) {
      assertTrue(sizes.path(part).asLong(-1) >= 0, part);
      sum += sizes.path(part).asLong();
    }
    assertEquals(report.path("totals").path("output_bytes").asLong(), sum, "the parts add up");
    assertTrue(sizes.path("other").asLong() > 0, "headers and manifest");
    for (JsonNode g : report.path("groups")) {
      // Default config: kmeans with a shared codebook, so every group has its histogram, of every
      // one of its weights (no outliers, no pruning), with each particle inside its range.
      JsonNode h = g.path("histogram");
      assertEquals(128, h.path("counts").size(), g.path("name").asText());
      long n = h.path("below").asLong() + h.path("above").asLong();
      for (JsonNode c : h.path("counts")) {
        n += c.asLong();
      }
      assertEquals(g.path("params").asLong(), n, g.path("name").asText());
      for (JsonNode c : g.path("codebook")) {
        // As floats: the JSON writes a float centroid in its shortest decimal form.
        float x = (float) c.asDouble();
        assertTrue(x >= (float) h.path("lo").asDouble() && x <= (float) h.path("hi").asDouble(),
            x + " in " + h);
      }
    }
    VerifyJob.verify(SharedSpark.get(), packed.toString(), null); // report.html is no stray file
  }

  @Test
  void chromiumShowsTheReportOfAGeneratedModelOffline() throws Exception {
    Path browser = chromium();
    Path html = packed.resolve(HtmlReport.FILE);
    try (Chromium c = Chromium.start(browser, Files.createDirectories(tmp.resolve("profile-1")),
        Files.createDirectories(ARTIFACTS).resolve("chromium-1.log"))) {
      c.open(html.toUri());
      JsonNode dom = c.eval(DOM);
      c.screenshot(ARTIFACTS.resolve("report.png"));
      record(c, dom, "report-browser");
      assertOnlyItself(c, html);

      int groups = report.path("groups").size();
      int tensors = report.path("tensors").size();
      assertEquals(List.of("totals", "fidelity", "size", "method", "groups", "tensors"),
          strings(dom.path("sections")));
      assertEquals(groups, dom.path("charts").asInt(), "a chart per group");
      assertEquals(groups, dom.path("bars").asInt(), "a histogram per chart");
      List<Integer> particles = new ArrayList<>();
      for (JsonNode g : report.path("groups")) {
        particles.add(g.path("codebook").size());
      }
      assertEquals(particles, ints(dom.path("particles")), "every particle marked");
      assertTrue(dom.path("chartHeight").asDouble() > 50, "charts laid out: " + dom);
      assertTrue(dom.path("stack").asInt() >= 3, "codes, codebooks, dense, other: " + dom);
      assertEquals(Math.min(100, tensors), dom.path("rows").asInt());
      assertEquals(2 * Math.min(100, tensors), dom.path("rowBars").asInt(), "two bars a row");

      // Log counts at a click: the log histograms replace the linear ones.
      assertEquals("none inline", c.eval("document.getElementById('logscale').click();"
          + " getComputedStyle(document.querySelector('path.bars.lin')).display + ' '"
          + " + getComputedStyle(document.querySelector('path.bars.log')).display").asText());

      // Sortable: worst SQNR first, best first after a click on its heading.
      List<Double> up = doubles(dom.path("sqnr"));
      assertEquals(up.stream().sorted().toList(), up);
      JsonNode down = c.eval("document.querySelector('th[data-key=sqnr]').click(); " + SQNR);
      List<Double> sorted = new ArrayList<>(up);
      sorted.sort(java.util.Collections.reverseOrder());
      assertEquals(sorted, doubles(down));
      // Filtered by name.
      String one = report.path("tensors").get(0).path("name").asText();
      assertEquals(1, c.eval("var f = document.getElementById('filter'); f.value = " + JSON.writeValueAsString(one)
          + "; f.dispatchEvent(new Event('input')); document.querySelectorAll('#tensor-table tbody tr').length").asInt());
      assertOnlyItself(c, html);

      // Controls: the record would show an error had the page logged one, and a fetch is refused.
      c.eval("console.error('control'); fetch('control.txt').catch(e => 0); 0");
      long deadline = System.nanoTime() + 10_000_000_000L;
      while (c.problems().size() < 2 && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      assertTrue(c.problems().stream().anyMatch(p -> p.contains("control")), "console recorded: " + c.messages());
      assertTrue(c.problems().stream().anyMatch(p -> p.contains("Content Security Policy")),
          "the page's policy refused the fetch: " + c.messages());
    }
  }

  /**
   * A page of 20,000 tensors whose names and groups are markup: drawn as text, so nothing
   * loads and nothing runs; the table shows one page of 100 rows of them.
   */
  @Test
  void chromiumShowsHostileNamesOfTwentyThousandTensorsAsText() throws Exception {
    Path browser = chromium();
    String evil = "<img src=x onerror=document.body.dataset.pwned=1></script><script src=y.js></script>";
    ObjectNode big = report.deepCopy();
    JsonNode row = report.path("tensors").get(0);
    ArrayNode tensors = big.putArray("tensors");
    for (int i = 0; i < 20_000; i++) {
      ((ObjectNode) tensors.addObject().setAll((ObjectNode) row.deepCopy()))
          .put("name", "model.layers." + i + "." + evil).put("group", evil + (i % 7))
          .put("sqnr_db", 10 + (i * 7919 % 1000) / 100.0);
    }
    ArrayNode groups = (ArrayNode) big.path("groups");
    for (int i = 0; i < groups.size(); i++) {
      ((ObjectNode) groups.get(i)).put("name", evil + i);
    }
    ((ArrayNode) big.path("warnings")).add(evil);
    byte[] evaluation = ("{\"mean_cosine\":0.97,\"min_cosine\":0.9,\"pairwise_spearman\":0.95,"
        + "\"top1_agreement\":0.9,\"sentences\":120,\"pooling\":\"mean\",\"bits\":4}").getBytes(StandardCharsets.UTF_8);
    Path html = Files.createDirectories(tmp.resolve("hostile")).resolve(HtmlReport.FILE);
    Files.write(html, HtmlReport.render(JSON.writeValueAsBytes(big), evaluation));

    try (Chromium c = Chromium.start(browser, Files.createDirectories(tmp.resolve("profile-2")),
        ARTIFACTS.resolve("chromium-2.log"))) {
      c.open(html.toUri());
      JsonNode dom = c.eval(DOM);
      c.screenshot(ARTIFACTS.resolve("report-20000-hostile.png"));
      record(c, dom, "report-20000-hostile-browser");
      assertOnlyItself(c, html);
      assertEquals(0, c.eval("document.images.length + document.querySelectorAll('[src]').length").asInt());
      assertEquals(2, c.eval("document.scripts.length").asInt(), "the page's own two");
      assertTrue(c.eval("document.body.dataset.pwned === undefined").asBoolean());
      assertEquals(100, dom.path("rows").asInt());
      assertEquals("page 1 of 200 (20,000 tensors)", dom.path("page").asText());
      assertTrue(c.eval("document.querySelector('#tensor-table tbody td').textContent").asText()
          .endsWith(evil), "the name shown as text");
      assertTrue(dom.path("sections").toString().contains("notes"));
      assertTrue(c.eval("document.getElementById('fidelity').textContent").asText().contains("0.9700"));
      assertEquals(20_000, c.eval("document.getElementById('next').click(); var f = document.getElementById('filter');"
          + " f.value = 'onerror'; f.dispatchEvent(new Event('input'));"
          + " +document.getElementById('page').textContent.match(/\\(([\\d,]+) tensors/)[1].replace(/,/g, '')").asInt());
      assertOnlyItself(c, html);
    }
  }

  /** What the tests read of the page, in one evaluation. */
  private static final String SQNR = "Array.from(document.querySelectorAll('#tensor-table tbody tr'),"
      + " tr => parseFloat(tr.cells[5].textContent))";
  private static final String DOM = "({"
      + "sections: Array.from(document.querySelectorAll('section'), s => s.id),"
      + "charts: document.querySelectorAll('svg.hist').length,"
      + "bars: document.querySelectorAll('svg.hist path.bars.lin').length,"
      + "particles: Array.from(document.querySelectorAll('svg.hist path.particles'),"
      + "  p => (p.getAttribute('d').match(/M/g) || []).length),"
      + "chartHeight: document.querySelector('svg.hist') ? document.querySelector('svg.hist').getBoundingClientRect().height : 0,"
      + "stack: document.querySelectorAll('svg.stack rect').length,"
      + "rows: document.querySelectorAll('#tensor-table tbody tr').length,"
      + "rowBars: document.querySelectorAll('#tensor-table tbody td.bar i').length,"
      + "page: document.getElementById('page').textContent,"
      + "sqnr: " + SQNR + "})";

  /** Only the page's own file was requested, and nothing was logged as an error or warning. */
  private static void assertOnlyItself(Chromium c, Path html) {
    String self = html.toUri().toString();
    assertTrue(c.requests().stream().anyMatch(u -> u.startsWith("file:") && u.endsWith("/report.html")),
        "the page's own request recorded: " + c.requests());
    for (String url : c.requests()) {
      assertTrue(url.equals(self) || url.equals(self.replace("file:///", "file:/")),
          "a request besides the page itself: " + url + " (all: " + c.requests() + ")");
    }
    assertEquals(List.of(), c.problems(), "console errors, exceptions or warnings");
  }

  /** The browser's record of the page, kept beside its screenshot. */
  private static void record(Chromium c, JsonNode dom, String name) throws java.io.IOException {
    ObjectNode r = JSON.createObjectNode();
    c.requests().forEach(r.putArray("requests")::add);
    c.messages().forEach(r.putArray("messages")::add);
    r.set("dom", dom);
    Files.write(ARTIFACTS.resolve(name + ".json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(r));
  }

  private static List<String> strings(JsonNode a) {
    List<String> out = new ArrayList<>();
    a.forEach(n -> out.add(n.asText()));
    return out;
  }

  private static List<Integer> ints(JsonNode a) {
    List<Integer> out = new ArrayList<>();
    a.forEach(n -> out.add(n.asInt()));
    return out;
  }

  private static List<Double> doubles(JsonNode a) {
    List<Double> out = new ArrayList<>();
    a.forEach(n -> out.add(n.asDouble()));
    return out;
  }
}
