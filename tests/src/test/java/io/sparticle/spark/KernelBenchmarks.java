package io.sparticle.spark;

import io.sparticle.bench.Kernels;
import io.sparticle.quant.ValueHistogram;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * JMH microbenchmarks of the per-weight kernels, in ns per weight (one chunk of 1M BF16 weights
 * per invocation). The kernels live in {@link Kernels}, which {@code sparticle bench} also times
 * for its kernel floor. Run: see the README's "Benchmarks" section.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g"})
public class KernelBenchmarks {
  @Param({"4"})
  int bits;

  Kernels kernels;

  @Setup
  public void setUp() {
    kernels = new Kernels(bits);
  }

  @Benchmark
  @OperationsPerInvocation(Kernels.N)
  public ValueHistogram histogram() {
    return kernels.histogram();
  }

  @Benchmark
  @OperationsPerInvocation(Kernels.N)
  public byte[] codeLookup() {
    return kernels.codeLookup();
  }

  @Benchmark
  @OperationsPerInvocation(Kernels.N)
  public byte[] pack() {
    return kernels.pack();
  }

  @Benchmark
  @OperationsPerInvocation(Kernels.N)
  public byte[] unpack() {
    return kernels.unpack();
  }
}
