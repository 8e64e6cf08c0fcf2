package io.sparticle.io;

import java.io.IOException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * An {@link InputFile} on any Hadoop FileSystem ({@code file:}, {@code hdfs:}, {@code s3a:}).
 *
 * <pre>{@code
 * InputFile in = HadoopInputFile.of(new Path("hdfs://nn/models/llama/model.safetensors"), conf);
 * }</pre>
 */
public final class HadoopInputFile implements InputFile {
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

  @Override
  public RangeReader open() throws IOException {
    FSDataInputStream in = fs.open(path);
    return new RangeReader() {
      @Override
      public void readFully(long position, byte[] buffer, int offset, int len) throws IOException {
        in.readFully(position, buffer, offset, len);
      }

      @Override
      public void close() throws IOException {
        in.close();
      }
    };
  }
}
