package io.sparticle.spark;

import io.sparticle.format.CheckpointFormatException;
import io.sparticle.format.CheckpointFormatException.Reason;
import io.sparticle.format.Manifest;
import io.sparticle.io.RangeReader;
import io.sparticle.io.SequentialReaders;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

/**
 * Checks a compressed checkpoint without writing anything: {@code _SUCCESS}, the manifest, every
 * file's size and CRC-32C (one Spark task per file, streamed), and that every tensor decodes (its
 * data file's header, key, dtype and size, and its codebook). The first problem is a
 * {@link CheckpointFormatException} naming the file and, where one applies, the tensor.
 *
 * <pre>{@code
 * VerifyJob.Result r = VerifyJob.verify(spark, "s3a://models/llama-4bit");
 * }</pre>
 */
public final class VerifyJob {
  private VerifyJob() {}

  public record Result(String dir, int files, long bytes, int tensors) {}

  record FileCheck(String path, String name, long size, String crc32c) implements Serializable {}

  public static Result verify(SparkSession spark, String dir) throws IOException {
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    Configuration conf = jsc.hadoopConfiguration();
    Path in = new Path(dir).getFileSystem(conf).makeQualified(new Path(dir));
    // _SUCCESS, manifest rules, every listed file present with its listed size.
    Manifest manifest = DecompressJob.readManifest(in.toString(), conf);
    // Every tensor decodes: headers, keys, dtypes, sizes, codebooks.
    DecompressJob.itemsBySource(in, manifest, conf);

    checkChecksums(jsc, in, manifest, conf);
    long bytes = 0;
    for (Manifest.FileEntry f : manifest.files()) {
      bytes += f.size();
    }
    return new Result(in.toString(), manifest.files().size(), bytes, manifest.tensors().size());
  }

  /**
   * Reads every file of the manifest on Spark, one task per file, and fails naming each whose
   * CRC-32C is not the manifest's. Decompress runs this too: a flipped bit in packed codes would
   * otherwise decode silently to other weights.
   */
  static void checkChecksums(JavaSparkContext jsc, Path in, Manifest manifest, Configuration conf)
      throws CheckpointFormatException {
    List<FileCheck> files = new ArrayList<>();
    for (Manifest.FileEntry f : manifest.files()) {
      files.add(new FileCheck(new Path(in, f.name()).toString(), f.name(), f.size(), f.crc32c()));
    }
    SerializableConfiguration c = new SerializableConfiguration(conf);
    jsc.setJobDescription("sparticle: verify checksums of " + files.size() + " files");
    List<String> bad = jsc.parallelize(files, Math.max(1, files.size()))
        .map(f -> checksum(f, c))
        .filter(problem -> !problem.isEmpty())
        .collect();
    if (!bad.isEmpty()) {
      throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, in.toString(), null,
          String.join("; ", bad));
    }
  }

  /** Empty when the file's CRC-32C is the manifest's; else what is wrong. */
  static String checksum(FileCheck f, SerializableConfiguration conf) throws IOException {
    CRC32C crc = new CRC32C();
    byte[] buf = new byte[(int) Math.min(8 << 20, Math.max(1, f.size()))];
    try (SequentialReaders readers = new SequentialReaders(conf.get())) {
      RangeReader in = readers.get(f.path(), f.size());
      for (long done = 0; done < f.size(); ) {
        PartWriter.stopIfKilled();
        int n = (int) Math.min(buf.length, f.size() - done);
        in.readFully(done, buf, 0, n);
        crc.update(buf, 0, n);
        done += n;
      }
    }
    String actual = String.format("%08x", crc.getValue());
    return actual.equals(f.crc32c()) ? ""
        : f.name() + " has CRC-32C " + actual + " but the manifest says " + f.crc32c();
  }
}
