package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ErrorStatsTest {

  @Test
  void handMadeExample() {
    ErrorStats stats = new ErrorStats();
    stats.add(1.0, 0.5);
    stats.add(-2.0, -2.0);
    assertEquals(2, stats.count());
    assertEquals(0.25, stats.sumSquaredError());
    assertEquals(5.0, stats.sumSquaredSignal());
    assertEquals(0.5, stats.maxAbsError());
    assertEquals(0.125, stats.mse());
    assertEquals(10 * Math.log10(20), stats.sqnrDb(), 1e-12); // 13.0103 dB
  }

  @Test
  void edgeCases() {
    ErrorStats empty = new ErrorStats();
    assertEquals(0, empty.count());
    assertEquals(0.0, empty.maxAbsError());
    assertTrue(Double.isNaN(empty.mse()));
    assertTrue(Double.isNaN(empty.sqnrDb()));

    ErrorStats exact = new ErrorStats();
    exact.add(3, 3);
    assertEquals(Double.POSITIVE_INFINITY, exact.sqnrDb());
    assertEquals(0.0, exact.mse());

    ErrorStats zeros = new ErrorStats();
    zeros.add(0, 0);
    assertTrue(Double.isNaN(zeros.sqnrDb()));

    ErrorStats noSignal = new ErrorStats();
    noSignal.add(0, 1);
    assertEquals(Double.NEGATIVE_INFINITY, noSignal.sqnrDb());
  }

  @Test
  void rejectsNegativeCounts() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> new ErrorStats().addWeighted(1, 2, -3));
    assertEquals("Cannot add a value -3 times: count must not be negative", e.getMessage());
  }

  @Test
  void weightedAddAndMergeAgreeWithPlainAdds() {
    SplittableRandom random = new SplittableRandom(5);
    ErrorStats plain = new ErrorStats();
    ErrorStats weighted = new ErrorStats();
    ErrorStats left = new ErrorStats();
    ErrorStats right = new ErrorStats();
    for (int i = 0; i < 1000; i++) {
      double x = random.nextGaussian();
      double y = x + random.nextGaussian() * 0.01;
      int count = random.nextInt(4);
      for (int c = 0; c < count; c++) {
        plain.add(x, y);
        (i % 2 == 0 ? left : right).add(x, y);
      }
      weighted.addWeighted(x, y, count);
    }
    left.merge(right);
    for (ErrorStats other : new ErrorStats[] {weighted, left}) {
      assertEquals(plain.count(), other.count());
      double sse = plain.sumSquaredError();
      double signal = plain.sumSquaredSignal();
      assertEquals(sse, other.sumSquaredError(), 1e-12 * sse);
      assertEquals(signal, other.sumSquaredSignal(), 1e-12 * signal);
      assertEquals(plain.maxAbsError(), other.maxAbsError());
      assertEquals(plain.sqnrDb(), other.sqnrDb(), 1e-9);
    }
  }

  @Test
  void addAllEqualsPlainAddsBitForBit() {
    SplittableRandom random = new SplittableRandom(9);
    float[] x = new float[1003];
    float[] y = new float[x.length];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) random.nextGaussian();
      y[i] = x[i] + (float) (random.nextGaussian() * 0.01);
    }
    ErrorStats plain = new ErrorStats();
    ErrorStats bulk = new ErrorStats();
    plain.add(2, 1);
    bulk.add(2, 1);
    for (int i = 3; i < 1000; i++) {
      plain.add(x[i], y[i - 2]);
    }
    bulk.addAll(x, 3, y, 1, 500);
    bulk.addAll(x, 503, y, 501, 497);
    assertEquals(plain.count(), bulk.count());
    assertEquals(plain.sumSquaredError(), bulk.sumSquaredError(), 0.0);
    assertEquals(plain.sumSquaredSignal(), bulk.sumSquaredSignal(), 0.0);
    assertEquals(plain.maxAbsError(), bulk.maxAbsError(), 0.0);
  }

  @Test
  void serializes() throws Exception {
    ErrorStats stats = new ErrorStats();
    stats.add(1.5, 1.25);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(stats);
    }
    ErrorStats back;
    try (ObjectInputStream in =
        new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
      back = (ErrorStats) in.readObject();
    }
    assertEquals(stats.toString(), back.toString());
  }
}
