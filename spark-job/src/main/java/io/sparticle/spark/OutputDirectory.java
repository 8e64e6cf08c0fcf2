package io.sparticle.spark;

import io.sparticle.io.Storage;
import java.io.IOException;
import java.net.URI;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/** Output directory rules shared by compress and decompress. */
public final class OutputDirectory {
  public static final String SUCCESS = "_SUCCESS";

  private OutputDirectory() {}

  /** Thrown when the output holds files and --overwrite was not given: a usage error. */
  public static final class OutputExistsException extends IllegalArgumentException {
    OutputExistsException(String message) {
      super(message);
    }
  }

  /**
   * The directory {@link #prepare} made ready, and whether it created it.
   */
  public record Prepared(Path path, boolean created, Configuration conf) {
    /**
     * After a failed job: removes the directory if this job created it and nothing was written
     * into it, so a job that failed before writing leaves nothing behind. Never throws: the
     * failure being reported matters more.
     */
    public void removeIfCreatedAndEmpty() {
      if (!created) {
        return;
      }
      try {
        FileSystem fs = path.getFileSystem(conf);
        if (fs.listStatus(path).length == 0) {
          fs.delete(path, false);
        }
      } catch (IOException | RuntimeException e) {
        // Leave it: an empty directory holds no _SUCCESS, so no reader trusts it.
      }
    }
  }

  /**
   * Makes {@code output} an empty directory. Refuses an output that is, contains or lies inside
   * the input; refuses a non-empty output unless {@code overwrite}, and then removes the old
   * {@code _SUCCESS} before anything else so no reader trusts a half-replaced result.
   */
  public static Prepared prepare(String output, String input, boolean overwrite, Configuration conf)
      throws IOException {
    Path out = new Path(output);
    FileSystem fs = out.getFileSystem(conf);
    out = fs.makeQualified(out);
    Path in = new Path(input);
    in = in.getFileSystem(conf).makeQualified(in);
    if (related(out, in)) {
      throw new IllegalArgumentException("Output " + output + " overlaps the input " + input
          + ": choose an output directory outside the input");
    }
    boolean created = false;
    if (fs.exists(out)) {
      FileStatus st = fs.getFileStatus(out);
      if (!st.isDirectory()) {
        throw new OutputExistsException("Output " + output + " exists and is a file");
      }
      FileStatus[] entries = fs.listStatus(out);
      if (entries.length > 0) {
        if (!overwrite) {
          boolean committed = fs.exists(new Path(out, SUCCESS));
          throw new OutputExistsException("Output " + output + " is not empty"
              + (committed ? " (it holds a committed result)" : "")
              + "; pass --overwrite to replace it");
        }
        fs.delete(new Path(out, SUCCESS), false);
        for (FileStatus e : entries) {
          fs.delete(e.getPath(), true);
        }
      }
    } else if (!fs.mkdirs(out)) {
      throw new IOException("Could not create output directory " + output);
    } else {
      created = true;
    }
    return new Prepared(out, created, conf);
  }

  private static boolean related(Path a, Path b) {
    URI ua = a.toUri();
    URI ub = b.toUri();
    if (!String.valueOf(ua.getScheme()).equals(String.valueOf(ub.getScheme()))
        || !String.valueOf(ua.getAuthority()).equals(String.valueOf(ub.getAuthority()))) {
      return false;
    }
    String pa = ua.getPath().endsWith("/") ? ua.getPath() : ua.getPath() + "/";
    String pb = ub.getPath().endsWith("/") ? ub.getPath() : ub.getPath() + "/";
    return pa.startsWith(pb) || pb.startsWith(pa);
  }

  /** Writes the empty {@code _SUCCESS} marker: the very last step of a job. */
  static void markSuccess(Path out, Configuration conf) throws IOException {
    FileSystem fs = Storage.forWriting(out, conf);
    fs.delete(new Path(out, PartWriter.TEMP_DIR), true);
    fs.create(new Path(out, SUCCESS), true).close();
  }

  /** Writes a small driver-side file (manifest, report, index) through a temp file. */
  static PartWriter.Committed writeSmall(Path out, String name, byte[] bytes, Configuration conf)
      throws IOException {
    try (PartWriter w = PartWriter.open(out.toString(), name, conf)) {
      w.write(bytes, 0, bytes.length);
      return w.commit(bytes.length);
    }
  }
}
