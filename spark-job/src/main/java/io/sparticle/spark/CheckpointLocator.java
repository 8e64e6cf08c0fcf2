package io.sparticle.spark;

import io.sparticle.format.CheckpointFormatException;
import io.sparticle.format.CheckpointFormatException.Reason;
import io.sparticle.format.SafetensorsHeader;
import io.sparticle.format.SafetensorsReader;
import io.sparticle.format.ShardIndex;
import io.sparticle.format.onnx.OnnxModel;
import io.sparticle.format.onnx.OnnxModelReader;
import io.sparticle.io.HadoopInputFile;
import io.sparticle.plan.SourceCheckpoint;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * Finds the files of an input checkpoint and reads and validates their headers (never tensor
 * data). Accepts a directory with {@code model.safetensors.index.json}, a directory with exactly
 * one {@code .safetensors} file, a {@code .safetensors} file, or an index file; and ONNX: a
 * {@code .onnx} file, or a directory with exactly one {@code .onnx} file and no safetensors
 * (external data files next to it).
 */
public final class CheckpointLocator {
  private CheckpointLocator() {}

  public static SourceCheckpoint read(String input, Configuration conf) throws IOException {
    Path path = new Path(input);
    FileSystem fs = path.getFileSystem(conf);
    FileStatus status;
    try {
      status = fs.getFileStatus(path);
    } catch (FileNotFoundException e) {
      throw new FileNotFoundException("Input " + input + " does not exist");
    }
    Path dir;
    Path indexPath = null;
    Path single = null;
    if (status.isDirectory()) {
      dir = status.getPath();
      Path idx = new Path(dir, ShardIndex.FILE_NAME);
      if (fs.exists(idx)) {
        indexPath = idx;
      } else {
        List<Path> found = new ArrayList<>();
        List<Path> onnx = new ArrayList<>();
        for (FileStatus s : fs.listStatus(dir)) {
          if (s.isFile() && s.getPath().getName().endsWith(".safetensors")) {
            found.add(s.getPath());
          } else if (s.isFile() && s.getPath().getName().endsWith(".onnx")) {
            onnx.add(s.getPath());
          }
        }
        if (found.isEmpty() && onnx.size() == 1) {
          return readOnnx(onnx.get(0), conf);
        }
        if (found.size() != 1) {
          throw new CheckpointFormatException(Reason.INVALID_INDEX, input, null,
              "found " + found.size() + " .safetensors files and no " + ShardIndex.FILE_NAME
                  + "; a checkpoint is one .safetensors file or shards listed by an index");
        }
        single = found.get(0);
      }
    } else {
      dir = status.getPath().getParent();
      if (status.getPath().getName().endsWith(".json")) {
        indexPath = status.getPath();
      } else if (status.getPath().getName().endsWith(".onnx")) {
        return readOnnx(status.getPath(), conf);
      } else {
        single = status.getPath();
      }
    }

    List<SourceCheckpoint.SourceFile> files = new ArrayList<>();
    if (single != null) {
      files.add(new SourceCheckpoint.SourceFile(single.getName(), readHeader(single, conf)));
      return new SourceCheckpoint(dir.toString(), files, null);
    }
    byte[] json;
    long indexLen = fs.getFileStatus(indexPath).getLen();
    if (indexLen > SafetensorsReader.MAX_HEADER_LENGTH) {
      throw new CheckpointFormatException(Reason.INVALID_INDEX, indexPath.toString(), null,
          "index file is " + indexLen + " bytes, over the limit of " + SafetensorsReader.MAX_HEADER_LENGTH);
    }
    try (InputStream in = fs.open(indexPath)) {
      json = in.readAllBytes();
    }
    ShardIndex index = ShardIndex.parse(indexPath.toString(), json);
    Map<String, SafetensorsHeader> headers = new LinkedHashMap<>();
    for (String shard : index.shardFiles()) {
      Path p = new Path(dir, shard);
      if (!fs.exists(p)) {
        continue; // checkAgainstShards names the missing shard
      }
      headers.put(shard, readHeader(p, conf));
    }
    ShardIndex.checkAgainstShards(index, headers);
    for (Map.Entry<String, SafetensorsHeader> e : headers.entrySet()) {
      files.add(new SourceCheckpoint.SourceFile(e.getKey(), e.getValue()));
    }
    // The index and the shards agree, so there are as many tensors as the index lists, which
    // ShardIndex.parse bounds.
    return new SourceCheckpoint(dir.toString(), files, index);
  }

  private static SourceCheckpoint readOnnx(Path model, Configuration conf) throws IOException {
    Path dir = model.getParent();
    OnnxModel m = OnnxModelReader.read(HadoopInputFile.of(model, conf),
        name -> HadoopInputFile.of(new Path(dir, name), conf));
    checkTensorCount(model.toString(), m.compressible().size(), "model has");
    return SourceCheckpoint.ofOnnx(dir.toString(), m);
  }

  /** Fails fast on more tensors than {@link SafetensorsReader#MAX_TENSORS}: see there why. */
  private static void checkTensorCount(String file, long count, String what)
      throws CheckpointFormatException {
    if (count > SafetensorsReader.MAX_TENSORS) {
      throw new CheckpointFormatException(Reason.TOO_MANY_TENSORS, file,
          what + " " + count + " tensors, more than the " + SafetensorsReader.MAX_TENSORS
              + " a checkpoint may hold");
    }
  }

  private static SafetensorsHeader readHeader(Path p, Configuration conf) throws IOException {
    return SafetensorsReader.readHeader(HadoopInputFile.of(p, conf));
  }
}
