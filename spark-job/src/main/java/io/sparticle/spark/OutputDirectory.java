package io.sparticle.spark;

import io.sparticle.format.CheckpointWriter;
import io.sparticle.io.OutputFile;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sparticle.io.Storage;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Output directory rules shared by compress and decompress. */
public final class OutputDirectory {
  public static final String SUCCESS = "_SUCCESS";
  /**
   * Written when a job starts writing an output and deleted just before {@code _SUCCESS}: it
   * names the job and its input, so that a re-run of the same command can recognise the leftovers
   * of its own killed run (see {@link #prepare}).
   */
  public static final String STARTED = "_STARTED";

  private static final Logger LOG = LoggerFactory.getLogger(OutputDirectory.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int MAX_MARKER_BYTES = 64 << 10;

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
     * After a failed job: if nothing but the {@code _STARTED} marker was written, removes it, and
     * the directory too if this job created it, so a job that failed before writing leaves
     * nothing behind. Anything more stays, marked, for a re-run to take over. Never throws: the
     * failure being reported matters more.
     */
    public void cleanUpAfterFailure() {
      try {
        FileSystem fs = path.getFileSystem(conf);
        FileStatus[] entries = fs.listStatus(path);
        if (entries.length == 1 && entries[0].getPath().getName().equals(STARTED)) {
          fs.delete(entries[0].getPath(), false);
          entries = fs.listStatus(path);
        }
        if (created && entries.length == 0) {
          fs.delete(path, false);
        }
      } catch (IOException | RuntimeException e) {
        // Leave it: without _SUCCESS no reader trusts it, and a re-run replaces it.
      }
    }
  }

  /**
   * Makes {@code output} an empty directory and marks it {@link #STARTED} by {@code job} (e.g.
   * "compress") of {@code input}. Refuses an output that is, contains or lies inside the input. A
   * non-empty output is refused unless
   *
   * <ul>
   *   <li>{@code overwrite}: the old {@code _SUCCESS} goes first, so no reader trusts a
   *       half-replaced result, then everything else; or
   *   <li>it is the incomplete output of the same job on the same input (a {@code _STARTED}
   *       marker that says so, and no {@code _SUCCESS}): a run that was killed. Nothing in it can
   *       be read as a result, so re-running the command replaces it without {@code --overwrite}.
   * </ul>
   */
  public static Prepared prepare(String job, String output, String input, boolean overwrite,
      Configuration conf) throws IOException {
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
        boolean committed = fs.exists(new Path(out, SUCCESS));
        if (!overwrite) {
          if (committed) {
            throw new OutputExistsException("Output " + output
                + " holds a committed result; pass --overwrite to replace it");
          }
          String startedBy = startedBy(fs, out);
          if (startedBy == null) {
            throw new OutputExistsException("Output " + output
                + " is not empty; pass --overwrite to replace it");
          }
          if (!startedBy.equals(describe(job, in))) {
            throw new OutputExistsException("Output " + output + " holds the incomplete output of "
                + startedBy + "; pass --overwrite to replace it");
          }
          LOG.warn("Output {} holds the incomplete output of an earlier run of this job ({}),"
              + " which did not finish: replacing it", output, startedBy);
        }
        if (committed) {
          fs.delete(new Path(out, SUCCESS), false);
        }
        for (FileStatus e : entries) {
          fs.delete(e.getPath(), true);
        }
      }
    } else if (!fs.mkdirs(out)) {
      throw new IOException("Could not create output directory " + output);
    } else {
      created = true;
    }
    ObjectNode marker = JSON.createObjectNode().put("job", job).put("input", in.toString());
    // Written in place, not through _temporary: a torn marker is merely unreadable, and then a
    // re-run asks for --overwrite instead of taking the directory over.
    try (java.io.OutputStream m = Storage.forWriting(out, conf).create(new Path(out, STARTED), true)) {
      m.write(JSON.writeValueAsBytes(marker));
    }
    return new Prepared(out, created, conf);
  }

  private static String describe(String job, Path input) {
    return job + " of " + input;
  }

  /** Who wrote the {@code _STARTED} marker ("compress of INPUT"), or null if none or unreadable. */
  private static String startedBy(FileSystem fs, Path out) throws IOException {
    Path marker = new Path(out, STARTED);
    if (!fs.exists(marker) || fs.getFileStatus(marker).getLen() > MAX_MARKER_BYTES) {
      return null;
    }
    JsonNode node;
    try (InputStream s = fs.open(marker)) {
      node = JSON.readTree(s.readAllBytes());
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      return null;
    }
    if (node == null || !node.path("job").isTextual() || !node.path("input").isTextual()) {
      return null;
    }
    return describe(node.get("job").asText(), new Path(node.get("input").asText()));
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
    fs.delete(new Path(out, STARTED), false);
    fs.create(new Path(out, SUCCESS), true).close();
  }

  /** Writes a small driver-side file (manifest, report, index) through a temp file. */
  static OutputFile.Committed writeSmall(Path out, String name, byte[] bytes, Configuration conf)
      throws IOException {
    return CheckpointWriter.writeSmall(PartWriter.file(out.toString(), name, conf), bytes);
  }
}
