package io.sparticle.spark;

import io.sparticle.format.Manifest;
import io.sparticle.quant.ErrorStats;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.OutputFile;
import org.apache.parquet.io.PositionOutputStream;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import io.sparticle.io.Storage;

/**
 * The report's rows as Parquet tables in the output directory, so that a nightly job's history can
 * be queried with Spark SQL: {@code report/tensors.parquet}, one row per compressed tensor, and
 * {@code report/groups.parquet}, one row per group, with report.json's column names. Single files,
 * written by the driver through the same all-or-nothing writer as the manifest and listed by name
 * in the manifest's {@code extras} ({@link Manifest.Extra}: the manifest must stay byte-identical
 * wherever the job runs, and these are measurements), which {@code verify} checks.
 *
 * <p>Only what the compress computed goes in, no time and no path; even so two runs have written
 * tables of other bytes beside identical data files and manifests (cause not found yet), so the
 * tables are not held to the data files' byte-for-byte promise. Which run a row came from is the
 * file's:
 * Spark SQL's {@code _metadata.file_path} and {@code _metadata.file_modification_time} columns.
 */
final class ReportTables {
  static final String DIR = "report";
  static final String TENSORS = DIR + "/tensors.parquet";
  static final String GROUPS = DIR + "/groups.parquet";

  static final MessageType TENSOR_SCHEMA = MessageTypeParser.parseMessageType("""
      message tensors {
        required binary name (STRING);
        optional binary node (STRING);
        required binary group (STRING);
        required binary method (STRING);
        required binary scope (STRING);
        required int32 bits;
        required int64 numel;
        required int64 stored_bytes;
        required double bits_per_weight;
        required double sqnr_db;
        required double mse;
        required double max_abs_err;
        required int64 pruned;
        required boolean calibrated;
      }
      """);

  static final MessageType GROUP_SCHEMA = MessageTypeParser.parseMessageType("""
      message groups {
        required binary name (STRING);
        required binary method (STRING);
        required binary scope (STRING);
        required int32 k;
        required int32 bits;
        required int32 tensors;
        required int64 params;
        required int64 stored_bytes;
        required double bits_per_weight;
        required double sqnr_db;
        required double mse;
        required double max_abs_err;
        required int32 kmeans_iterations;
        required int32 histogram_points;
      }
      """);

  private ReportTables() {}

  /**
   * Loads and compiles the Parquet writer on a daemon thread, by writing a one-row table into
   * memory: its first use in a JVM costs about half a second (class loading, codec set-up), which
   * the commit would otherwise wait for. The compress calls it when the encode pass starts, while
   * the driver waits for the executors. Once per JVM; failures are left to the real write.
   */
  static void warmUp() {
    if (warmedUp) {
      return;
    }
    warmedUp = true;
    Thread t = new Thread(() -> {
      try {
        SimpleGroupFactory rows = new SimpleGroupFactory(GROUP_SCHEMA);
        try (ParquetWriter<Group> w = writer(new ByteArrayOutputStream(), GROUP_SCHEMA)) {
          w.write(rows.newGroup().append("name", "").append("method", "").append("scope", "")
              .append("k", 0).append("bits", 0).append("tensors", 0).append("params", 0L)
              .append("stored_bytes", 0L).append("bits_per_weight", 0.0).append("sqnr_db", 0.0)
              .append("mse", 0.0).append("max_abs_err", 0.0).append("kmeans_iterations", 0)
              .append("histogram_points", 0));
        }
      } catch (IOException | RuntimeException e) {
        // The real write reports it.
      }
    }, "sparticle-report-tables-warm-up");
    t.setDaemon(true);
    t.start();
  }

  private static volatile boolean warmedUp;

