package io.sparticle.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.sparticle.format.DType;
import io.sparticle.plan.JobConfig;
import io.sparticle.quant.ReferenceKMeans;
import io.sparticle.quant.ValueHistogram;
import io.sparticle.quant.ValueKind;
import io.sparticle.quant.WeightedKMeans1D;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The codebooks' quality bar: per tensor, SQNR within 0.1 dB of (or better than) scikit-learn's
 * KMeans (k-means++ init, same k), here its port {@link ReferenceKMeans} on the raw weights; and
 * the histogram path computes exactly what MLlib computes with every weight as a row.
 */
class CodebookQualityTest {
  @TempDir Path tmp;

  @Test
  void everyTensorIsWithinATenthOfADecibelOfScikitLearnKMeans() throws Exception {
    Path model = Checkpoints.generate(tmp.resolve("model"), DType.BF16);
    Path packed = tmp.resolve("packed");
    Sparticle.compress(SharedSpark.get()).input(model.toString()).output(packed.toString())
        .config(JobConfig.defaults().withBits(4).withGrouping(JobConfig.Grouping.TENSOR)).execute();
    Map<String, JsonNode> rows = CompressRoundTripTest.reportRows(packed);
    Map<String, Checkpoints.Tensor> tensors = Checkpoints.readAll(model);
    System.out.printf(Locale.ROOT, "%-45s %10s %10s %8s%n", "tensor (4 bits)", "sparticle", "sklearn", "delta");
    double worst = Double.POSITIVE_INFINITY;
    for (Map.Entry<String, JsonNode> e : rows.entrySet()) {
      float[] x = tensors.get(e.getKey()).floats();
      WeightedKMeans1D.Result ref = ReferenceKMeans.fit(x, 16, 0);
      double refDb = ReferenceKMeans.sqnrDb(x, ref.centers());
      double ours = e.getValue().get("sqnr_db").asDouble();
      System.out.printf(Locale.ROOT, "%-45s %10.3f %10.3f %+8.3f%n", e.getKey(), ours, refDb, ours - refDb);
      worst = Math.min(worst, ours - refDb);
      assertTrue(ours >= refDb - 0.1, e.getKey() + ": " + ours + " dB vs scikit-learn " + refDb);
    }
    System.out.printf(Locale.ROOT, "worst delta %+.3f dB over %d tensors%n", worst, rows.size());
  }

  @Test
  void histogramFitEqualsFitOnEveryWeight() throws Exception {
    Path model = Checkpoints.generate(tmp.resolve("model"), DType.BF16);
    Checkpoints.Tensor t = Checkpoints.readAll(model).get("model.layers.0.self_attn.q_proj.weight");
    float[] raw = t.floats();

    ValueHistogram.Accumulator acc = ValueHistogram.accumulator(ValueKind.BF16);
    acc.addLittleEndian(t.bytes(), 0, raw.length);
    ValueHistogram h = acc.finish(0);
    double[] hv = new double[h.size()];
    double[] hw = new double[h.size()];
    for (int i = 0; i < hv.length; i++) {
      hv[i] = h.value(i);
      hw[i] = h.count(i);
    }
    double[] rv = new double[raw.length];
    double[] rw = new double[raw.length];
    for (int i = 0; i < raw.length; i++) {
      rv[i] = raw[i];
      rw[i] = 1;
    }
    assertTrue(h.size() < raw.length / 4, "bf16 weights repeat: " + h.size() + " bins");
    // A plain k-means++ start, so MLlib has many iterations to do on both inputs.
    double[] init = WeightedKMeans1D.initPlusPlus(hv, hw, 16, 1);
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(SharedSpark.get().sparkContext());
    Particleizer.Lloyd fromHistogram = Particleizer.lloyd(jsc, hv, hw, init, 30, 1e-9, 1);
    Particleizer.Lloyd fromRaw = Particleizer.lloyd(jsc, rv, rw, init, 30, 1e-9, 1);
    double[] a = fromHistogram.centers().clone();
    double[] b = fromRaw.centers().clone();
    Arrays.sort(a);
    Arrays.sort(b);
    System.out.println("histogram " + hv.length + " points, raw " + rv.length + " points, iterations "
        + fromHistogram.iterations() + " / " + fromRaw.iterations());
    for (int i = 0; i < a.length; i++) {
      assertTrue(Math.abs(a[i] - b[i]) <= 1e-9 * Math.abs(b[i]) + 1e-15,
          "center " + i + ": " + a[i] + " vs " + b[i]);
    }
    assertArrayEquals(new int[] {fromRaw.iterations()}, new int[] {fromHistogram.iterations()});
    assertTrue(fromRaw.iterations() >= 5, "MLlib iterated: " + fromRaw.iterations());
  }
}
