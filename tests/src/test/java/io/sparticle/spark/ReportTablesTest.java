package io.sparticle.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparticle.format.CheckpointFormatException;
import io.sparticle.format.DType;
import io.sparticle.format.Manifest;
import io.sparticle.plan.JobConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The report's Parquet tables: what Spark SQL reads from them is report.json's rows, a nightly
 * history of runs is one query over a glob, the manifest lists them, and verify checks them.
 */
class ReportTablesTest {
  @TempDir Path tmp;

  @Test
  void tablesHoldTheReportsRowsAndAHistoryIsOneQuery() throws Exception {
    Path model = Checkpoints.generate(tmp.resolve("model"), DType.BF16);
    Path runs = tmp.resolve("nightly");
    for (String night : List.of("2026-12-05", "2026-12-06")) {
      Sparticle.compress(SharedSpark.get()).input(model.toString())
          .output(runs.resolve(night).toString())
          .config(JobConfig.defaults().withBits(night.endsWith("5") ? 3 : 4)).execute();
    }
    Path out = runs.resolve("2026-12-06");
    JsonNode report = new ObjectMapper().readTree(out.resolve("report.json").toFile());
    Manifest manifest =
        Manifest.parse("manifest.json", Files.readAllBytes(out.resolve("manifest.json")));
    assertEquals(List.of(new Manifest.Extra(ReportTables.TENSORS, "parquet"),
        new Manifest.Extra(ReportTables.GROUPS, "parquet")), manifest.extras());

    // One row per compressed tensor, with report.json's values.
    Dataset<Row> tensors = SharedSpark.get().read().parquet(out.resolve(ReportTables.TENSORS).toString());
    Map<String, Row> byName = new HashMap<>();
    for (Row r : tensors.collectAsList()) {
      byName.put(r.getAs("name"), r);
    }
    assertEquals(report.path("tensors").size(), byName.size());
    for (JsonNode t : report.path("tensors")) {
      Row r = byName.get(t.path("name").asText());
      assertEquals(t.path("group").asText(), r.getAs("group"));
      assertEquals(t.path("bits").asInt(), (int) r.getAs("bits"));
      assertEquals(t.path("numel").asLong(), (long) r.getAs("numel"));
      assertEquals(t.path("bits_per_weight").asDouble(), (double) r.getAs("bits_per_weight"), 1e-12);
      assertEquals(t.path("sqnr_db").asDouble(), (double) r.getAs("sqnr_db"), 1e-9);
      assertEquals(t.path("mse").asDouble(), (double) r.getAs("mse"), 1e-15);
      assertEquals("kmeans", r.getAs("method"));
      assertNull(r.getAs("node"), "safetensors tensors have no node");
    }
    Dataset<Row> groups = SharedSpark.get().read().parquet(out.resolve(ReportTables.GROUPS).toString());
    assertEquals(report.path("groups").size(), groups.count());
    for (Row g : groups.collectAsList()) {
      JsonNode j = null;
      for (JsonNode x : report.path("groups")) {
        if (x.path("name").asText().equals(g.getAs("name"))) {
          j = x;
        }
      }
      assertEquals(j.path("stored_bytes").asLong(), (long) g.getAs("stored_bytes"));
      assertEquals(j.path("params").asLong(), (long) g.getAs("params"));
      assertEquals(j.path("tensors").size(), (int) g.getAs("tensors"));
      assertEquals(j.path("sqnr_db").asDouble(), (double) g.getAs("sqnr_db"), 1e-9);
    }

    // The history of both nights in one query; Spark SQL's _metadata tells the runs apart.
    SharedSpark.get().read().parquet(runs.resolve("*").resolve(ReportTables.GROUPS).toString())
        .selectExpr("*", "_metadata.file_path AS file").createOrReplaceTempView("report_groups");
    List<Row> history = SharedSpark.get().sql(
        "SELECT bits, count(*) AS n, min(sqnr_db) AS worst, max(sqnr_db) AS best, "
            + "count(DISTINCT file) AS runs, max(file) AS run FROM report_groups "
            + "GROUP BY bits ORDER BY bits").collectAsList();
    assertEquals(2, history.size(), history.toString());
    assertEquals(3, history.get(0).getInt(0));
    assertEquals(4, history.get(1).getInt(0));
    assertEquals(1L, history.get(0).getLong(4));
    assertTrue(history.get(0).getString(5).contains("2026-12-05"), history.toString());
    assertTrue(history.get(0).getDouble(3) < history.get(1).getDouble(2),
        "every 3-bit group below every 4-bit group: " + history);

    // A re-run writes the same manifest (the tables are listed by name, not by their bytes).
    Path again = tmp.resolve("again");
    Sparticle.compress(SharedSpark.get()).input(model.toString()).output(again.toString())
        .config(JobConfig.defaults().withBits(4)).execute();
    assertArrayEquals(Files.readAllBytes(out.resolve("manifest.json")),
        Files.readAllBytes(again.resolve("manifest.json")));

    // verify accepts the tables, and refuses one that is missing, not Parquet, or a stray file
    // beside them.
    VerifyJob.verify(SharedSpark.get(), out.toString());
    Path table = out.resolve(ReportTables.GROUPS);
    byte[] bytes = Files.readAllBytes(table);
    Files.write(table, java.util.Arrays.copyOf(bytes, bytes.length - 1));
    CheckpointFormatException e = assertThrows(CheckpointFormatException.class,
        () -> VerifyJob.verify(SharedSpark.get(), out.toString()));
    assertTrue(e.getMessage().endsWith("report/groups.parquet: is not a Parquet file (no PAR1 at its "
        + "start and end)"), e.getMessage());
    Files.delete(table);
    e = assertThrows(CheckpointFormatException.class,
        () -> VerifyJob.verify(SharedSpark.get(), out.toString()));
    assertTrue(e.getMessage().endsWith("report/groups.parquet: listed in the manifest's extras but "
        + "missing"), e.getMessage());
    Files.write(table, bytes);
    VerifyJob.verify(SharedSpark.get(), out.toString());
    Files.writeString(out.resolve("report").resolve("notes.txt"), "x");
    e = assertThrows(CheckpointFormatException.class,
        () -> VerifyJob.verify(SharedSpark.get(), out.toString()));
    assertTrue(e.getMessage().contains("report/notes.txt"), e.getMessage());
  }
}
