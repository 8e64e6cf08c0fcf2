package io.sparticle.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** report.html from report.json alone: every section, escaping, old reports, size bounds. */
class HtmlReportTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** A report.json as CompressReport writes it, with the fields the page reads. */
  private static ObjectNode report(long outputBytes) {
    ObjectNode r = JSON.createObjectNode();
    ObjectNode t = r.putObject("totals");
    t.put("params", 1_000_000).put("compressed_params", 990_000).put("input_bytes", 2_000_000)
        .put("output_bytes", outputBytes).put("ratio", 2_000_000.0 / outputBytes)
        .put("bits_per_weight", 4.0).put("sqnr_db", 14.87).put("mse", 4.7e-5).put("max_abs_err", 1.98);
    t.putObject("size_breakdown").put("codes", 495_000).put("codebooks", 64).put("scales", 0)
        .put("outliers", 0).put("dense", 20_000).put("other", outputBytes - 515_064);
    r.putArray("tensors");
    r.putArray("groups");
    r.putArray("kept_dense");
    r.putArray("warnings");
    return r;
  }

  private static ObjectNode tensor(ObjectNode report, String name, String group, double sqnr) {
    ObjectNode o = ((ArrayNode) report.get("tensors")).addObject();
    o.put("name", name).put("group", group).put("bits", 4).put("numel", 65_536)
        .put("bits_per_weight", 4.0).put("mse", 1e-5).put("sqnr_db", sqnr).put("max_abs_err", 0.1);
    return o;
  }

  private static ObjectNode kmeansGroup(ObjectNode report, String name, int k, boolean histogram,
      String... tensors) {
    ObjectNode g = ((ArrayNode) report.get("groups")).addObject();
    g.put("name", name).put("method", "kmeans").put("scope", "group").put("k", k).put("bits", 4);
    g.putObject("parameters").put("codebook_precision", "F32").put("per_tensor_scale", true);
    g.put("params", 65_536L * tensors.length).put("stored_bytes", 32_768L * tensors.length + 4L * k)
        .put("bits_per_weight", 4.0);
    ArrayNode names = g.putArray("tensors");
    for (String t : tensors) {
      names.add(t);
    }
    ArrayNode book = g.putArray("codebook");
    for (int i = 0; i < k; i++) {
      book.add(-2.0 + 4.0 * i / (k - 1));
    }
    if (histogram) {
      ObjectNode h = g.putObject("histogram");
      h.put("scaled", true).put("lo", -2.5).put("hi", 2.5).put("below", 3).put("above", 4)
          .put("min", -9.0).put("max", 8.0);
      ArrayNode c = h.putArray("counts");
      for (int i = 0; i < CompressReport.HISTOGRAM_BINS; i++) {
        double x = (i - 63.5) / 20;
        c.add(Math.round(10_000 * Math.exp(-x * x / 2)));
      }
    }
    g.put("sqnr_db", 14.9);
    return g;
  }

  private static ObjectNode uniformGroup(ObjectNode report, String name, String... tensors) {
    ObjectNode g = ((ArrayNode) report.get("groups")).addObject();
    g.put("name", name).put("method", "uniform").put("scope", "channel").put("k", 16).put("bits", 4);
    g.putObject("parameters").put("scale_precision", "F16");
    g.put("params", 65_536L * tensors.length).put("stored_bytes", 33_000L * tensors.length)
        .put("bits_per_weight", 4.03);
    ArrayNode names = g.putArray("tensors");
    for (String t : tensors) {
      names.add(t);
    }
    g.put("sqnr_db", 13.1);
    return g;
  }

  private static String render(JsonNode report, JsonNode evaluation) throws Exception {
    byte[] ev = evaluation == null ? null : JSON.writeValueAsBytes(evaluation);
    return new String(HtmlReport.render(JSON.writeValueAsBytes(report), ev), StandardCharsets.UTF_8);
  }

  private static int count(String s, String what) {
    int n = 0;
    for (int i = s.indexOf(what); i >= 0; i = s.indexOf(what, i + 1)) {
      n++;
    }
    return n;
  }

  private static String tensorData(String html) {
    Matcher m = Pattern.compile("<script type=\"application/json\" id=\"tensor-data\">(.*?)</script>",
        Pattern.DOTALL).matcher(html);
    assertTrue(m.find(), "tensor data");
    return m.group(1);
  }

  /** The names the page's script decodes, front coding undone. */
  private static List<String> frontDecoded(JsonNode coded) {
    List<String> names = new ArrayList<>();
    String prev = "";
    for (JsonNode r : coded) {
      prev = prev.substring(0, r.get(0).asInt()) + r.get(1).asText();
      names.add(prev);
    }
    return names;
  }

  /** The tensor rows' names as the page's script decodes them. */
  private static List<String> tensorNames(String html) throws Exception {
    return frontDecoded(JSON.readTree(tensorData(html)).get("rows"));
  }

  /** Each tensor row's group name as the page's script decodes it. */
  private static List<String> tensorGroups(String html) throws Exception {
    JsonNode data = JSON.readTree(tensorData(html));
    List<String> groups = frontDecoded(data.get("groups"));
    List<String> out = new ArrayList<>();
    for (JsonNode r : data.get("rows")) {
      out.add(groups.get(r.get(2).asInt()));
    }
    return out;
  }

  @Test
  void everySectionIsThere() throws Exception {
    ObjectNode r = report(600_000);
    tensor(r, "model.layers.0.mlp.up_proj.weight", "mlp", 14.2);
    tensor(r, "model.layers.1.mlp.up_proj.weight", "mlp", 15.1);
    tensor(r, "model.layers.0.self_attn.q_proj.weight", "attn", 13.0);
    kmeansGroup(r, "mlp", 16, true, "model.layers.0.mlp.up_proj.weight", "model.layers.1.mlp.up_proj.weight");
    uniformGroup(r, "attn", "model.layers.0.self_attn.q_proj.weight");
    ((ArrayNode) r.get("kept_dense")).addObject().put("name", "bad.weight").put("reason", "3 of 9 values are NaN");
    ((ArrayNode) r.get("warnings")).add("something to know");
    r.putObject("calibration").put("source", "calibration").put("path", "hdfs://nn/m/model.onnx")
        .put("sentences", 156).put("tokens", 2_048).put("seconds", 1.5).put("tensors", 3);
    ObjectNode ev = JSON.createObjectNode().put("mean_cosine", 0.9731).put("min_cosine", 0.91)
        .put("pairwise_spearman", 0.95).put("top1_agreement", 0.9).put("sentences", 120)
        .put("pooling", "mean").put("bits", 4);

    String html = render(r, ev);
    assertTrue(html.startsWith("<!DOCTYPE html>"), html.substring(0, 40));
    for (String id : new String[] {"totals", "fidelity", "size", "method", "groups", "tensors", "notes"}) {
      assertTrue(html.contains("<section id=\"" + id + "\">"), id);
    }
    // Totals, fidelity, the size breakdown, method and parameters.
    assertTrue(html.contains("3.33\u00d7"), "ratio");
    assertTrue(html.contains("14.87 dB"), "SQNR");
    assertTrue(html.contains("0.9731"), "mean cosine");
    assertTrue(html.contains("120 sentences, mean pooling, 4 bits"));
    assertEquals(1, count(html, "<svg class=\"stack\""));
    assertTrue(html.contains("<td class=\"n\">495,000</td>"), "codes bytes");
    assertTrue(html.contains("kmeans/group 4 bits"));
    assertTrue(html.contains("k=16, codebook_precision=F32, per_tensor_scale=true"));
    assertTrue(html.contains("uniform/channel 4 bits"));
    assertTrue(html.contains("Importance: calibration on 156 sentences (2,048 tokens), 3 tensors weighted"));
    assertFalse(html.contains("hdfs://"), "no path: a run on another store writes the same page");
    // One chart, for the kmeans group: its histogram (linear and log) and its 16 particles.
    assertEquals(1, count(html, "<svg class=\"hist\""));
    assertEquals(1, count(html, "<path class=\"bars lin\""));
    assertEquals(1, count(html, "<path class=\"bars log\""));
    Matcher particles = Pattern.compile("<path class=\"particles\" d=\"([^\"]*)\"").matcher(html);
    assertTrue(particles.find());
    assertEquals(16, count(particles.group(1), "M"));
    assertTrue(html.contains("Outside the range: 3 below (down to -9.00), 4 above (up to 8.00)."));
    assertTrue(html.contains("weight / its tensor's RMS"), "scaled units said");
    assertTrue(html.contains("1 uniform: a grid per channel"), "the uniform group's note");
    // Tensors (all three, in report order), kept dense, warnings.
    assertEquals(List.of("model.layers.0.mlp.up_proj.weight", "model.layers.1.mlp.up_proj.weight",
        "model.layers.0.self_attn.q_proj.weight"), tensorNames(html));
    assertEquals(List.of("mlp", "mlp", "attn"), tensorGroups(html));
    assertTrue(html.contains("<th data-key=\"sqnr\">SQNR dB</th>"));
    assertTrue(html.contains("bad.weight <span class=\"muted\">3 of 9 values are NaN</span>"));
    assertTrue(html.contains("<li>something to know</li>"));
    // Offline: nothing to fetch, and no timing (two runs writing the same checkpoint write the same page).
    assertFalse(Pattern.compile("(src|href)=\"(?!#)").matcher(html).find(), "no external reference");
    assertTrue(html.contains("default-src 'none'"));
    assertEquals(html, render(r, ev));
  }

  @Test
  void everyNameIsEscaped() throws Exception {
    String evil = "</script><img src=x onerror=alert(1)>\"'&\u2028";
    String evilGroup = "<b>group</b> & \"co\"";
    ObjectNode r = report(600_000);
    tensor(r, evil, evilGroup, 14.2).put("node", "<i>node</i>");
    tensor(r, evil + "2", evilGroup, 15.0);
    kmeansGroup(r, evilGroup, 4, true, evil, evil + "2");
    uniformGroup(r, "<u>" + evil, "x");
    ((ArrayNode) r.get("kept_dense")).addObject().put("name", evil).put("reason", "<why>");
    ((ArrayNode) r.get("warnings")).add(evil);

    String html = render(r, null);
    assertFalse(html.contains("<img"), "no markup from a name");
    assertFalse(html.contains("<b>group"));
    assertFalse(html.contains("<i>node"));
    assertFalse(html.contains("<u>"));
    assertFalse(html.contains("<why>"));
    assertFalse(tensorData(html).contains("\u2028"), "no line separator in script");
    // The two script elements are the page's own: the tensor data and the code.
    assertEquals(2, count(html, "</script>"));
    assertTrue(html.contains("&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;"));
    assertTrue(html.contains("&lt;b&gt;group&lt;/b&gt; &amp; &quot;co&quot;"));
    // The script gets the names back exactly.
    assertEquals(List.of(evil, evil + "2"), tensorNames(html));
    assertEquals(List.of(evilGroup, evilGroup), tensorGroups(html));
  }

  @Test
  void aModelWithoutCodebookGroupsHasNoChartsButSaysWhy() throws Exception {
    ObjectNode r = report(600_000);
    tensor(r, "a.weight", "uniform-a", 12);
    tensor(r, "b.weight", "uniform-b", 13);
    uniformGroup(r, "uniform-a", "a.weight");
    uniformGroup(r, "uniform-b", "b.weight");
    ObjectNode vq = ((ArrayNode) r.get("groups")).addObject();
    vq.put("name", "vq").put("method", "vq").put("scope", "group").put("k", 256).put("bits", 4);
    vq.putObject("parameters").put("vq_dim", 2);
    vq.putArray("tensors");

    String html = render(r, null);
    assertEquals(0, count(html, "<svg class=\"hist\""));
    assertTrue(html.contains("3 group(s) without a chart: 2 uniform: a grid per channel; 1 vq: its codewords are vectors"),
        html);
    assertTrue(html.contains("Not measured."), "no fidelity");
    assertTrue(html.contains("vq/group dim 2 4 bits"));
  }

  @Test
  void aReportOfAnEarlierVersionStillRenders() throws Exception {
    // No size breakdown, no histograms, no kept_dense or warnings arrays.
    ObjectNode r = report(600_000);
    ((ObjectNode) r.get("totals")).remove("size_breakdown");
    r.remove("kept_dense");
    r.remove("warnings");
    tensor(r, "a.weight", "g", 12);
    kmeansGroup(r, "g", 16, false, "a.weight");

    String html = render(r, null);
    assertTrue(html.contains("has no size breakdown"));
    assertEquals(1, count(html, "<svg class=\"hist\""), "the particles alone");
    assertEquals(0, count(html, "class=\"bars"));
    assertTrue(html.contains("Particles only"));
    assertFalse(html.contains("<section id=\"notes\">"));
  }

  /**
   * A moe-shaped report (the bench preset: 48 layers of 144 experts, 21,075 tensors of which
   * 20,978 are compressed, the norms kept as they are): the page
   * is a fraction of report.json whether its groups are by module (10) or one per tensor.
   */
  @Test
  void manyTensorsStaySmall() throws Exception {
    for (boolean perTensor : new boolean[] {false, true}) {
      ObjectNode r = report(800_000_000);
      List<String> names = new ArrayList<>();
      names.add("model.embed_tokens.weight");
      for (int l = 0; l < 48; l++) {
        String p = "model.layers." + l + ".";
        for (String m : new String[] {"q_proj", "k_proj", "v_proj", "o_proj"}) {
          names.add(p + "self_attn." + m + ".weight");
        }
        names.add(p + "block_sparse_moe.gate.weight");
        for (int e = 0; e < 144; e++) {
          for (String w : new String[] {"w1", "w2", "w3"}) {
            names.add(p + "block_sparse_moe.experts." + e + "." + w + ".weight");
          }
        }
      }
      names.add("lm_head.weight");
      java.util.Map<String, List<String>> groups = new java.util.LinkedHashMap<>();
      java.util.Random rnd = new java.util.Random(1);
      for (String n : names) {
        String g = perTensor ? n : n.replaceAll("\\.\\d+\\.", ".*.");
        groups.computeIfAbsent(g, k -> new ArrayList<>()).add(n);
        tensor(r, n, g, 14 + rnd.nextDouble());
      }
      int i = 0;
      for (var e : groups.entrySet()) {
        kmeansGroup(r, e.getKey(), 16, i++ < CompressReport.MAX_HISTOGRAMS, e.getValue().toArray(new String[0]));
      }
      byte[] json = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(r);
      int html = HtmlReport.render(json, null).length;
      System.out.printf(Locale.ROOT, "moe-shaped, %,d tensors in %,d groups: report.html %,d bytes "
          + "(report.json as built here %,d)%n", names.size(), groups.size(), html, json.length);
      assertEquals(20_978, names.size());
      assertTrue(html < (perTensor ? 2_500_000 : 1_000_000), html + " bytes");
    }
  }
}
