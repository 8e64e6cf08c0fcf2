package io.sparticle.io;

import java.io.IOException;
import java.util.Locale;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;

/** How Sparticle treats the file systems it writes to. */
public final class Storage {
  private Storage() {}

  /**
   * Schemes of object stores: no atomic rename (a rename is a copy), but an object appears
   * atomically when its upload completes. Writers put bytes straight under the final name there.
   */
  public static final Set<String> OBJECT_STORE_SCHEMES =
      Set.of("s3a", "s3", "s3n", "gs", "oss", "cos", "cosn", "obs");

  public static boolean isObjectStore(FileSystem fs) {
    return OBJECT_STORE_SCHEMES.contains(String.valueOf(fs.getUri().getScheme()).toLowerCase(Locale.ROOT));
  }

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
