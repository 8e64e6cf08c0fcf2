package io.sparticle.bench;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.ref.Reference;
import org.junit.jupiter.api.Test;

class HeapMeterTest {
  @Test
  void seesAnArrayThatIsLiveAcrossACollection() throws Exception {
    int size = 64 << 20;
    try (HeapMeter m = HeapMeter.start()) {
      byte[] big = new byte[size];
      System.gc();
      for (int i = 0; i < 200 && m.peakLiveBytes() < size; i++) {
        Thread.sleep(10); // GC notifications arrive on their own thread
      }
      assertTrue(m.peakLiveBytes() >= size, m.peakLiveBytes() + " live");
      assertTrue(m.peakUsedBytes() >= m.peakLiveBytes(), m.peakUsedBytes() + " used");
      assertTrue(m.peakUsedBytes() <= Runtime.getRuntime().maxMemory(), m.peakUsedBytes() + " used");
      Reference.reachabilityFence(big);
    }
  }
}
