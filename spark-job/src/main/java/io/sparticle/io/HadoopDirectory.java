package io.sparticle.io;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/** A {@link Directory} on any Hadoop FileSystem ({@code file:}, {@code hdfs:}, {@code s3a:}). */
public final class HadoopDirectory implements Directory {
  private final Path dir;
  private final FileSystem fs;
  private final Configuration conf;

  private HadoopDirectory(Path dir, FileSystem fs, Configuration conf) {
    this.dir = dir;
    this.fs = fs;
    this.conf = conf;
  }

  /** The directory {@code path}, qualified with its file system's scheme and authority. */
  public static HadoopDirectory of(String path, Configuration conf) throws IOException {
    Path p = new Path(path);
    FileSystem fs = p.getFileSystem(conf);
    return new HadoopDirectory(fs.makeQualified(p), fs, conf);
  }

  @Override
  public String path() {
    return dir.toString();
  }

  @Override
  public String child(String name) {
    return new Path(dir, name).toString();
  }

  @Override
  public boolean exists() throws IOException {
    return fs.exists(dir);
  }

  @Override
  public boolean exists(String name) throws IOException {
    return fs.exists(new Path(dir, name));
  }

  @Override
  public long length(String name) throws IOException {
    try {
      return fs.getFileStatus(new Path(dir, name)).getLen();
    } catch (FileNotFoundException e) {
      return -1;
    }
  }

  @Override
  public InputFile file(String name, long length) throws IOException {
    return HadoopInputFile.of(new Path(dir, name), conf, length);
  }

  @Override
  public List<String> list() throws IOException {
    return list(dir);
  }

  @Override
  public List<String> list(String name) throws IOException {
    return list(new Path(dir, name));
  }

  private List<String> list(Path dir) throws IOException {
    List<String> out = new ArrayList<>();
    for (FileStatus st : fs.listStatus(dir)) {
      out.add(st.getPath().getName() + (st.isDirectory() ? "/" : ""));
    }
    return out;
  }
}
