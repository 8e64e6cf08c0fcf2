package io.sparticle.spark;

import io.sparticle.packing.BitPacking;
import io.sparticle.quant.Codebook;
import io.sparticle.quant.HalfFloats;
import io.sparticle.quant.ValueHistogram;
import io.sparticle.quant.ValueKind;
import java.util.SplittableRandom;
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
 * per invocation). Run: see the README's "Benchmarks" section.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g"})
public class KernelBenchmarks {
  static final int N = 1 << 20;

  @Param({"4"})
  int bits;

  byte[] raw;
  byte[] codes;
  byte[] packed;
  byte[] lut;

  @Setup
  public void setUp() {
    SplittableRandom rnd = new SplittableRandom(1);
    raw = new byte[2 * N];
    for (int i = 0; i < N; i++) {
      double u = rnd.nextDouble() - 0.5;
      short s = HalfFloats.floatToBf16((float) (-0.014 * Math.signum(u) * Math.log(1 - 2 * Math.abs(u))));
      raw[2 * i] = (byte) s;
      raw[2 * i + 1] = (byte) (s >>> 8);
    }
    float[] c = new float[1 << bits];
    for (int i = 0; i < c.length; i++) {
      c[i] = (i - c.length / 2f) * 0.01f;
    }
    lut = Codebook.of(c).lookupTable(ValueKind.BF16.float16Kind(), 1f);
    codes = new byte[N];
    codeLookup();
    packed = new byte[(int) BitPacking.bytesRequired(N, bits)];
    BitPacking.pack(codes, 0, N, bits, packed, 0);
  }

  @Benchmark
  @OperationsPerInvocation(N)
  public ValueHistogram histogram() {
    ValueHistogram.Accumulator acc = ValueHistogram.accumulator(ValueKind.BF16);
    acc.addLittleEndian(raw, 0, N);
    return acc.finish(0);
  }

  @Benchmark
  @OperationsPerInvocation(N)
  public byte[] codeLookup() {
    // The encode pass's inner loop for a shared codebook (TensorEncoder.encodeShared).
    byte[] table = lut;
    for (int i = 0, p = 0; i < N; i++, p += 2) {
      codes[i] = table[(raw[p] & 0xFF) | (raw[p + 1] & 0xFF) << 8];
    }
    return codes;
  }

  @Benchmark
  @OperationsPerInvocation(N)
  public byte[] pack() {
    BitPacking.pack(codes, 0, N, bits, packed, 0);
    return packed;
  }

  @Benchmark
  @OperationsPerInvocation(N)
  public byte[] unpack() {
    BitPacking.unpack(packed, 0, N, bits, codes, 0);
    return codes;
  }
}
