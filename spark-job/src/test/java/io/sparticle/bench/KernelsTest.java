package io.sparticle.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class KernelsTest {
  @Test
  void kernelsComputeWhatTheyTime() {
    Kernels k = new Kernels(4);
    assertEquals(Kernels.N, k.histogram().totalCount());
    byte[] codes = k.codeLookup().clone();
    for (byte c : codes) {
      assertTrue(c >= 0 && c < 16, "code " + c);
    }
    k.pack();
    assertArrayEquals(codes, k.unpack());
  }

  @Test
  void timesEveryKernel() {
    Kernels.Timings t = new Kernels(4).time(1);
    for (double ns : new double[] {t.histogramNs(), t.lookupNs(), t.packNs(), t.unpackNs()}) {
      assertTrue(ns > 0 && ns < 1000, ns + " ns/weight");
    }
    assertEquals(t.lookupNs() + t.packNs(), t.encodeNs());
  }

  @Test
  void rejectsBadArguments() {
    assertEquals("Cannot set bits to 9: must be between 1 and 8",
        assertThrows(IllegalArgumentException.class, () -> new Kernels(9)).getMessage());
    assertEquals("Cannot set runs to 0: must be at least 1",
        assertThrows(IllegalArgumentException.class, () -> new Kernels(4).time(0)).getMessage());
  }
}
