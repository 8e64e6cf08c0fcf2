package io.sparticle.io;

import java.io.IOException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;

/** The FileSystem to write through. */
public final class Storage {
  private Storage() {}

  /**
   * The path's FileSystem, except that {@code file:} paths get the raw local file system: the
   * checksummed one leaves hidden {@code .crc} files beside every output, which then break reads
   * of any file that is later replaced or edited by a tool that does not know them. Our own files
   * carry CRC-32C checksums in the manifest instead.
   */
  public static FileSystem forWriting(Path path, Configuration conf) throws IOException {
    FileSystem fs = path.getFileSystem(conf);
    return fs instanceof LocalFileSystem local ? local.getRawFileSystem() : fs;
  }
}
