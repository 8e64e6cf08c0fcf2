package io.sparticle.spark;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code report.html}: report.json (and evaluation.json, when {@code evaluate} has measured
 * fidelity) drawn as one self-contained page that works offline: inline CSS, inline SVG charts
 * and a little inline script for the tensor table, no external script, font, image or request
 * (its Content-Security-Policy forbids any). Compress writes it beside report.json; evaluate
 * rewrites it from the two files alone.
 *
 * <pre>{@code
 * byte[] html = HtmlReport.render(Files.readAllBytes(dir.resolve("report.json")), null);
 * }</pre>
 *
 * <p>Sections: totals; fidelity; the size breakdown; method and parameters; per group, the
 * weight histogram with the codebook's particles marked on it; per tensor, SQNR and bits/weight
 * as bars in a sortable, filterable, paged table. It stays small and readable for tens of
 * thousands of tensors: at most {@link #MAX_CHARTS} group charts (report.json holds at most
 * {@link CompressReport#MAX_HISTOGRAMS} histograms), the tensor rows as compact JSON (names
 * front-coded) from which the script shows a page at a time. Every name is user data and is
 * escaped. The page holds no timings and no paths, so two runs that write the same checkpoint,
 * on any store, write the same page.
 */
public final class HtmlReport {
  public static final String FILE = "report.html";

  /** Group charts drawn at most; the other groups are listed by name. */
  static final int MAX_CHARTS = 256;

  /** Groups without a chart, kept-dense tensors and warnings listed at most, each. */
  static final int MAX_LISTED = 200;

  private static final int CHART_W = 512;
  private static final int CHART_H = 100;

  private static final ObjectMapper MAPPER = new ObjectMapper();

  private HtmlReport() {}

  /** The page for report.json's bytes and, if not null, evaluation.json's. */
  public static byte[] render(byte[] reportJson, byte[] evaluationJson) throws IOException {
    JsonNode report = MAPPER.readTree(reportJson);
    JsonNode evaluation = evaluationJson == null ? null : MAPPER.readTree(evaluationJson);
    return render(report, evaluation).getBytes(StandardCharsets.UTF_8);
  }

  /**
   * The page for a parsed report.json and, if not null, evaluation.json. Fields an earlier
   * version did not write (the size breakdown, histograms) are said to be missing.
   */
  public static String render(JsonNode report, JsonNode evaluation) {
    if (report == null || !report.isObject()) {
      throw new IllegalArgumentException("Cannot render a report that is not a JSON object");
    }
    StringBuilder h = new StringBuilder(64 << 10);
    h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n")
        // Defense in depth for offline: nothing may be fetched, whatever the data holds.
        .append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; ")
        .append("style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n")
        .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
        .append("<title>Sparticle report</title>\n<style>").append(CSS).append("</style></head>\n")
        .append("<body>\n<h1>Sparticle compression report</h1>\n")
        .append("<nav><a href=\"#totals\">Totals</a> <a href=\"#fidelity\">Fidelity</a> ")
        .append("<a href=\"#size\">Size</a> <a href=\"#method\">Method</a> ")
        .append("<a href=\"#groups\">Groups</a> <a href=\"#tensors\">Tensors</a></nav>\n");
    totals(h, report);
    fidelity(h, evaluation);
    size(h, report);
    method(h, report);
    groups(h, report);
    tensors(h, report);
    notes(h, report);
    h.append("<footer>Written by sparticle from report.json")
        .append(evaluation == null ? "" : " and evaluation.json")
        .append("; timings and I/O are in report.json.</footer>\n");
    h.append("<script>").append(SCRIPT).append("</script>\n</body></html>\n");
    return h.toString();
  }

  private static void totals(StringBuilder h, JsonNode report) {
    JsonNode t = report.path("totals");
    int tensors = report.path("tensors").size();
    int groups = report.path("groups").size();
    h.append("<section id=\"totals\"><h2>Totals</h2><div class=\"cards\">\n");
    card(h, "ratio", num(t.path("ratio"), "%.2f\u00d7"), "input over output bytes");
    card(h, "bits/weight", num(t.path("bits_per_weight"), "%.3f"), "all overhead counted");
    card(h, "SQNR", db(t.path("sqnr_db")), "over every compressed weight");
    card(h, "size", bytes(t.path("input_bytes")) + " \u2192 " + bytes(t.path("output_bytes")),
        "input \u2192 output");
    card(h, "params", String.format(Locale.ROOT, "%,d of %,d", t.path("compressed_params").asLong(),
        t.path("params").asLong()), "compressed of all");
    card(h, "tensors", String.format(Locale.ROOT, "%,d in %,d groups", tensors, groups),
        String.format(Locale.ROOT, "%,d kept dense", report.path("kept_dense").size()));
    card(h, "MSE", num(t.path("mse"), "%.3e"), "max |err| " + num(t.path("max_abs_err"), "%.3e"));
    h.append("</div></section>\n");
  }

  private static void card(StringBuilder h, String label, String value, String note) {
    h.append("<div class=\"card\"><div class=\"label\">").append(esc(label))
        .append("</div><div class=\"value\">").append(esc(value)).append("</div><div class=\"note\">")
        .append(esc(note)).append("</div></div>\n");
  }

  private static void fidelity(StringBuilder h, JsonNode ev) {
    h.append("<section id=\"fidelity\"><h2>Fidelity</h2>\n");
    if (ev == null || !ev.isObject()) {
      h.append("<p class=\"muted\">Not measured. For an ONNX embedding model, <code>sparticle ")
          .append("evaluate --original MODEL.onnx --compressed DIR</code> measures it, writes ")
          .append("evaluation.json and rewrites this page.</p></section>\n");
      return;
    }
    h.append("<div class=\"cards\">\n");
    card(h, "mean cosine", num(ev.path("mean_cosine"), "%.4f"), "original vs compressed embeddings");
    card(h, "min cosine", num(ev.path("min_cosine"), "%.4f"), "worst sentence");
    card(h, "pairwise Spearman", num(ev.path("pairwise_spearman"), "%.4f"), "of sentence-pair cosines");
    card(h, "top-1 agreement", num(ev.path("top1_agreement"), "%.4f"), "same nearest sentence");
    h.append("</div><p class=\"muted\">").append(esc(String.format(Locale.ROOT, "%d sentences, %s pooling",
        ev.path("sentences").asInt(), ev.path("pooling").asText("?"))));
    if (ev.path("bits").isNumber()) {
      h.append(", ").append(ev.path("bits").asInt()).append(" bits");
    }
    h.append(".</p></section>\n");
  }

  private static final String[] PARTS = {"codes", "codebooks", "scales", "outliers", "dense", "other"};
  private static final String[] PART_NOTES = {
      "packed or entropy-coded codes", "shared and per-channel codebooks",
      "block scales and ladders, uniform scales and zero points", "sparse outliers kept exact",
      "tensors stored as they were", "file headers, manifest.json, an ONNX model's graph"};

  private static void size(StringBuilder h, JsonNode report) {
    h.append("<section id=\"size\"><h2>Size breakdown</h2>\n");
    JsonNode sb = report.path("totals").path("size_breakdown");
    long total = report.path("totals").path("output_bytes").asLong();
    if (!sb.isObject() || total <= 0) {
      h.append("<p class=\"muted\">This report.json (written by an earlier version) has no size ")
          .append("breakdown.</p></section>\n");
      return;
    }
    long params = Math.max(1, report.path("totals").path("compressed_params").asLong());
    h.append("<svg class=\"stack\" viewBox=\"0 0 1000 24\" preserveAspectRatio=\"none\" ")
        .append("role=\"img\" aria-label=\"size breakdown\">");
    double x = 0;
    for (int i = 0; i < PARTS.length; i++) {
      long b = Math.max(0, sb.path(PARTS[i]).asLong());
      double w = 1000.0 * b / total;
      if (w > 0) {
        h.append(String.format(Locale.ROOT, "<rect class=\"p%d\" x=\"%.1f\" width=\"%.1f\" height=\"24\">"
            + "<title>%s: %s</title></rect>", i, x, w, PARTS[i], bytes(b)));
      }
      x += w;
    }
    h.append("</svg>\n<table class=\"size\"><thead><tr><th>part</th><th>bytes</th><th>share</th>")
        .append("<th>bits per compressed weight</th><th></th></tr></thead><tbody>\n");
    for (int i = 0; i < PARTS.length; i++) {
      long b = sb.path(PARTS[i]).asLong();
      h.append(String.format(Locale.ROOT, "<tr><td><i class=\"sw p%d\"></i>%s</td><td class=\"n\">%,d</td>"
              + "<td class=\"n\">%.1f%%</td><td class=\"n\">%s</td><td class=\"muted\">%s</td></tr>\n",
          i, PARTS[i], b, 100.0 * b / total, i == 4 || i == 5 ? "" : String.format(Locale.ROOT, "%.3f",
              8.0 * b / params), esc(PART_NOTES[i])));
    }
    h.append(String.format(Locale.ROOT, "<tr><td><b>output</b></td><td class=\"n\"><b>%,d</b></td>"
        + "<td></td><td></td><td></td></tr>\n</tbody></table></section>\n", total));
  }

  /** The method of a group in short, e.g. {@code kmeans/group 4 bits}. */
  private static String describe(JsonNode g) {
    String d = g.path("method").asText("?") + "/" + g.path("scope").asText("?");
    JsonNode p = g.path("parameters");
    if (p.has("block_size")) {
      d += p.path("block_size").asInt();
    }
    if (p.has("vq_dim")) {
      d += " dim " + p.path("vq_dim").asInt();
    }
    return d + " " + g.path("bits").asInt() + " bits";
  }

  private static String parameters(JsonNode g) {
    StringBuilder s = new StringBuilder();
    if (g.path("k").asInt() > 0 && !g.path("method").asText().equals("uniform")) {
      s.append("k=").append(g.path("k").asInt());
    }
    g.path("parameters").fields().forEachRemaining(e -> {
      s.append(s.length() == 0 ? "" : ", ").append(e.getKey()).append('=').append(e.getValue().asText());
    });
    return s.toString();
  }

  private static void method(StringBuilder h, JsonNode report) {
    h.append("<section id=\"method\"><h2>Method and parameters</h2>\n");
    // Groups by method and parameters: a handful of rows, however many groups.
    Map<String, long[]> rows = new LinkedHashMap<>();
    Map<String, String[]> labels = new LinkedHashMap<>();
    for (JsonNode g : report.path("groups")) {
      String d = describe(g);
      String p = parameters(g);
      long[] r = rows.computeIfAbsent(d + "\u0000" + p, k -> new long[4]);
      labels.putIfAbsent(d + "\u0000" + p, new String[] {d, p});
      r[0]++;
      r[1] += g.path("tensors").size();
      r[2] += g.path("params").asLong();
      r[3] += g.path("stored_bytes").asLong();
    }
    h.append("<table><thead><tr><th>method</th><th>parameters</th><th>groups</th><th>tensors</th>")
        .append("<th>params</th><th>bits/weight</th></tr></thead><tbody>\n");
    rows.forEach((k, r) -> h.append(String.format(Locale.ROOT,
        "<tr><td>%s</td><td>%s</td><td class=\"n\">%,d</td><td class=\"n\">%,d</td><td class=\"n\">%,d</td>"
            + "<td class=\"n\">%.3f</td></tr>\n", esc(labels.get(k)[0]), esc(labels.get(k)[1]), r[0],
        r[1], r[2], r[2] == 0 ? 0 : 8.0 * r[3] / r[2])));
    h.append("</tbody></table>\n");
    JsonNode c = report.path("calibration");
    if (c.isObject()) {
      // Not its path: the same run on another store writes the same page.
      h.append("<p>Importance: ").append(esc(c.path("source").asText()));
      if (c.has("sentences")) {
        h.append(String.format(Locale.ROOT, " on %,d sentences (%,d tokens)", c.path("sentences").asLong(),
            c.path("tokens").asLong()));
      }
      h.append(String.format(Locale.ROOT, ", %,d tensors weighted (report.json: calibration).</p>\n",
          c.path("tensors").asLong()));
    }
    JsonNode a = report.path("allocation");
    if (a.isObject()) {
      h.append(String.format(Locale.ROOT, "<p>Bit allocation to a target of %.3f bits/weight "
          + "(planned %.3f); each group's width is in the group charts.</p>\n",
          a.path("target_bits").asDouble(), a.path("planned_bits_per_weight").asDouble()));
    }
    h.append("</section>\n");
  }

  private static void groups(StringBuilder h, JsonNode report) {
    JsonNode groups = report.path("groups");
    h.append("<section id=\"groups\"><h2>Groups: weights and particles</h2>\n")
        .append("<p class=\"muted\">Each chart: the group's weights as its codebook was fitted on ")
        .append("them (outliers and pruned weights left out), bins over the central 99.9% widened ")
        .append("to every particle; the lines are the codebook's particles. ")
        .append("<label><input type=\"checkbox\" id=\"logscale\"> log counts</label></p>\n")
        .append("<div class=\"charts\">\n");
    int charts = 0;
    List<String> unlisted = new ArrayList<>();
    Map<String, Integer> without = new LinkedHashMap<>();
    for (JsonNode g : groups) {
      boolean drawable = g.path("histogram").isObject()
          || (g.path("codebook").isArray() && !g.path("method").asText().equals("vq"));
      if (drawable && charts < MAX_CHARTS) {
        chart(h, g);
        charts++;
      } else {
        String why = drawable ? "beyond the first " + MAX_CHARTS + " charts" : noChart(g);
        without.merge(why, 1, Integer::sum);
        if (unlisted.size() < MAX_LISTED) {
          unlisted.add("<li>" + esc(g.path("name").asText()) + " <span class=\"muted\">"
              + esc(describe(g) + ", " + why) + "</span></li>");
        }
      }
    }
    h.append("</div>\n");
    if (!without.isEmpty()) {
      int n = groups.size() - charts;
      h.append("<details class=\"nochart\"><summary>").append(String.format(Locale.ROOT, "%,d group(s)", n))
          .append(" without a chart: ");
      List<String> whys = new ArrayList<>();
      without.forEach((why, c) -> whys.add(String.format(Locale.ROOT, "%,d %s", c, why)));
      h.append(esc(String.join("; ", whys))).append("</summary><ul>\n");
      unlisted.forEach(u -> h.append(u).append('\n'));
      if (n > unlisted.size()) {
        h.append(String.format(Locale.ROOT, "<li class=\"muted\">and %,d more (report.json groups)</li>\n",
            n - unlisted.size()));
      }
      h.append("</ul></details>\n");
    }
    h.append("</section>\n");
  }

  /** Why a group has no chart. */
  private static String noChart(JsonNode g) {
    String method = g.path("method").asText();
    String scope = g.path("scope").asText();
    if (method.equals("vq")) {
      return "vq: its codewords are vectors";
    }
    if (method.equals("uniform")) {
      return "uniform: a grid per " + scope;
    }
    if (scope.equals("channel")) {
      return "a codebook per channel, stored beside the codes";
    }
    return "no codebook in report.json";
  }

  /** One group's card: its histogram (if any) and its particles, as one inline SVG. */
  private static void chart(StringBuilder h, JsonNode g) {
    JsonNode hist = g.path("histogram");
    JsonNode book = g.path("codebook");
    double lo;
    double hi;
    long[] counts = null;
    if (hist.isObject()) {
      lo = hist.path("lo").asDouble();
      hi = hist.path("hi").asDouble();
      counts = new long[hist.path("counts").size()];
      for (int i = 0; i < counts.length; i++) {
        counts[i] = hist.path("counts").get(i).asLong();
      }
    } else {
      lo = Double.POSITIVE_INFINITY;
      hi = Double.NEGATIVE_INFINITY;
      for (JsonNode c : book) {
        lo = Math.min(lo, c.asDouble());
        hi = Math.max(hi, c.asDouble());
      }
      double pad = hi > lo ? (hi - lo) * 0.05 : Math.max(1e-6, Math.abs(lo) / 2);
      lo -= pad;
      hi += pad;
    }
    if (!(hi > lo) || !Double.isFinite(lo) || !Double.isFinite(hi)) {
      lo = -1;
      hi = 1;
    }
    h.append("<figure class=\"group\"><figcaption><b>").append(esc(g.path("name").asText()))
        .append("</b><br><span class=\"muted\">")
        .append(esc(String.format(Locale.ROOT, "%s, %d particles, %,d tensors, %,d params, %.3f bits/weight, SQNR %s",
            describe(g), book.size(), g.path("tensors").size(), g.path("params").asLong(),
            g.path("bits_per_weight").asDouble(), db(g.path("sqnr_db")))))
        .append("</span></figcaption>\n");
    h.append("<svg class=\"hist\" viewBox=\"0 0 ").append(CHART_W).append(' ').append(CHART_H)
        .append("\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"weight histogram\">");
    if (counts != null && counts.length > 0) {
      long max = 1;
      for (long c : counts) {
        max = Math.max(max, c);
      }
      h.append("<path class=\"bars lin\" d=\"").append(bars(counts, max, false)).append("\"/>")
          .append("<path class=\"bars log\" d=\"").append(bars(counts, max, true)).append("\"/>");
    }
    double zero = -lo / (hi - lo);
    if (zero > 0 && zero < 1) {
      h.append(String.format(Locale.ROOT, "<path class=\"zero\" d=\"M%.1f 0V%d\"/>", zero * CHART_W, CHART_H));
    }
    StringBuilder p = new StringBuilder();
    for (JsonNode c : book) {
      double x = (c.asDouble() - lo) / (hi - lo) * CHART_W;
      p.append(String.format(Locale.ROOT, "M%.1f 0V%d", x, CHART_H));
    }
    if (p.length() > 0) {
      h.append("<path class=\"particles\" d=\"").append(p).append("\"/>");
    }
    h.append("</svg>\n<div class=\"axis\"><span>").append(sig(lo)).append("</span>");
    if (zero > 0.06 && zero < 0.94) {
      h.append(String.format(Locale.ROOT, "<span class=\"z\" style=\"left:%.1f%%\">0</span>", 100 * zero));
    }
    h.append("<span>").append(sig(hi)).append("</span></div>\n");
    h.append("<p class=\"muted\">");
    boolean scaled = hist.isObject() ? hist.path("scaled").asBoolean()
        : g.path("parameters").path("per_tensor_scale").asBoolean();
    h.append(scaled ? "x: weight / its tensor's RMS (the codebook's units). "
        : g.path("scope").asText().equals("block") ? "x: weight / its block's scale (the codebook's units). "
        : "x: weight. ");
    if (hist.isObject()) {
      long below = hist.path("below").asLong();
      long above = hist.path("above").asLong();
      if (below + above > 0) {
        h.append(esc(String.format(Locale.ROOT, "Outside the range: %,d below (down to %s), %,d above (up to %s). ",
            below, sig(hist.path("min").asDouble()), above, sig(hist.path("max").asDouble()))));
      }
    } else {
      h.append("Particles only: no weight histogram for this group. ");
    }
    h.append("</p>");
    if (book.size() > 0) {
      h.append("<details><summary>particles</summary><p class=\"mono\">");
      for (int i = 0; i < book.size(); i++) {
        h.append(i == 0 ? "" : " ").append(sig(book.get(i).asDouble()));
      }
      h.append("</p></details>");
    }
    h.append("</figure>\n");
  }

  /** A filled step outline of the counts: one path, a few characters a bin. */
  private static String bars(long[] counts, long max, boolean log) {
    StringBuilder d = new StringBuilder("M0 ").append(CHART_H);
    double w = (double) CHART_W / counts.length;
    int last = CHART_H;
    for (int i = 0; i < counts.length; i++) {
      double f = log ? Math.log1p(counts[i]) / Math.log1p(max) : (double) counts[i] / max;
      int y = (int) Math.round(CHART_H - f * (CHART_H - 2));
      if (y != last) {
        d.append('V').append(y);
        last = y;
      }
      d.append('H').append(fmt(w * (i + 1)));
    }
    return d.append('V').append(CHART_H).append('Z').toString();
  }

  private static String fmt(double v) {
    return v == Math.rint(v) ? Long.toString((long) v) : String.format(Locale.ROOT, "%.1f", v);
  }

  private static void tensors(StringBuilder h, JsonNode report) {
    JsonNode tensors = report.path("tensors");
    h.append("<section id=\"tensors\"><h2>Tensors: SQNR and bits/weight</h2>\n")
        .append(String.format(Locale.ROOT, "<p class=\"muted\">%,d compressed tensors. ", tensors.size()))
        .append("Click a heading to sort; worst SQNR first.</p>\n")
        .append("<div class=\"tools\"><input id=\"filter\" type=\"search\" placeholder=\"filter by name or group\"> ")
        .append("<button id=\"prev\">\u2190</button> <span id=\"page\"></span> <button id=\"next\">\u2192</button></div>\n")
        .append("<noscript><p>The tensor table needs JavaScript; report.json holds the same rows.</p></noscript>\n")
        .append("<table id=\"tensor-table\"><thead><tr><th data-key=\"name\">tensor</th>")
        .append("<th data-key=\"group\">group</th><th data-key=\"bits\">bits</th>")
        .append("<th data-key=\"numel\">weights</th><th data-key=\"bpw\">bits/weight</th>")
        .append("<th data-key=\"sqnr\">SQNR dB</th></tr></thead><tbody></tbody></table>\n");
    // Rows as compact JSON for the script: [shared prefix with the previous name, the rest of the
    // name, group index, bits, numel, bits/weight, SQNR (null: lossless), node]; group names as
    // [shared prefix with the previous group name, the rest]. Front coding takes a checkpoint's
    // long, repetitive names down to a few bytes each (tensor names are group names too, with
    // one group per tensor).
    ObjectNode data = JsonNodeFactory.instance.objectNode();
    ArrayNode groupNames = data.putArray("groups");
    Map<String, Integer> groupIndex = new LinkedHashMap<>();
    ArrayNode rows = data.putArray("rows");
    String prev = "";
    String prevGroup = "";
    for (JsonNode t : tensors) {
      String name = t.path("name").asText();
      String group = t.path("group").asText();
      Integer gi = groupIndex.get(group);
      if (gi == null) {
        gi = groupIndex.size();
        groupIndex.put(group, gi);
        int common = commonPrefix(prevGroup, group);
        groupNames.addArray().add(common).add(group.substring(common));
        prevGroup = group;
      }
      int common = commonPrefix(prev, name);
      ArrayNode r = rows.addArray();
      r.add(common).add(name.substring(common)).add(gi).add(t.path("bits").asInt())
          .add(t.path("numel").asLong());
      r.add(round(t.path("bits_per_weight").asDouble(), 1000));
      JsonNode s = t.path("sqnr_db");
      if (s.isNumber()) {
        r.add(round(s.asDouble(), 100));
      } else {
        r.addNull();
      }
      if (t.hasNonNull("node")) {
        r.add(t.path("node").asText());
      }
      prev = name;
    }
    h.append("<script type=\"application/json\" id=\"tensor-data\">").append(scriptJson(data))
        .append("</script>\n</section>\n");
  }

  /** The length of the common prefix, not splitting a surrogate pair. */
  private static int commonPrefix(String a, String b) {
    int n = Math.min(a.length(), b.length());
    int i = 0;
    while (i < n && a.charAt(i) == b.charAt(i)) {
      i++;
    }
    if (i > 0 && i < b.length() && Character.isHighSurrogate(b.charAt(i - 1))) {
      i--;
    }
    return i;
  }

  private static double round(double v, double scale) {
    return Double.isFinite(v) ? Math.round(v * scale) / scale : 0;
  }

  private static void notes(StringBuilder h, JsonNode report) {
    JsonNode dense = report.path("kept_dense");
    JsonNode warnings = report.path("warnings");
    if (dense.size() == 0 && warnings.size() == 0) {
      return;
    }
    h.append("<section id=\"notes\"><h2>Notes</h2>\n");
    if (dense.size() > 0) {
      h.append("<h3>Kept dense</h3><ul>\n");
      list(h, dense, d -> esc(d.path("name").asText()) + " <span class=\"muted\">"
          + esc(d.path("reason").asText()) + "</span>");
      h.append("</ul>\n");
    }
    if (warnings.size() > 0) {
      h.append("<h3>Warnings</h3><ul>\n");
      list(h, warnings, w -> esc(w.asText()));
      h.append("</ul>\n");
    }
    h.append("</section>\n");
  }

  private static void list(StringBuilder h, JsonNode items, java.util.function.Function<JsonNode, String> item) {
    int i = 0;
    for (JsonNode n : items) {
      if (i++ == MAX_LISTED) {
        h.append(String.format(Locale.ROOT, "<li class=\"muted\">and %,d more (report.json)</li>\n",
            items.size() - MAX_LISTED));
        break;
      }
      h.append("<li>").append(item.apply(n)).append("</li>\n");
    }
  }

  /** JSON safe inside a script element: no "<" (so no "</script>"), ">", "&" or line separators. */
  static String scriptJson(JsonNode data) {
    String json;
    try {
      json = MAPPER.writeValueAsString(data);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
    // These characters occur in JSON only inside strings, where an escape means the same.
    return json.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029");
  }

  /** Text for HTML element content and quoted attribute values. */
  static String esc(String s) {
    StringBuilder b = new StringBuilder(s.length() + 16);
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '&' -> b.append("&amp;");
        case '<' -> b.append("&lt;");
        case '>' -> b.append("&gt;");
        case '"' -> b.append("&quot;");
        case '\'' -> b.append("&#39;");
        default -> b.append(c);
      }
    }
    return b.toString();
  }

  private static String num(JsonNode n, String format) {
    return n.isNumber() ? String.format(Locale.ROOT, format, n.asDouble()) : "\u2013";
  }

  private static String db(JsonNode n) {
    return n.isNumber() ? String.format(Locale.ROOT, "%.2f dB", n.asDouble()) : "lossless";
  }

  private static String sig(double v) {
    return String.format(Locale.ROOT, "%.3g", v);
  }

  private static String bytes(JsonNode n) {
    return bytes(n.asLong());
  }

  private static String bytes(long b) {
    if (b < 1000) {
      return b + " B";
    }
    String[] units = {"kB", "MB", "GB", "TB", "PB"};
    double v = b;
    int u = -1;
    while (v >= 1000 && u < units.length - 1) {
      v /= 1000;
      u++;
    }
    return String.format(Locale.ROOT, "%.2f %s", v, units[u]);
  }

  private static final String CSS = """
      body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;\
      max-width:1200px;padding:0 16px 32px;color:#1d2330;background:#fff}
      h1{font-size:22px;margin:18px 0 4px}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #dde}
      h3{font-size:14px}nav a{margin-right:12px}code,.mono{font-family:ui-monospace,monospace;font-size:12px}
      .muted{color:#667}.cards{display:flex;flex-wrap:wrap;gap:10px}
      .card{border:1px solid #dde;border-radius:6px;padding:8px 12px;min-width:150px}
      .card .label{color:#667;font-size:12px}.card .value{font-size:19px;font-weight:600}
      .card .note{color:#889;font-size:11px}
      table{border-collapse:collapse;width:100%}th,td{padding:3px 8px;border-bottom:1px solid #eef;text-align:left}
      th{background:#f5f6fa;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
      .stack{width:100%;height:24px;display:block;margin:6px 0}
      .p0{fill:#3b6fd8;background:#3b6fd8}.p1{fill:#e08a2c;background:#e08a2c}.p2{fill:#8a5cc7;background:#8a5cc7}
      .p3{fill:#d24a5a;background:#d24a5a}.p4{fill:#7a8294;background:#7a8294}.p5{fill:#c9ced8;background:#c9ced8}
      .sw{display:inline-block;width:10px;height:10px;margin-right:6px}
      .charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:12px}
      figure.group{margin:0;border:1px solid #dde;border-radius:6px;padding:8px}
      figcaption{font-size:12px;word-break:break-all}figure p{font-size:11px;margin:4px 0}
      svg.hist{width:100%;height:100px;display:block;background:#fafbfd}
      .bars{fill:#9db4e6;stroke:none}.log{display:none}body.logscale .log{display:inline}
      body.logscale .lin{display:none}
      .particles{stroke:#d2452f;stroke-width:1.5;vector-effect:non-scaling-stroke;opacity:.85}
      .axis{display:flex;justify-content:space-between;font-size:11px;color:#667;position:relative}
      .axis .z{position:absolute;transform:translateX(-50%)}
      .zero{stroke:#99a;stroke-width:1;stroke-dasharray:2 2;vector-effect:non-scaling-stroke}
      .tools{margin:6px 0}#filter{width:280px;padding:3px 6px}
      #tensor-table{table-layout:fixed}#tensor-table th{cursor:pointer;user-select:none}
      #tensor-table th:nth-child(1){width:38%}#tensor-table th:nth-child(3){width:5%}
      #tensor-table td:nth-child(1),#tensor-table td:nth-child(2){word-break:break-all;font-size:12px}
      td.bar{position:relative}td.bar i{position:absolute;left:0;top:3px;bottom:3px;background:#cfdcf6}
      td.bar.s i{background:#cdebd3}td.bar span{position:relative}
      th.asc::after{content:" \\2191"}th.desc::after{content:" \\2193"}
      footer{margin-top:30px;color:#889;font-size:12px}
      """;

  /** The tensor table: decodes the rows, sorts, filters, shows a page of them. */
  private static final String SCRIPT = """
      'use strict';
      (function () {
        var box = document.getElementById('logscale');
        box.addEventListener('change', function () { document.body.classList.toggle('logscale', box.checked); });
        var data = JSON.parse(document.getElementById('tensor-data').textContent);
        var rows = [], groups = [], prev = '', maxS = 0, maxB = 0;
        data.groups.forEach(function (g) {
          prev = prev.slice(0, g[0]) + g[1];
          groups.push(prev);
        });
        prev = '';
        data.rows.forEach(function (r) {
          var name = prev.slice(0, r[0]) + r[1];
          prev = name;
          var t = {name: name, node: r.length > 7 ? r[7] : null, group: groups[r[2]], bits: r[3],
            numel: r[4], bpw: r[5], sqnr: r[6] === null ? Infinity : r[6]};
          if (isFinite(t.sqnr)) { maxS = Math.max(maxS, t.sqnr); }
          maxB = Math.max(maxB, t.bpw);
          rows.push(t);
        });
        var key = 'sqnr', asc = true, page = 0, size = 100, shown = rows;
        var tbody = document.querySelector('#tensor-table tbody');
        var heads = document.querySelectorAll('#tensor-table th');
        function cell(tr, text, cls) {
          var td = document.createElement('td');
          td.textContent = text;
          if (cls) { td.className = cls; }
          tr.appendChild(td);
          return td;
        }
        function bar(tr, value, text, max, cls) {
          var td = document.createElement('td'), i = document.createElement('i'), s = document.createElement('span');
          td.className = 'bar n ' + cls;
          i.style.width = (max > 0 ? Math.max(0, Math.min(1, value / max)) * 100 : 0) + '%';
          s.textContent = text;
          td.appendChild(i);
          td.appendChild(s);
          tr.appendChild(td);
        }
        function update() {
          var f = document.getElementById('filter').value.toLowerCase();
          shown = f ? rows.filter(function (r) {
            return r.name.toLowerCase().indexOf(f) >= 0 || r.group.toLowerCase().indexOf(f) >= 0
              || (r.node !== null && r.node.toLowerCase().indexOf(f) >= 0);
          }) : rows.slice();
          shown.sort(function (a, b) {
            var x = a[key], y = b[key], c = typeof x === 'string' ? x.localeCompare(y) : (x < y ? -1 : x > y ? 1 : 0);
            return asc ? c : -c;
          });
          page = Math.min(page, Math.max(0, Math.ceil(shown.length / size) - 1));
          draw();
        }
        function draw() {
          var frag = document.createDocumentFragment();
          shown.slice(page * size, (page + 1) * size).forEach(function (r) {
            var tr = document.createElement('tr');
            cell(tr, r.node === null ? r.name : r.name + ' (' + r.node + ')');
            cell(tr, r.group);
            cell(tr, String(r.bits), 'n');
            cell(tr, r.numel.toLocaleString('en-US'), 'n');
            bar(tr, r.bpw, r.bpw.toFixed(3), maxB, 'b');
            bar(tr, isFinite(r.sqnr) ? r.sqnr : maxS, isFinite(r.sqnr) ? r.sqnr.toFixed(2) : 'lossless', maxS, 's');
            frag.appendChild(tr);
          });
          tbody.replaceChildren(frag);
          var pages = Math.max(1, Math.ceil(shown.length / size));
          document.getElementById('page').textContent = 'page ' + (page + 1) + ' of ' + pages + ' (' +
            shown.length.toLocaleString('en-US') + ' tensors)';
          heads.forEach(function (th) {
            th.classList.toggle('asc', th.dataset.key === key && asc);
            th.classList.toggle('desc', th.dataset.key === key && !asc);
          });
        }
        heads.forEach(function (th) {
          th.addEventListener('click', function () {
            if (key === th.dataset.key) { asc = !asc; } else { key = th.dataset.key; asc = key !== 'bpw' && key !== 'numel'; }
            page = 0;
            update();
          });
        });
        document.getElementById('filter').addEventListener('input', function () { page = 0; update(); });
        document.getElementById('prev').addEventListener('click', function () { page = Math.max(0, page - 1); draw(); });
        document.getElementById('next').addEventListener('click', function () {
          page = Math.min(page + 1, Math.max(0, Math.ceil(shown.length / size) - 1));
          draw();
        });
        update();
      })();
      """;
}
