package io.sparticle.quant;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Speed of {@link VqCodebook#encode} on each kernel: a table of ns per sub-vector and millions of
 * weights per second on one and two threads (each thread codes its own half of the data with the
 * one shared codebook), by the wall clock and by the threads' CPU time. Not a test: run it after {@code mvn -o -q -pl spark-job test-compile}
 * with
 *
 * <pre>{@code
 * java --add-modules jdk.incubator.vector \
 *     -cp spark-job/target/classes:spark-job/target/test-classes io.sparticle.quant.VqBench
 * }</pre>
 *
 * <p>The vector rows use the JVM's preferred width: add {@code -XX:UseAVX=2} to see AVX2 (8
 * lanes) on an AVX-512 machine. Data: Gaussian weights and Gaussian codewords. Each figure is the
 * best of a few rounds of at least {@value #ROUND_NANOS} ns after a warm-up; on a shared machine
 * the two-thread figures suffer most from other load.
 */
public final class VqBench {
  private static final long ROUND_NANOS = 300_000_000L;
  private static final int ROUNDS = 5;

  private VqBench() {}

  public static void main(String[] args) throws Exception {
    if (!VqCodebook.vectorAvailable()) {
      System.out.println("jdk.incubator.vector is absent: scalar rows only");
    }
    System.out.printf(Locale.ROOT, "%d cores, %s, vector lanes: %s%n",
        Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.version"),
        VqCodebook.vectorAvailable() ? VectorVqKernel.lanes() : "none");
    System.out.printf(Locale.ROOT, "load average at start: %.2f%n",
        ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
    // ns/subvec by the thread's CPU time (robust to other load) and by the wall clock; Mw/s =
    // millions of weights per second by the wall clock on 1 and 2 threads, and on 2 threads by
    // their CPU time (what 2 otherwise idle cores would give).
    System.out.printf(Locale.ROOT, "%2s %6s %-7s %8s %10s %10s %10s %10s %10s%n", "d", "k",
        "path", "n", "ns cpu", "ns wall", "Mw/s 1thr", "Mw/s 2thr", "2thr cpu");
    int[][] cases = {{2, 256, 1 << 18}, {4, 256, 1 << 18}, {8, 256, 1 << 17},
        {4, 4096, 1 << 14}, {8, 65536, 1 << 9}};
    for (int[] cs : cases) {
      int d = cs[0];
      int k = cs[1];
      int n = cs[2];
      SplittableRandom r = new SplittableRandom(7);
      float[] c = new float[k * d];
      for (int i = 0; i < c.length; i++) {
        c[i] = (float) r.nextGaussian();
      }
      float[] x = new float[n * d];
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) r.nextGaussian();
      }
      for (boolean vector : new boolean[] {true, false}) {
        if (vector && !VqCodebook.vectorAvailable()) {
          continue;
        }
        VqCodebook book = vector ? VqCodebook.vector(c, d) : VqCodebook.scalar(c, d);
        int[] codes = new int[n];
        Pass one = timePass(book, x, n, codes, 1);
        Pass two = timePass(book, x, n, codes, 2);
        double weights = n * (double) d;
        System.out.printf(Locale.ROOT, "%2d %6d %-7s %8d %10.1f %10.1f %10.2f %10.2f %10.2f%n",
            d, k, vector ? "vector" : "scalar", n, one.cpu * 1e9 / n, one.wall * 1e9 / n,
            weights / one.wall / 1e6, weights / two.wall / 1e6, 2 * weights / two.cpu / 1e6);
      }
    }
  }

  /** Wall seconds, and CPU seconds summed over the threads, of one pass over the data. */
  private record Pass(double wall, double cpu) {}

  /** The best pass of a few rounds: all n sub-vectors coded once, split over the threads. */
  private static Pass timePass(VqCodebook book, float[] x, int n, int[] codes, int threads)
      throws InterruptedException {
    ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    int d = book.dim();
    long[] cpu = new long[threads];
    Runnable[] parts = new Runnable[threads];
    for (int p = 0; p < threads; p++) {
      int from = (int) ((long) n * p / threads);
      int to = (int) ((long) n * (p + 1) / threads);
      int part = p;
      parts[p] = () -> {
        long start = mx.getCurrentThreadCpuTime();
        book.encode(x, from * d, to - from, codes, from);
        cpu[part] += mx.getCurrentThreadCpuTime() - start;
      };
    }
    double bestWall = Double.POSITIVE_INFINITY;
    double bestCpu = Double.POSITIVE_INFINITY;
    // The first round warms up (and is dropped).
    for (int round = 0; round <= ROUNDS; round++) {
      java.util.Arrays.fill(cpu, 0);
      long start = System.nanoTime();
      int passes = 0;
      do {
        Thread[] ts = new Thread[threads];
        for (int p = 0; p < threads; p++) {
          ts[p] = new Thread(parts[p]);
          ts[p].start();
        }
        for (Thread t : ts) {
          t.join();
        }
        passes++;
      } while (System.nanoTime() - start < ROUND_NANOS);
      long cpuSum = 0;
      for (long c : cpu) {
        cpuSum += c;
      }
      if (round > 0) {
        bestWall = Math.min(bestWall, (System.nanoTime() - start) / 1e9 / passes);
        bestCpu = Math.min(bestCpu, cpuSum / 1e9 / passes);
      }
    }
    return new Pass(bestWall, bestCpu);
  }
}