  /** Writes both tables of {@code report} into {@code out} and answers their manifest entries. */
  static List<Manifest.Extra> write(Path out, CompressReport report, Configuration conf)
      throws IOException {
    Storage.forWriting(out, conf).mkdirs(new Path(out, DIR));
    OutputDirectory.writeSmall(out, TENSORS, tensors(report), conf);
    OutputDirectory.writeSmall(out, GROUPS, groups(report), conf);
    return List.of(new Manifest.Extra(TENSORS, Manifest.EXTRA_PARQUET),
        new Manifest.Extra(GROUPS, Manifest.EXTRA_PARQUET));
  }

  /** The tensors table's rows. */
  static byte[] tensors(CompressReport report) throws IOException {
    java.util.Map<String, CompressReport.GroupRow> groups = new java.util.HashMap<>();
    for (CompressReport.GroupRow g : report.groups()) {
      groups.put(g.name(), g);
    }
    SimpleGroupFactory rows = new SimpleGroupFactory(TENSOR_SCHEMA);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ParquetWriter<Group> w = writer(bytes, TENSOR_SCHEMA)) {
      for (CompressReport.TensorRow t : report.tensors()) {
        CompressReport.GroupRow g = groups.get(t.group());
        Group row = rows.newGroup().append("name", t.name());
        if (t.node() != null) {
          row.append("node", t.node());
        }
        row.append("group", t.group())
            .append("method", g == null ? "" : g.spec().method().key())
            .append("scope", g == null ? "" : g.spec().scope().key())
            .append("bits", t.bits())
            .append("numel", t.numel())
            .append("stored_bytes", t.storedBytes())
            .append("bits_per_weight", t.bitsPerWeight());
        error(row, t.error());
        row.append("pruned", t.pruned()).append("calibrated", t.calibrated());
        w.write(row);
      }
    }
    return bytes.toByteArray();
  }

  /** The groups table's rows. */
  static byte[] groups(CompressReport report) throws IOException {
    SimpleGroupFactory rows = new SimpleGroupFactory(GROUP_SCHEMA);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ParquetWriter<Group> w = writer(bytes, GROUP_SCHEMA)) {
      for (CompressReport.GroupRow g : report.groups()) {
        Group row = rows.newGroup()
            .append("name", g.name())
            .append("method", g.spec().method().key())
            .append("scope", g.spec().scope().key())
            .append("k", g.k())
            .append("bits", g.bits())
            .append("tensors", g.tensors().size())
            .append("params", g.params())
            .append("stored_bytes", g.storedBytes())
            .append("bits_per_weight", g.bitsPerWeight());
        error(row, g.error());
        row.append("kmeans_iterations", g.iterations()).append("histogram_points", g.points());
        w.write(row);
      }
    }
    return bytes.toByteArray();
  }

  private static void error(Group row, ErrorStats e) {
    row.append("sqnr_db", e.sqnrDb()).append("mse", e.mse()).append("max_abs_err", e.maxAbsError());
  }

  private static ParquetWriter<Group> writer(ByteArrayOutputStream bytes, MessageType schema)
      throws IOException {
    return ExampleParquetWriter.builder(new MemoryFile(bytes))
        .withType(schema)
        .withConf(new Configuration(false))
        .withCompressionCodec(CompressionCodecName.SNAPPY)
        .build();
  }

  /** A Parquet file written into memory: the tables are small, and written whole afterwards. */
  private record MemoryFile(ByteArrayOutputStream bytes) implements OutputFile {
    @Override
    public PositionOutputStream create(long blockSizeHint) {
      return new PositionOutputStream() {
        @Override
        public long getPos() {
          return bytes.size();
        }

        @Override
        public void write(int b) {
          bytes.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) {
          bytes.write(b, off, len);
        }
      };
    }

    @Override
    public PositionOutputStream createOrOverwrite(long blockSizeHint) {
      return create(blockSizeHint);
    }

    @Override
    public boolean supportsBlockSize() {
      return false;
    }

    @Override
    public long defaultBlockSize() {
      return 0;
    }
  }
}
