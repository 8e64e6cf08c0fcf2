package io.sparticle.bench;

import io.sparticle.packing.BitPacking;
import io.sparticle.quant.Codebook;
import io.sparticle.quant.HalfFloats;
import io.sparticle.quant.ValueHistogram;
import io.sparticle.quant.ValueKind;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * The per-weight kernels of the compress passes on one chunk of 1M BF16 weights: the histogram
 * pass's accumulator, the encode pass's code lookup for a shared codebook, and bit packing. The
 * JMH benchmarks ({@code KernelBenchmarks} in the tests module) and {@code sparticle bench}'s
 * kernel floor both call these methods, so the two measure the same code.
 *
 * <pre>{@code
 * Kernels.Timings t = new Kernels(4).time(7);   // best of 7 runs, ns per weight
 * double encodeFloorSeconds = (t.lookupNs() + t.packNs()) * params / cores / 1e9;
 * }</pre>
 */
public final class Kernels {
  /** Weights per call: one chunk. */
  public static final int N = 1 << 20;

  private final int bits;
  private final byte[] raw;
  private final byte[] codes;
  private final byte[] packed;
  private final byte[] lut;

  /** Laplace weights of a trained projection's scale, and a codebook of {@code 2^bits} entries. */
  public Kernels(int bits) {
    if (bits < 1 || bits > BitPacking.MAX_BITS_PER_VALUE) {
      throw new IllegalArgumentException("Cannot set bits to " + bits + ": must be between 1 and "
          + BitPacking.MAX_BITS_PER_VALUE);
    }
    this.bits = bits;
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

  /** The histogram pass: count every BF16 bit pattern of the chunk. */
  public ValueHistogram histogram() {
    ValueHistogram.Accumulator acc = ValueHistogram.accumulator(ValueKind.BF16);
    acc.addLittleEndian(raw, 0, N);
    return acc.finish(0);
  }

  /** The encode pass's inner loop for a shared codebook: one table lookup per weight. */
  public byte[] codeLookup() {
    byte[] table = lut;
    byte[] raw = this.raw;
    byte[] codes = this.codes;
    for (int i = 0, p = 0; i < N; i++, p += 2) {
      codes[i] = table[(raw[p] & 0xFF) | (raw[p + 1] & 0xFF) << 8];
    }
    return codes;
  }

  public byte[] pack() {
    BitPacking.pack(codes, 0, N, bits, packed, 0);
    return packed;
  }

  public byte[] unpack() {
    BitPacking.unpack(packed, 0, N, bits, codes, 0);
    return codes;
  }

  /** Nanoseconds per weight of each kernel on one core. */
  public record Timings(double histogramNs, double lookupNs, double packNs, double unpackNs) {
    /** The encode pass's per-weight work: a lookup and a pack. */
    public double encodeNs() {
      return lookupNs + packNs;
    }
  }

  /**
   * Times each kernel on this thread: a warm-up of about 0.5 s, then {@code runs} runs of a few
   * calls each, keeping the fastest run (the one least disturbed by other work on the machine).
   */
  public Timings time(int runs) {
    if (runs < 1) {
      throw new IllegalArgumentException("Cannot set runs to " + runs + ": must be at least 1");
    }
    return new Timings(best(this::histogram, runs), best(this::codeLookup, runs),
        best(this::pack, runs), best(this::unpack, runs));
  }

  /** A sink the JIT cannot prove unused. */
  private int sink;

  private double best(Supplier<Object> kernel, int runs) {
    long warm = System.nanoTime() + 500_000_000L;
    while (System.nanoTime() < warm) {
      sink += System.identityHashCode(kernel.get());
    }
    int calls = 5;
    double best = Double.MAX_VALUE;
    for (int r = 0; r < runs; r++) {
      long t0 = System.nanoTime();
      for (int c = 0; c < calls; c++) {
        sink += System.identityHashCode(kernel.get());
      }
      best = Math.min(best, (System.nanoTime() - t0) / (double) calls / N);
    }
    return best;
  }
}
