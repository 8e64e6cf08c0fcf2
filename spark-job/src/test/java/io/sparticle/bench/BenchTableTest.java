package io.sparticle.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class BenchTableTest {
  @Test
  void alignsColumnsUnderAHeader() {
    String table = new BenchTable("Sparticle benchmark, small")
        .row("read floor", "0.01 s", "3,000 MB/s", "best of 2")
        .row("compress, end to end (job time)", "10.7 s", "103.1M params/s", null)
        .row("  histogram", "3.43 s", "32%", "floor 0.20 s")
        .row("groups, ratio, SQNR", null, null, "9 groups, 4.00x, 14.87 dB")
        .format();
    assertEquals("""
        Sparticle benchmark, small
                                           time  throughput       notes
        read floor                       0.01 s  3,000 MB/s       best of 2
        compress, end to end (job time)  10.7 s  103.1M params/s
          histogram                      3.43 s  32%              floor 0.20 s
        groups, ratio, SQNR                                       9 groups, 4.00x, 14.87 dB
        """, table);
  }

  @Test
  void formatsSecondsAndRates() {
    assertEquals("0.42 s", BenchTable.seconds(0.4249));
    assertEquals("9.99 s", BenchTable.seconds(9.99));
    assertEquals("10.7 s", BenchTable.seconds(10.66));
    assertEquals("1234 s", BenchTable.seconds(1234.4));
    assertEquals("-", BenchTable.seconds(Double.NaN));
    assertEquals("103.1M params/s", BenchTable.paramsPerSecond(1_104_218_112L, 10.71));
    assertEquals("6.2k params/s", BenchTable.paramsPerSecond(65_536, 10.5));
    assertEquals("1,534 MB/s", BenchTable.megabytesPerSecond(3_068_000_000L, 2.0));
  }
}
