package io.sparticle.io;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.StandardOpenOption;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Options;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.statistics.IOStatistics;
import org.apache.hadoop.util.functional.FutureIO;

/**
 * An {@link InputFile} on any Hadoop FileSystem ({@code file:}, {@code hdfs:}, {@code s3a:}).
 *
 * <pre>{@code
 * InputFile in = HadoopInputFile.of(new Path("hdfs://nn/models/llama/model.safetensors"), conf);
 * }</pre>
 */
public final class HadoopInputFile implements InputFile {
  /** S3A's per-stream count of HTTP GET requests (Hadoop's StoreStatisticNames). */
  static final String GET_REQUESTS = "action_http_get_request";

  private final Path path;
  private final FileSystem fs;
  private long length = -1;

  private HadoopInputFile(Path path, FileSystem fs, long length) {
    this.path = path;
    this.fs = fs;
    this.length = length;
  }

  public static HadoopInputFile of(Path path, Configuration conf) throws IOException {
    return new HadoopInputFile(path, path.getFileSystem(conf), -1);
  }

  /** When the length is already known from a listing: saves a metadata request per file. */
  public static HadoopInputFile of(Path path, Configuration conf, long knownLength) throws IOException {
    return new HadoopInputFile(path, path.getFileSystem(conf), knownLength);
  }

  @Override
  public String path() {
    return path.toString();
  }

  @Override
  public long length() throws IOException {
    if (length < 0) {
      length = fs.getFileStatus(path).getLen();
    }
    return length;
  }

  /**
   * Opens for sequential reading of large ranges: Sparticle's tasks read their ranges in file
   * order, so object stores can serve each task with few long GETs instead of one per range. A
   * known length saves the store a metadata request.
   *
   * <p>Files of the stock local file system ({@code file:}) are read straight from a
   * {@link FileChannel}: its checksummed wrapper reads through {@code FileInputStream}, which
   * copies every read through a fresh native buffer of the read's size, and checks {@code .crc}
   * side files that only Hadoop's own writers leave (our inputs' integrity comes from their
   * headers, our outputs' from the manifest's CRC-32C). Local file systems of other classes (test
   * doubles that inject faults) keep their own streams.
   */
  @Override
  public RangeReader open() throws IOException {
    if (fs.getClass() == LocalFileSystem.class || fs.getClass() == RawLocalFileSystem.class) {
      java.nio.file.Path file = (fs instanceof LocalFileSystem local
          ? local.pathToFile(path) : ((RawLocalFileSystem) fs).pathToFile(path)).toPath();
      try {
        return new ChannelRangeReader(path.toString(), FileChannel.open(file, StandardOpenOption.READ));
      } catch (NoSuchFileException e) {
        // As Hadoop says it, so messages do not depend on the read path.
        throw new FileNotFoundException("File " + path + " does not exist");
      }
    }
    var builder = fs.openFile(path).opt(Options.OpenFileOptions.FS_OPTION_OPENFILE_READ_POLICY,
        Options.OpenFileOptions.FS_OPTION_OPENFILE_READ_POLICY_SEQUENTIAL);
    if (length >= 0) {
      builder.optLong(Options.OpenFileOptions.FS_OPTION_OPENFILE_LENGTH, length);
    }
    FSDataInputStream in = FutureIO.awaitFuture(builder.build());
    return new RangeReader() {
      private long bytes;

      @Override
      public void readFully(long position, byte[] buffer, int offset, int len) throws IOException {
        in.readFully(position, buffer, offset, len);
        bytes += len;
      }

      @Override
      public long bytesRead() {
        return bytes;
      }

      @Override
      public long requests() {
        IOStatistics stats = in.getIOStatistics();
        if (stats == null) {
          return -1;
        }
        Long gets = stats.counters().get(GET_REQUESTS);
        return gets == null ? -1 : gets;
      }

      @Override
      public void close() throws IOException {
        in.close();
      }
    };
  }
}
