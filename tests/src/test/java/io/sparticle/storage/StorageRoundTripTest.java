package io.sparticle.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.cli.SparticleCli;
import io.sparticle.format.DType;
import io.sparticle.format.Manifest;
import io.sparticle.plan.JobConfig;
import io.sparticle.spark.CompressReport;
import io.sparticle.spark.DecompressJob;
import io.sparticle.spark.SharedSpark;
import io.sparticle.spark.Sparticle;
import io.sparticle.synth.SyntheticCheckpoint;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Compress and decompress across local files, HDFS and S3 in every mix the issue names; each
 * result must be byte-identical to the same job on local files.
 */
class StorageRoundTripTest {
  private static final JobConfig CONFIG = JobConfig.defaults().withOutputShardBytes(300 << 10);

  @TempDir static Path tmp;
  static SparkSession spark;
  static Configuration conf;
  static String localModel;
  static String localPacked;
  static String localRestored;
  static String bucket;

  @BeforeAll
  static void setUp() throws Exception {
    spark = SharedSpark.get();
    conf = spark.sparkContext().hadoopConfiguration();
    S3Server.configure(conf);
    MiniHdfs.uri();
    bucket = S3Server.bucketUri("roundtrip");
    localModel = tmp.resolve("model").toString();
    SyntheticCheckpoint.write(SyntheticCheckpoint.preset("tiny"), DType.BF16, 256 << 10, 11,
        localModel, conf);
    localPacked = tmp.resolve("packed").toString();
    localRestored = tmp.resolve("restored").toString();
    Sparticle.compress(spark).input(localModel).output(localPacked).config(CONFIG).execute();
    Sparticle.decompress(spark).input(localPacked).output(localRestored).execute();
  }

  /** The injection swaps S3A's implementation; restore it (unset would drop core-default's too). */
  @AfterEach
  void disarm() {
    conf.set("fs.s3a.impl", "org.apache.hadoop.fs.s3a.S3AFileSystem");
    conf.setBoolean("fs.s3a.impl.disable.cache", false);
    FailOnceS3AFileSystem.FAILURES_LEFT.set(0);
  }

  @Test
  void localToS3AndDecompressFromS3() throws Exception {
    String packed = bucket + "/local-to-s3";
    long t0 = System.nanoTime();
    Sparticle.compress(spark).input(localModel).output(packed).config(CONFIG).execute();
    String restored = bucket + "/restored";
    DecompressJob.Result back = Sparticle.decompress(spark).input(packed).output(restored).execute();
    double seconds = (System.nanoTime() - t0) / 1e9;
    assertSameFiles(localPacked, packed);
    assertSameFiles(localRestored, restored);
    // Reading from S3: compress the S3 copy back to local, and count the GETs it needed.
    String toLocal = tmp.resolve("from-s3").toString();
    CompressReport fromS3 = Sparticle.compress(spark).input(restored).output(toLocal).config(CONFIG).execute();
    assertTrue(fromS3.readRequests() > 0, "S3A reported its GETs");
    assertTrue(back.readRequests() > 0, "S3A reported its GETs");
    System.out.printf(Locale.ROOT,
        "S3 round trip (compress local->S3, decompress S3->S3) of %,d params: %.1f s%n"
            + "compress from S3: %,d bytes read in %d GETs (%.0f per GiB); "
            + "decompress from S3: %,d bytes in %d GETs (%.0f per GiB)%n",
        fromS3.params(), seconds, fromS3.readBytes(), fromS3.readRequests(), fromS3.readRequestsPerGiB(),
        back.readBytes(), back.readRequests(), back.readRequests() / (back.readBytes() / (double) (1L << 30)));
    // One GET per (task, file) at most: each histogram task reads one file, each encode task
    // each source file of its part once, however many tensors it holds.
    Manifest m = Manifest.parse("manifest", readAll(toLocal).get("manifest.json"));
    java.util.Set<String> filesWithCompressed = new java.util.HashSet<>();
    Map<String, java.util.Set<String>> sourcesPerPart = new TreeMap<>();
    for (Manifest.TensorEntry t : m.tensors()) {
      if (!t.dense()) {
        filesWithCompressed.add(t.sourceFile());
      }
      sourcesPerPart.computeIfAbsent(t.file(), k -> new java.util.HashSet<>()).add(t.sourceFile());
    }
    long bound = filesWithCompressed.size();
    for (java.util.Set<String> sources : sourcesPerPart.values()) {
      bound += sources.size();
    }
    assertTrue(fromS3.readRequests() <= bound,
        fromS3.readRequests() + " GETs, more than one per (task, file): " + bound);
  }

