package io.sparticle.spark;

import io.sparticle.format.DType;
import io.sparticle.plan.JobConfig;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The same input and config give byte-identical output files. */
class DeterminismTest {
  @TempDir Path tmp;

  @Test
  void reRunWritesIdenticalFiles() throws Exception {
    Path model = Checkpoints.generate(tmp.resolve("model"), DType.BF16);
    JobConfig config = JobConfig.defaults().withBits(3).withOutputShardBytes(300 << 10);
    Path a = tmp.resolve("a");
    Path b = tmp.resolve("b");
    Sparticle.compress(SharedSpark.get()).input(model.toString()).output(a.toString()).config(config).execute();
    Sparticle.compress(SharedSpark.get()).input(model.toString()).output(b.toString()).config(config).execute();
    Checkpoints.assertSameOutput(a, b);
  }
}
