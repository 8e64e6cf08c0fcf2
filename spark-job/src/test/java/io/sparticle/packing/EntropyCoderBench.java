package io.sparticle.packing;

import io.sparticle.packing.EntropyCoder.Kind;
import java.util.SplittableRandom;

/**
 * Prints the size and speed of {@link EntropyCoder} on one full segment per distribution. A
 * benchmark, not a test: run it by hand after {@code mvn -o -q -pl spark-job test-compile}:
 *
 * <pre>
 * java -cp spark-job/target/classes:spark-job/target/test-classes \
 *     io.sparticle.packing.EntropyCoderBench
 * </pre>
 *
 * <p>Columns: entropy of the segment's histogram and coded size in bits per code (table
 * included), the overhead of the latter over the former, encode and decode speed in millions of
 * codes per second on one thread, and decode speed with two threads each decoding its own copy of
 * the segment (aggregate). Each speed is the best of several timed rounds after a warm-up.
 */
public final class EntropyCoderBench {
  private static final int ROUNDS = 7;

  private EntropyCoderBench() {}

  public static void main(String[] args) throws InterruptedException {
    SplittableRandom r = new SplittableRandom(2024);
    Object[][] cases = {
      {"gaussian-kmeans", 4, null},
      {"pruned", 4, EntropyCoderTest.pruned()},
      {"uniform", 4, uniform(16)},
      {"laplace(8)", 8, EntropyCoderTest.laplace(256, 8)},
      {"uniform", 8, uniform(256)},
      {"laplace(40)", 12, EntropyCoderTest.laplace(4096, 40)},
      {"laplace(300)", 16, EntropyCoderTest.laplace(65536, 300)},
    };
    System.out.printf("%-8s %4s %-16s %8s %8s %9s %9s %9s %9s%n", "kind", "bits", "distribution",
        "H b/code", "coded", "overhead", "enc M/s", "dec M/s", "dec2 M/s");
    for (Object[] c : cases) {
      int bits = (int) c[1];
      int n = EntropyCoder.segmentCodes(bits);
      int[] codes = c[2] == null
          ? EntropyCoderTest.gaussianKmeans4(n, r)
          : EntropyCoderTest.sample((double[]) c[2], n, r);
      long[] counts = new long[1 << bits];
      for (int v : codes) {
        counts[v]++;
      }
      double h = EntropyCoder.entropyBits(counts);
      for (Kind kind : Kind.values()) {
        byte[] seg = EntropyCoder.encodeSegment(kind, bits, codes, 0, n);
        double coded = seg.length * 8.0 / n;
        double enc = best(() -> EntropyCoder.encodeSegment(kind, bits, codes, 0, n), n);
        int[] out = new int[n];
        double dec = best(
            () -> EntropyCoder.decodeSegment(kind, bits, seg, 0, seg.length, n, out, 0), n);
        double dec2 = twoThreads(kind, bits, seg, n);
        System.out.printf("%-8s %4d %-16s %8.4f %8.4f %8.2f%% %9.1f %9.1f %9.1f%n", kind.key(),
            bits, c[0], h, coded, (coded / h - 1) * 100, enc, dec, dec2);
      }
    }
  }

  /** Millions of codes per second of the best round. */
  private static double best(Runnable work, int n) {
    for (int i = 0; i < 3; i++) {
      work.run();
    }
    long bestNs = Long.MAX_VALUE;
    for (int i = 0; i < ROUNDS; i++) {
      long t0 = System.nanoTime();
      work.run();
      bestNs = Math.min(bestNs, System.nanoTime() - t0);
    }
    return n * 1e3 / bestNs;
  }

  private static double twoThreads(Kind kind, int bits, byte[] seg, int n)
      throws InterruptedException {
    byte[][] segs = {seg.clone(), seg.clone()};
    int[][] outs = {new int[n], new int[n]};
    long bestNs = Long.MAX_VALUE;
    for (int round = 0; round < ROUNDS + 2; round++) {
      Thread[] threads = new Thread[2];
      for (int t = 0; t < 2; t++) {
        int id = t;
        threads[t] = new Thread(() -> {
          for (int rep = 0; rep < 3; rep++) {
            EntropyCoder.decodeSegment(
                kind, bits, segs[id], 0, segs[id].length, n, outs[id], 0);
          }
        });
      }
      long t0 = System.nanoTime();
      for (Thread th : threads) {
        th.start();
      }
      for (Thread th : threads) {
        th.join();
      }
      bestNs = Math.min(bestNs, System.nanoTime() - t0);
    }
    return 2 * 3 * (double) n * 1e3 / bestNs;
  }

  private static double[] uniform(int k) {
    double[] p = new double[k];
    java.util.Arrays.fill(p, 1);
    return p;
  }
}