  @Test
  void hdfsToS3() throws Exception {
    String model = MiniHdfs.uri() + "/models/hdfs-to-s3";
    SyntheticCheckpoint.write(SyntheticCheckpoint.preset("tiny"), DType.BF16, 256 << 10, 11, model, conf);
    String packed = bucket + "/hdfs-to-s3";
    Sparticle.compress(spark).input(model).output(packed).config(CONFIG).execute();
    assertSameFiles(localPacked, packed);
  }

  @Test
  void s3ToHdfsAndHdfsToHdfs() throws Exception {
    String model = bucket + "/models/s3-to-hdfs";
    SyntheticCheckpoint.write(SyntheticCheckpoint.preset("tiny"), DType.BF16, 256 << 10, 11, model, conf);
    String packed = MiniHdfs.uri() + "/packed/s3-to-hdfs";
    Sparticle.compress(spark).input(model).output(packed).config(CONFIG).execute();
    assertSameFiles(localPacked, packed);
    String restored = MiniHdfs.uri() + "/restored/s3-to-hdfs";
    Sparticle.decompress(spark).input(packed).output(restored).execute();
    assertSameFiles(localRestored, restored);
    assertNoTemporary(packed);
  }

  @Test
  void committedS3OutputIsNotReplacedWithoutOverwrite() throws Exception {
    String packed = bucket + "/no-overwrite";
    Sparticle.compress(spark).input(localModel).output(packed).config(CONFIG).execute();
    Map<String, byte[]> before = readAll(packed);
    int code = SparticleCli.run("compress", "--input", localModel, "--output", packed, "--bits", "2");
    assertEquals(2, code);
    Map<String, byte[]> after = readAll(packed);
    assertEquals(before.keySet(), after.keySet());
    for (String f : before.keySet()) {
      assertArrayEquals(before.get(f), after.get(f), f);
    }
  }

  @Test
  void failedS3UploadIsAbortedAndTheRetryIsIdentical() throws Exception {
    conf.set("fs.s3a.impl", FailOnceS3AFileSystem.class.getName());
    conf.setBoolean("fs.s3a.impl.disable.cache", true);
    FailOnceS3AFileSystem.FAILED.set(0);
    FailOnceS3AFileSystem.FAILURES_LEFT.set(1);
    String packed = bucket + "/fault-once";
    Sparticle.compress(spark).input(localModel).output(packed).config(CONFIG).execute();
    assertEquals(1, FailOnceS3AFileSystem.FAILED.get(), "the fault fired once");
    assertSameFiles(localPacked, packed);

    // Every attempt fails: the job fails, and no partial object is published.
    FailOnceS3AFileSystem.FAILED.set(0);
    FailOnceS3AFileSystem.FAILURES_LEFT.set(100);
    String failed = bucket + "/fault-always";
    assertThrows(Exception.class, () ->
        Sparticle.compress(spark).input(localModel).output(failed).config(CONFIG).execute());
    assertTrue(FailOnceS3AFileSystem.FAILED.get() >= 2);
    // A failed job's other tasks are cancelled, not stopped at once: keep the fault armed until
    // they are gone, or a late attempt could write with a healthy S3A.
    SharedSpark.awaitNoRunningTasks();
    disarm();
    Map<String, byte[]> left = readAll(failed);
    Map<String, Integer> sizes = new TreeMap<>();
    left.forEach((k, v) -> sizes.put(k, v.length));
    assertTrue(left.keySet().stream().noneMatch(f -> f.endsWith(".safetensors") || f.equals("_SUCCESS")),
        "nothing published: " + sizes);
  }

