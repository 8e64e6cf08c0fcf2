package io.sparticle.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.sparticle.quant.Importance;
import io.sparticle.quant.ValueHistogram;
import io.sparticle.quant.ValueKind;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import scala.Tuple2;

/**
 * One histogram task on slices larger than a read ({@code TensorDecoder.READ_BYTES}), so it counts
 * them piece by piece: the same histograms (counts, importance weights, sums) as one accumulator
 * over each slice's bytes at once, and every byte counted by the read meter.
 */
class HistogramTaskTest {
  @TempDir Path tmp;

  @Test
  void slicesReadPieceByPieceCountAsWhole() throws Exception {
    // A BF16 tensor [1200, 4000] (9.6 MB) and an F32 one [700, 4000] (11.2 MB), back to back.
    SplittableRandom r = new SplittableRandom(11);
    int bf16 = 1200 * 4000;
    int f32 = 700 * 4000;
    byte[] bytes = new byte[bf16 * 2 + f32 * 4];
    for (int i = 0; i < bf16; i++) {
      int bits = Float.floatToRawIntBits((float) (r.nextGaussian() * 0.02)) >>> 16;
      bytes[2 * i] = (byte) bits;
      bytes[2 * i + 1] = (byte) (bits >>> 8);
    }
    for (int i = 0; i < f32; i++) {
      int bits = Float.floatToRawIntBits((float) (r.nextGaussian() * 0.02));
      for (int b = 0; b < 4; b++) {
        bytes[bf16 * 2 + 4 * i + b] = (byte) (bits >>> (8 * b));
      }
    }
    Path file = tmp.resolve("model.bin");
    Files.write(file, bytes);
    float[] channels = new float[4000];
    for (int c = 0; c < channels.length; c++) {
      channels[c] = (float) r.nextDouble();
    }
    Importance importance = Importance.of(channels, new long[] {1200, 4000}, 1);
    // The BF16 tensor in two slices (the second starts mid-tensor), weighted by importance; the
    // F32 one whole, unweighted.
    long split = 1_000_003;
    List<HistogramPass.Slice> slices = List.of(
        new HistogramPass.Slice(0, "a", ValueKind.BF16, 0, split, 0, 0, 0, 0, importance, 1),
        new HistogramPass.Slice(0, "a", ValueKind.BF16, 2 * split, bf16 - split, split, 0, 0, 0,
            importance, 1),
        new HistogramPass.Slice(1, "b", ValueKind.F32, 2L * bf16, f32, 0, 0, 0, 0, null, 1));
    HistogramPass.Task task = new HistogramPass.Task(file.toString(), bytes.length, slices,
        f32 * 4);

    ReadMeter meter = new ReadMeter(JavaSparkContext.fromSparkContext(SharedSpark.get().sparkContext()));
    Map<Integer, ValueHistogram> got = new TreeMap<>();
    for (Tuple2<Integer, HistogramPass.Partial> t :
        HistogramPass.histograms(task, new SerializableConfiguration(new Configuration()), meter)) {
      got.put(t._1(), t._2().histogram());
    }
    assertEquals(bytes.length, meter.bytes(), "every byte counted once");

    ValueHistogram.Accumulator a = ValueHistogram.accumulator(ValueKind.BF16);
    a.addLittleEndian(bytes, 0, (int) split, importance, 0);
    a.addLittleEndian(bytes, (int) (2 * split), (int) (bf16 - split), importance, split);
    ValueHistogram.Accumulator b = ValueHistogram.accumulator(ValueKind.F32);
    b.addLittleEndian(bytes, 2 * bf16, f32);
    assertSame(a.finish(0), got.get(0));
    assertSame(b.finish(1), got.get(1));
  }

  private static void assertSame(ValueHistogram want, ValueHistogram got) {
    assertEquals(want.size(), got.size());
    assertEquals(want.totalCount(), got.totalCount());
    assertEquals(want.weighted(), got.weighted());
    assertEquals(want.rms(), got.rms(), "rms");
    for (int i = 0; i < want.size(); i++) {
      assertEquals(want.value(i), got.value(i), "value " + i);
      assertEquals(want.count(i), got.count(i), "count " + i);
      if (want.weighted()) {
        assertEquals(want.weight(i), got.weight(i), "weight " + i);
      }
    }
  }
}
