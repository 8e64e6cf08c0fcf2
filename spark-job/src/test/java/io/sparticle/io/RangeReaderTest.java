package io.sparticle.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.EOFException;
import java.io.FileNotFoundException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Positioned reads of local files: through {@link LocalInputFile}, and through
 * {@link HadoopInputFile} on {@code file:} paths, which reads them from a channel too unless the
 * file system is not Hadoop's own (a test double keeps its streams).
 */
class RangeReaderTest {
  @TempDir Path tmp;

  /** 900 KiB and a few bytes: reads that span several of the reader's pieces. */
  private Path file(byte[] bytes) throws Exception {
    new SplittableRandom(7).nextBytes(bytes);
    Path p = tmp.resolve("data.bin");
    Files.write(p, bytes);
    return p;
  }

  private static void readsEveryRange(RangeReader in, byte[] want) throws Exception {
    SplittableRandom rnd = new SplittableRandom(3);
    long total = 0;
    int[][] ranges = {{0, want.length}, {0, 0}, {want.length, 0}, {1, ChannelRangeReader.PIECE_BYTES},
        {ChannelRangeReader.PIECE_BYTES - 1, 2 * ChannelRangeReader.PIECE_BYTES + 3}, {want.length - 1, 1}};
    for (int[] r : ranges) {
      byte[] got = new byte[r[1] + 5];
      in.readFully(r[0], got, 5, r[1]);
      assertArrayEquals(Arrays.copyOfRange(want, r[0], r[0] + r[1]), Arrays.copyOfRange(got, 5, got.length),
          Arrays.toString(r));
      total += r[1];
    }
    for (int k = 0; k < 100; k++) {
      int at = rnd.nextInt(want.length);
      int n = rnd.nextInt(want.length - at + 1);
      byte[] got = new byte[n];
      in.readFully(at, got, 0, n);
      assertArrayEquals(Arrays.copyOfRange(want, at, at + n), got, "at " + at + " n " + n);
      total += n;
    }
    assertEquals(total, in.bytesRead());
  }

  @Test
  void localFilesReadExactlyTheBytesAskedForAndCountThem() throws Exception {
    byte[] want = new byte[900 * 1024 + 13];
    Path p = file(want);
    try (RangeReader in = new LocalInputFile(p).open()) {
      readsEveryRange(in, want);
    }
    Configuration conf = new Configuration();
    for (String path : new String[] {p.toString(), "file:" + p, "file://" + p}) {
      try (RangeReader in = HadoopInputFile.of(new org.apache.hadoop.fs.Path(path), conf, want.length).open()) {
        assertInstanceOf(ChannelRangeReader.class, in, "read from a channel, not through Hadoop");
        readsEveryRange(in, want);
      }
    }
  }

  @Test
  void readsPastTheEndSayWhereTheFileEnded() throws Exception {
    byte[] want = new byte[900 * 1024 + 13];
    Path p = file(want);
    try (RangeReader in = new LocalInputFile(p).open()) {
      EOFException e = assertThrows(EOFException.class,
          () -> in.readFully(want.length - 10, new byte[20], 0, 20));
      assertEquals(p + ": end of file at byte " + want.length + ", wanted 20 bytes from "
          + (want.length - 10), e.getMessage());
      assertThrows(IndexOutOfBoundsException.class, () -> in.readFully(0, new byte[4], 2, 3));
    }
  }

  @Test
  void aMissingFileIsNotFoundAsHadoopSaysIt() {
    Path p = tmp.resolve("missing.bin");
    FileNotFoundException e = assertThrows(FileNotFoundException.class,
        () -> HadoopInputFile.of(new org.apache.hadoop.fs.Path(p.toString()), new Configuration(), 1).open());
    assertEquals("File " + p + " does not exist", e.getMessage());
  }

  /** The raw local file system under another class: what tests use to inject faults. */
  public static final class CountingLocalFileSystem extends RawLocalFileSystem {
    static int opened;

    @Override
    public FSDataInputStream open(org.apache.hadoop.fs.Path f, int bufferSize) throws java.io.IOException {
      opened++;
      return super.open(f, bufferSize);
    }
  }

  @Test
  void otherLocalFileSystemClassesKeepTheirOwnStreams() throws Exception {
    byte[] want = new byte[900 * 1024 + 13];
    Path p = file(want);
    Configuration conf = new Configuration();
    conf.set("fs.file.impl", CountingLocalFileSystem.class.getName());
    conf.setBoolean("fs.file.impl.disable.cache", true);
    CountingLocalFileSystem.opened = 0;
    try (RangeReader in = HadoopInputFile.of(new org.apache.hadoop.fs.Path(p.toString()), conf, want.length).open()) {
      readsEveryRange(in, want);
    }
    assertEquals(1, CountingLocalFileSystem.opened, "read through the file system's own stream");
  }
}
