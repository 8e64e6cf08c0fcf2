package io.sparticle.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.format.DType;
import io.sparticle.spark.OutputDirectory;
import io.sparticle.spark.SharedSpark;
import io.sparticle.spark.Sparticle;
import io.sparticle.synth.SyntheticCheckpoint;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The Hadoop FileSystem operations Sparticle relies on, and one job, on real HDFS and S3 servers. */
class StorageServersTest {
  private static final int SIZE = 5 << 20;

  private static Configuration conf() {
    Configuration conf = MiniHdfs.conf();
    S3Server.configure(conf);
    return conf;
  }

  private static String root(String store) {
    return switch (store) {
      case "hdfs" -> MiniHdfs.uri() + "/fs-ops";
      case "s3" -> S3Server.bucketUri("fs-ops") + "/fs-ops";
      default -> throw new IllegalArgumentException(store);
    };
  }

  @ParameterizedTest
  @ValueSource(strings = {"hdfs", "s3"})
  void writeListReadRenameDelete(String store) throws IOException {
    Path dir = new Path(root(store));
    FileSystem fs = dir.getFileSystem(conf());
    byte[] data = new byte[SIZE];
    new Random(42).nextBytes(data);
    Path file = new Path(dir, "data.bin");
    try (FSDataOutputStream out = fs.create(file, false)) {
      out.write(data);
    }

    FileStatus[] listed = fs.listStatus(dir);
    assertEquals(List.of("data.bin"), Arrays.stream(listed).map(s -> s.getPath().getName()).toList());
    assertEquals(SIZE, listed[0].getLen());
    assertTrue(listed[0].isFile());
    assertEquals(SIZE, fs.getFileStatus(file).getLen());
    assertRange(fs, file, data, 2_000_000, 1_000_000);

    Path renamed = new Path(dir, "renamed.bin");
    assertTrue(fs.rename(file, renamed));
    assertFalse(fs.exists(file));
    assertEquals(SIZE, fs.getFileStatus(renamed).getLen());
    assertRange(fs, renamed, data, SIZE - 4096, 4096);

    assertTrue(fs.delete(dir, true));
    assertFalse(fs.exists(renamed));
    assertFalse(fs.exists(dir));
  }

  private static void assertRange(FileSystem fs, Path file, byte[] data, int from, int len)
      throws IOException {
    byte[] got = new byte[len];
    try (FSDataInputStream in = fs.open(file)) {
      in.readFully(from, got, 0, len);
    }
    assertArrayEquals(Arrays.copyOfRange(data, from, from + len), got);
  }

  @Test
  void compressFromHdfsToS3AndDecompressBackToHdfs() throws Exception {
    SparkSession spark = SharedSpark.get();
    Configuration hadoop = spark.sparkContext().hadoopConfiguration();
    S3Server.configure(hadoop); // HDFS needs nothing beyond its hdfs://127.0.0.1:PORT paths
    String model = MiniHdfs.uri() + "/job/model";
    String packed = S3Server.bucketUri("job") + "/packed";
    String restored = MiniHdfs.uri() + "/job/restored";
    SyntheticCheckpoint.write(SyntheticCheckpoint.preset("tiny"), DType.BF16, 256 << 10, 7, model,
        hadoop);

    Sparticle.compress(spark).input(model).output(packed).execute();
    Sparticle.decompress(spark).input(packed).output(restored).execute();

    assertTrue(exists(packed + "/" + OutputDirectory.SUCCESS, hadoop));
    assertTrue(exists(restored + "/" + OutputDirectory.SUCCESS, hadoop));
    assertEquals(checkpointFiles(model, hadoop), checkpointFiles(restored, hadoop));
  }

  private static boolean exists(String path, Configuration conf) throws IOException {
    Path p = new Path(path);
    return p.getFileSystem(conf).exists(p);
  }

  private static List<String> checkpointFiles(String dir, Configuration conf) throws IOException {
    Path p = new Path(dir);
    return Stream.of(p.getFileSystem(conf).listStatus(p)).map(s -> s.getPath().getName())
        .filter(n -> n.endsWith(".safetensors") || n.endsWith(".json")).sorted().toList();
  }
}