  /**
   * Calibration with the model, its tokenizer and the sentences on HDFS: the driver copies them
   * to local files for ONNX Runtime, and the checkpoint is the one the same job on local files
   * writes.
   */
  @Test
  void calibrationReadsModelTokenizerAndSentencesFromHdfs() throws Exception {
    Path local = tmp.resolve("minilm");
    java.nio.file.Files.createDirectories(local);
    for (String[] f : new String[][] {{"/all-minilm-l6-v2.onnx", "model.onnx"},
        {"/all-minilm-l6-v2-tokenizer.json", "tokenizer.json"}}) {
      try (InputStream in = StorageRoundTripTest.class.getResourceAsStream(f[0])) {
        java.nio.file.Files.copy(in, local.resolve(f[1]));
      }
    }
    Path sentences = Path.of("..", "conf", "calibration-en.txt");
    String hdfs = MiniHdfs.uri() + "/calibration";
    FileSystem fs = new org.apache.hadoop.fs.Path(hdfs).getFileSystem(conf);
    fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(local.resolve("model.onnx").toUri()),
        new org.apache.hadoop.fs.Path(hdfs + "/model/model.onnx"));
    fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(local.resolve("tokenizer.json").toUri()),
        new org.apache.hadoop.fs.Path(hdfs + "/model/tokenizer.json"));
    fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(sentences.toAbsolutePath().toUri()),
        new org.apache.hadoop.fs.Path(hdfs + "/sentences.txt"));

    String fromLocal = tmp.resolve("calibrated-local").toString();
    Sparticle.compress(spark).input(local.resolve("model.onnx").toString()).output(fromLocal)
        .config(JobConfig.defaults().withCalibration(
            new JobConfig.Calibration(sentences.toString(), null, null))).execute();
    String fromHdfs = tmp.resolve("calibrated-hdfs").toString();
    CompressReport r = Sparticle.compress(spark).input(hdfs + "/model/model.onnx").output(fromHdfs)
        .config(JobConfig.defaults().withCalibration(
            new JobConfig.Calibration(hdfs + "/sentences.txt", null, null))).execute();
    assertEquals(156, r.calibration().sentences());
    assertSameFiles(fromLocal, fromHdfs);
  }

  private static void assertNoTemporary(String dir) throws IOException {
    org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(dir, "_temporary");
    assertFalse(p.getFileSystem(conf).exists(p), "temp files are cleaned");
  }

  /** Same file names and, except the timing-bearing report, the same bytes. */
  private static void assertSameFiles(String expectedDir, String actualDir) throws IOException {
    Map<String, byte[]> expected = readAll(expectedDir);
    Map<String, byte[]> actual = readAll(actualDir);
    assertEquals(expected.keySet(), actual.keySet(), actualDir);
    for (String f : expected.keySet()) {
      if (!f.equals("report.json")) {
        assertArrayEquals(expected.get(f), actual.get(f), actualDir + "/" + f);
      }
    }
  }

  private static Map<String, byte[]> readAll(String dir) throws IOException {
    org.apache.hadoop.fs.Path root = new org.apache.hadoop.fs.Path(dir);
    FileSystem fs = root.getFileSystem(conf);
    Map<String, byte[]> out = new TreeMap<>();
    if (!fs.exists(root)) {
      return out;
    }
    String prefix = fs.makeQualified(root).toString() + "/";
    RemoteIterator<LocatedFileStatus> it = fs.listFiles(root, true);
    while (it.hasNext()) {
      FileStatus st = it.next();
      try (InputStream in = fs.open(st.getPath())) {
        out.put(st.getPath().toString().substring(prefix.length()), in.readAllBytes());
      }
    }
    return out;
  }
}
