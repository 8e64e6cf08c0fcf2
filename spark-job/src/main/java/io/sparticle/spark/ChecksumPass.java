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

/**
 * The CRC-32C of every file of a compressed checkpoint, one Spark task per file, streamed:
 * verify runs it, and decompress before it writes anything.
 */
final class ChecksumPass {
  private ChecksumPass() {}

  record FileCheck(String path, String name, long size, String crc32c) implements Serializable {}

  /**
   * Reads every file of the manifest on Spark, one task per file, and fails naming each whose
   * CRC-32C is not the manifest's. Decompress runs this too: a flipped bit in packed codes would
   * otherwise decode silently to other weights.
   */
  static void run(JavaSparkContext jsc, Path in, Manifest manifest, Configuration conf,
      ReadMeter meter, JobPhases phases) throws CheckpointFormatException {
    List<FileCheck> files = new ArrayList<>();
    for (Manifest.FileEntry f : manifest.files()) {
      files.add(new FileCheck(new Path(in, f.name()).toString(), f.name(), f.size(), f.crc32c()));
    }
    SerializableConfiguration c = new SerializableConfiguration(conf);
    jsc.setJobDescription("sparticle: verify checksums of " + files.size() + " files");
    long[] sizes = new long[Math.max(1, files.size())];
    for (int i = 0; i < files.size(); i++) {
      sizes[i] = files.get(i).size();
    }
    List<String> bad = phases.track(jsc.parallelize(files, sizes.length), sizes)
        .map(f -> checksum(f, c, meter))
        .filter(problem -> !problem.isEmpty())
        .collect();
    if (!bad.isEmpty()) {
      throw new CheckpointFormatException(Reason.INVALID_COMPRESSED, in.toString(), null,
          String.join("; ", bad));
    }
  }

  /** Empty when the file's CRC-32C is the manifest's; else what is wrong. */
  static String checksum(FileCheck f, SerializableConfiguration conf, ReadMeter meter)
      throws IOException {
    CRC32C crc = new CRC32C();
    byte[] buf = new byte[(int) Math.min(8 << 20, Math.max(1, f.size()))];
    SequentialReaders readers = new SequentialReaders(conf.get());
    try (readers) {
      RangeReader in = readers.get(f.path(), f.size());
      for (long done = 0; done < f.size(); ) {
        PartWriter.stopIfKilled();
        int n = (int) Math.min(buf.length, f.size() - done);
        in.readFully(done, buf, 0, n);
        crc.update(buf, 0, n);
        done += n;
      }
    }
    meter.add(readers.stats());
    String actual = String.format("%08x", crc.getValue());
    return actual.equals(f.crc32c()) ? ""
        : f.name() + " has CRC-32C " + actual + " but the manifest says " + f.crc32c();
  }
}
