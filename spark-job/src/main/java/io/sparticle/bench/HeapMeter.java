package io.sparticle.bench;

import com.sun.management.GarbageCollectionNotificationInfo;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.lang.management.MemoryUsage;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import javax.management.ListenerNotFoundException;
import javax.management.Notification;
import javax.management.NotificationEmitter;
import javax.management.NotificationListener;
import javax.management.openmbean.CompositeData;

/**
 * The heap a piece of work used in this JVM: the most it held at once (sampled every 10 ms,
 * garbage included) and the most still live after a collection (what it needed). Summing each
 * pool's own peak, as {@code MemoryPoolMXBean.getPeakUsage} gives them, overstates the peak: the
 * pools peak at different times, and the sum can exceed the maximum heap.
 *
 * <pre>{@code
 * try (HeapMeter m = HeapMeter.start()) {
 *   job.execute();
 *   System.out.println(m.peakUsedBytes() + " " + m.peakLiveBytes());
 * }
 * }</pre>
 */
public final class HeapMeter implements AutoCloseable {
  private final AtomicLong peakUsed = new AtomicLong();
  private final AtomicLong peakLive = new AtomicLong();
  private final Thread sampler;
  private final List<NotificationEmitter> emitters = new ArrayList<>();
  private final NotificationListener listener = this::onCollection;
  private final Set<String> heapPools = new HashSet<>();
  private volatile boolean running = true;

  private HeapMeter() {
    for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
      if (pool.getType() == MemoryType.HEAP) {
        heapPools.add(pool.getName());
      }
    }
    sample();
    sampler = new Thread(() -> {
      while (running) {
        sample();
        try {
          Thread.sleep(10);
        } catch (InterruptedException e) {
          return;
        }
      }
    }, "sparticle-heap-meter");
    sampler.setDaemon(true);
  }

  public static HeapMeter start() {
    HeapMeter m = new HeapMeter();
    for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
      if (gc instanceof NotificationEmitter e) {
        e.addNotificationListener(m.listener, null, null);
        m.emitters.add(e);
      }
    }
    m.sampler.start();
    return m;
  }

  private void sample() {
    peakUsed.accumulateAndGet(ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed(), Math::max);
  }

  private void onCollection(Notification n, Object handback) {
    if (!GarbageCollectionNotificationInfo.GARBAGE_COLLECTION_NOTIFICATION.equals(n.getType())) {
      return;
    }
    GarbageCollectionNotificationInfo info =
        GarbageCollectionNotificationInfo.from((CompositeData) n.getUserData());
    peakUsed.accumulateAndGet(heapBytes(info.getGcInfo().getMemoryUsageBeforeGc()), Math::max);
    peakLive.accumulateAndGet(heapBytes(info.getGcInfo().getMemoryUsageAfterGc()), Math::max);
  }

  /** The heap pools' usage summed (the maps also hold metaspace and the code cache). */
  private long heapBytes(Map<String, MemoryUsage> byPool) {
    long sum = 0;
    for (Map.Entry<String, MemoryUsage> e : byPool.entrySet()) {
      if (heapPools.contains(e.getKey())) {
        sum += e.getValue().getUsed();
      }
    }
    return sum;
  }

  /** The most heap in use at once, garbage included. */
  public long peakUsedBytes() {
    sample();
    return peakUsed.get();
  }

  /** The most heap still in use after a collection; 0 if none ran. */
  public long peakLiveBytes() {
    return peakLive.get();
  }

  @Override
  public void close() {
    running = false;
    sampler.interrupt();
    for (NotificationEmitter e : emitters) {
      try {
        e.removeNotificationListener(listener);
      } catch (ListenerNotFoundException ignored) {
        // already gone
      }
    }
  }
}
