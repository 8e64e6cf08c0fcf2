package io.sparticle.plan;

import io.sparticle.format.SafetensorsHeader;
import io.sparticle.format.ShardIndex;
import java.util.List;

/**
 * The headers of an input checkpoint: what planning needs, read without touching tensor data.
 *
 * @param directory the directory holding the files (a Hadoop path string)
 * @param files the safetensors files in shard order, with their validated headers
 * @param index the HF shard index, or null for a single-file checkpoint
 */
public record SourceCheckpoint(String directory, List<SourceFile> files, ShardIndex index) {
  public SourceCheckpoint {
    files = List.copyOf(files);
  }

  /** One safetensors file of the checkpoint. */
  public record SourceFile(String name, SafetensorsHeader header) {}

  public long totalBytes() {
    long total = 0;
    for (SourceFile f : files) {
      total = Math.addExact(total, f.header().fileLength());
    }
    return total;
  }
}
