package io.sparticle.packing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.sparticle.packing.EntropyCoder.Kind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class EntropyCoderTest {

  private static final int[] EXAMPLE = {0, 0, 1, 2, 0, 3, 0, 1};

  // ---- hand-made examples ----

  @Test
  void workedExamplesFromTheJavadoc() {
    byte[] huff = EntropyCoder.encodeSegment(Kind.HUFFMAN, 2, EXAMPLE, 0, EXAMPLE.length);
    assertArrayEquals(bytes(0x11, 0x01, 0x02, 0x03, 0x03, 0x02, 0x34, 0x17), huff);
    byte[] rans = EntropyCoder.encodeSegment(Kind.RANS, 2, EXAMPLE, 0, EXAMPLE.length);
    assertArrayEquals(
        bytes(0x12, 0x80, 0x80, 0x02, 0x80, 0x80, 0x01, 0x80, 0x40, 0x80, 0x40,
            0x00, 0x00, 0x01, 0x10, 0xe0, 0x44, 0x01, 0x01, 0x00),
        rans);
    for (Kind kind : Kind.values()) {
      byte[] seg = kind == Kind.RANS ? rans : huff;
      int[] out = new int[EXAMPLE.length];
      EntropyCoder.decodeSegment(kind, 2, seg, 0, seg.length, out.length, out, 0);
      assertArrayEquals(EXAMPLE, out);
    }
  }

  @Test
  void emptyAndSingleSymbolSegmentsHaveNoStream() {
    // tag, then one zero run over all 16 symbols
    assertArrayEquals(bytes(0x12, 0x00, 0x0F), EntropyCoder.encodeSegment(Kind.RANS, 4, new int[0], 0, 0));
    assertArrayEquals(bytes(0x11, 0x00, 0x0F), EntropyCoder.encodeSegment(Kind.HUFFMAN, 4, new int[0], 0, 0));
    int[] sevens = new int[1000];
    Arrays.fill(sevens, 7);
    // zeros 0..6, the symbol, zeros 8..15; rANS frequency 65536 = 80 80 04
    assertArrayEquals(bytes(0x12, 0x00, 0x06, 0x80, 0x80, 0x04, 0x00, 0x07),
        EntropyCoder.encodeSegment(Kind.RANS, 4, sevens, 0, 1000));
    assertArrayEquals(bytes(0x11, 0x00, 0x06, 0x01, 0x00, 0x07),
        EntropyCoder.encodeSegment(Kind.HUFFMAN, 4, sevens, 0, 1000));
    for (Kind kind : Kind.values()) {
      roundTrip(kind, 4, sevens, 0, 1000);
      roundTrip(kind, 4, new int[0], 0, 0);
      roundTrip(kind, 16, new int[] {65535}, 0, 1);
    }
  }

  @Test
  void sparseWideAlphabetHasASmallTable() {
    SplittableRandom r = new SplittableRandom(3);
    int[] codes = new int[100_000];
    int[] symbols = {0, 17, 40_000, 65_534, 65_535};
    for (int i = 0; i < codes.length; i++) {
      codes[i] = symbols[r.nextInt(symbols.length)];
    }
    for (Kind kind : Kind.values()) {
      byte[] seg = roundTrip(kind, 16, codes, 0, codes.length);
      int table = tableEnd(seg, 16) - 1;
      assertTrue(table <= 25, kind + " table of 5 used symbols takes " + table + " bytes");
    }
  }

  @Test
  void kindKeysAndParse() {
    assertEquals("huffman", Kind.HUFFMAN.key());
    assertEquals("rans", Kind.RANS.key());
    assertEquals(Kind.HUFFMAN, Kind.parse("huffman"));
    assertEquals(Kind.RANS, Kind.parse("rans"));
    assertNull(Kind.parse("none"));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Kind.parse("zstd"));
    assertEquals("Cannot set entropy to zstd: must be one of none, huffman, rans", e.getMessage());
  }

  @Test
  void segmentCodesAndParameters() {
    assertEquals(1 << 20, EntropyCoder.segmentCodes(1));
    assertEquals(1 << 20, EntropyCoder.segmentCodes(14));
    assertEquals(1 << 21, EntropyCoder.segmentCodes(15));
    assertEquals(1 << 22, EntropyCoder.segmentCodes(16));
    assertEquals(16, EntropyCoder.ransScaleBits(12));
    assertEquals(20, EntropyCoder.ransScaleBits(13));
    assertEquals(11, EntropyCoder.huffmanMaxLength(8));
    assertEquals(19, EntropyCoder.huffmanMaxLength(16));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> EntropyCoder.segmentCodes(17));
    assertEquals("Cannot segment with bits 17: must be between 1 and 16", e.getMessage());
  }

  @Test
  void entropyBits() {
    assertEquals(0, EntropyCoder.entropyBits(new long[0]));
    assertEquals(0, EntropyCoder.entropyBits(new long[] {0, 5, 0}));
    assertEquals(1, EntropyCoder.entropyBits(new long[] {3, 3}), 1e-12);
    assertEquals(1.75, EntropyCoder.entropyBits(new long[] {4, 2, 1, 1}), 1e-12);
    assertEquals(16, EntropyCoder.entropyBits(filled(65536, 7)), 1e-9);
    assertThrows(IllegalArgumentException.class, () -> EntropyCoder.entropyBits(new long[] {1, -1}));
  }

  @Test
  void quantizedFrequenciesSumToTheScaleAndKeepEveryUsedSymbol() {
    SplittableRandom r = new SplittableRandom(11);
    for (int bits : new int[] {1, 4, 8, 12, 13, 16}) {
      for (int trial = 0; trial < 5; trial++) {
        int k = 1 << bits;
        int[] counts = new int[k];
        int n = 0;
        int used = 0;
        for (int s = 0; s < k; s++) {
          if (r.nextInt(3) > 0) {
            counts[s] = 1 + (r.nextBoolean() ? r.nextInt(5) : r.nextInt(1_000_000));
            n += counts[s];
            used++;
          }
        }
        if (used == 0) {
          continue;
        }
        int scale = EntropyCoder.ransScaleBits(bits);
        int[] f = EntropyCoder.quantize(counts, n, used, scale);
        long sum = 0;
        for (int s = 0; s < k; s++) {
          assertEquals(counts[s] > 0, f[s] > 0, "symbol " + s);
          sum += f[s];
        }
        assertEquals(1L << scale, sum);
      }
    }
  }

  // ---- round trips ----

  @Test
  void roundTripsEveryWidthWithRandomDistributions() {
    SplittableRandom r = new SplittableRandom(42);
    for (int bits = 1; bits <= 16; bits++) {
      int k = 1 << bits;
      for (int trial = 0; trial < 6; trial++) {
        int n = switch (trial) {
          case 0 -> 1;
          case 1 -> 2;
          case 2 -> 3;
          default -> 1 + r.nextInt(20_000);
        };
        double[] p = randomDistribution(k, r);
        int[] codes = new int[n + 10];
        int[] body = sample(p, n, r);
        System.arraycopy(body, 0, codes, 5, n);
        for (Kind kind : Kind.values()) {
          roundTrip(kind, bits, codes, 5, n);
        }
      }
    }
  }

  @Test
  void roundTripsEdgeDistributions() {
    SplittableRandom r = new SplittableRandom(7);
    for (int bits : new int[] {1, 2, 4, 8, 12, 13, 16}) {
      int k = 1 << bits;
      // every symbol exactly equally often
      int[] equal = new int[k * 3];
      for (int i = 0; i < equal.length; i++) {
        equal[i] = i % k;
      }
      // all distinct, shuffled
      int[] distinct = new int[k];
      for (int i = 0; i < k; i++) {
        distinct[i] = i;
      }
      for (int i = k - 1; i > 0; i--) {
        int j = r.nextInt(i + 1);
        int t = distinct[i];
        distinct[i] = distinct[j];
        distinct[j] = t;
      }
      // extremely skewed: one symbol, then one each of a few others (long Huffman codes)
      int[] skewed = new int[200_000];
      for (int i = 0; i < 40 && i < k; i++) {
        skewed[r.nextInt(skewed.length)] = i;
      }
      // geometric: frequencies halve per symbol, so the optimal Huffman code is too long
      double[] geo = new double[k];
      for (int s = 0; s < k; s++) {
        geo[s] = Math.pow(0.5, Math.min(s, 60));
      }
      int[] geometric = sample(geo, 300_000, r);
      for (Kind kind : Kind.values()) {
        roundTrip(kind, bits, equal, 0, equal.length);
        roundTrip(kind, bits, distinct, 0, k);
        roundTrip(kind, bits, skewed, 0, skewed.length);
        roundTrip(kind, bits, geometric, 0, geometric.length);
        roundTrip(kind, bits, new int[] {k - 1, 0}, 0, 2);
      }
    }
  }

  @Test
  void roundTripsWideAlphabetDense() {
    SplittableRandom r = new SplittableRandom(5);
    int[] codes = new int[1 << 20];
    for (int i = 0; i < codes.length; i++) {
      // a bell over all 65536 symbols: every symbol used, long tails
      codes[i] = (int) Math.max(0, Math.min(65535, 32768 + r.nextGaussian() * 8000));
    }
    for (Kind kind : Kind.values()) {
      roundTrip(kind, 16, codes, 0, codes.length);
    }
  }

  @Test
  void encodingIsDeterministic() {
    SplittableRandom r = new SplittableRandom(9);
    int[] codes = sample(randomDistribution(256, r), 50_000, r);
    for (Kind kind : Kind.values()) {
      assertArrayEquals(EntropyCoder.encodeSegment(kind, 8, codes, 0, codes.length),
          EntropyCoder.encodeSegment(kind, 8, codes.clone(), 0, codes.length));
    }
  }

  // ---- size ----

  @Test
  void codedSizeIsCloseToTheEntropy() {
    SplittableRandom r = new SplittableRandom(2024);
    int n = 1 << 20;
    List<Object[]> cases = new ArrayList<>();
    cases.add(new Object[] {"gaussian-kmeans", 4, gaussianKmeans4(n, r)});
    cases.add(new Object[] {"pruned", 4, sample(pruned(), n, r)});
    cases.add(new Object[] {"laplace", 8, sample(laplace(256, 8), n, r)});
    cases.add(new Object[] {"uniform", 4, sample(filledD(16), n, r)});
    for (Object[] c : cases) {
      int bits = (int) c[1];
      int[] codes = (int[]) c[2];
      long[] counts = new long[1 << bits];
      for (int v : codes) {
        counts[v]++;
      }
      double h = EntropyCoder.entropyBits(counts);
      for (Kind kind : Kind.values()) {
        byte[] seg = roundTrip(kind, bits, codes, 0, n);
        double ideal = n * h / 8 + tableEnd(seg, bits);
        double overhead = seg.length / ideal - 1;
        double bound = kind == Kind.RANS ? 0.01 : 0.03;
        assertTrue(overhead <= bound, String.format("%s %s: %d bytes, ideal %.0f (H = %.4f bits), "
            + "overhead %.3f%% > %.0f%%", kind.key(), c[0], seg.length, ideal, h, overhead * 100,
            bound * 100));
      }
    }
    // a sanity check that the Gaussian case is the realistic one asked for
    long[] counts = new long[16];
    for (int v : (int[]) cases.get(0)[2]) {
      counts[v]++;
    }
    double h = EntropyCoder.entropyBits(counts);
    assertTrue(h > 3.6 && h < 3.9, "gaussian entropy " + h);
  }

  // ---- error rules ----

  @Test
  void rejectsCodesThatDoNotFit() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> EntropyCoder.encodeSegment(Kind.RANS, 4, new int[] {1, 2, 16, 3}, 0, 4));
    assertEquals("Cannot encode code 16 at index 2: must be between 0 and 15 for 4-bit codes",
        e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> EntropyCoder.encodeSegment(Kind.HUFFMAN, 1, new int[] {0, -1}, 0, 2));
    assertEquals("Cannot encode code -1 at index 1: must be between 0 and 1 for 1-bit codes",
        e.getMessage());
  }

  @Test
  void rejectsBadArguments() {
    assertMessage("Cannot encode with bits 0: must be between 1 and 16",
        () -> EntropyCoder.encodeSegment(Kind.RANS, 0, new int[1], 0, 1));
    assertMessage("Cannot decode with bits 17: must be between 1 and 16",
        () -> EntropyCoder.decodeSegment(Kind.RANS, 17, new byte[4], 0, 4, 1, new int[1], 0));
    assertMessage("Cannot encode range [2, 2 + 3) of codes: must fit in its length 4",
        () -> EntropyCoder.encodeSegment(Kind.RANS, 4, new int[4], 2, 3));
    assertMessage("Cannot decode range [0, 0 + 5) of buf: must fit in its length 4",
        () -> EntropyCoder.decodeSegment(Kind.RANS, 4, new byte[4], 0, 5, 1, new int[1], 0));
    assertMessage("Cannot decode range [0, 0 + 2) of out: must fit in its length 1",
        () -> EntropyCoder.decodeSegment(Kind.RANS, 4, new byte[4], 0, 4, 2, new int[1], 0));
    assertMessage("Cannot encode a segment: kind is null",
        () -> EntropyCoder.encodeSegment(null, 4, new int[1], 0, 1));
  }

  @Test
  void rejectsGarbageTables() {
    // frequencies 1 1 1 1 do not sum to 2^16
    assertCorrupt(Kind.RANS, 2, 4, bytes(0x12, 1, 1, 1, 1, 0, 0, 0x80, 0, 0, 0, 0x80, 0),
        "Cannot decode rans segment of 4 codes: frequencies sum to 4, must sum to 65536");
    // lengths 1 1 1: over-subscribed; 2 2 2: incomplete
    assertCorrupt(Kind.HUFFMAN, 2, 4, bytes(0x11, 1, 1, 1, 0, 0, 0xFF),
        "Cannot decode huffman segment of 4 codes: code lengths are not a complete prefix code: "
            + "Kraft sum is 3072/2^11, must be 1");
    assertCorrupt(Kind.HUFFMAN, 2, 4, bytes(0x11, 2, 2, 2, 0, 0, 0xFF),
        "Cannot decode huffman segment of 4 codes: code lengths are not a complete prefix code: "
            + "Kraft sum is 1536/2^11, must be 1");
    assertCorrupt(Kind.HUFFMAN, 2, 4, bytes(0x11, 1, 12, 0, 1),
        "Cannot decode huffman segment of 4 codes: table value 12 for symbol 1 exceeds the "
            + "longest code length 11");
    assertCorrupt(Kind.RANS, 2, 4, bytes(0x12, 0, 4),
        "Cannot decode rans segment of 4 codes: zero run of 5 symbols at symbol 0 passes the "
            + "alphabet size 4");
    assertCorrupt(Kind.RANS, 2, 4, bytes(0x12, 0x81, 0x00, 0, 2),
        "Cannot decode rans segment of 4 codes: table has an overlong varint at symbol 0");
    assertCorrupt(Kind.RANS, 2, 4, bytes(0x12, 0x81, 0x81, 0x81, 0x01),
        "Cannot decode rans segment of 4 codes: table has a varint longer than 3 bytes at symbol 0");
    assertCorrupt(Kind.RANS, 2, 4, bytes(0x12, 0x81, 0x80, 0x04, 0, 2),
        "Cannot decode rans segment of 4 codes: table value 65537 for symbol 0 exceeds the "
            + "total frequency 65536");
    // one used symbol with less than the whole frequency
    assertCorrupt(Kind.RANS, 2, 4, bytes(0x12, 0x80, 0x80, 0x02, 0, 2),
        "Cannot decode rans segment of 4 codes: the only used symbol 0 has frequency 32768, "
            + "must be 65536");
    // states outside [2^23, 2^31)
    assertCorrupt(Kind.RANS, 1, 2, bytes(0x12, 0x80, 0x80, 0x02, 0x80, 0x80, 0x02,
            0, 0, 0x80, 0, 0, 0, 0, 0x80),
        "Cannot decode rans segment of 2 codes: initial states 8388608, 2147483648 are outside "
            + "[2^23, 2^31)");
  }

  @Test
  void rejectsWrongTagsCountsAndTrailingBytes() {
    byte[] huff = EntropyCoder.encodeSegment(Kind.HUFFMAN, 2, EXAMPLE, 0, EXAMPLE.length);
    assertCorrupt(Kind.RANS, 2, 8, huff,
        "Cannot decode rans segment of 8 codes: tag is 0x11, expected 0x12 (rans, format 1)");
    assertCorrupt(Kind.HUFFMAN, 2, 8, new byte[0],
        "Cannot decode huffman segment of 8 codes: it is empty, a segment has at least a tag and a "
            + "table");
    assertCorrupt(Kind.HUFFMAN, 2, 8, Arrays.copyOf(huff, huff.length + 1),
        "Cannot decode huffman segment of 8 codes: 1 trailing bytes after the stream, expected none");
    byte[] rans = EntropyCoder.encodeSegment(Kind.RANS, 2, EXAMPLE, 0, EXAMPLE.length);
    assertCorrupt(Kind.RANS, 2, 8, Arrays.copyOf(rans, rans.length + 1),
        "Cannot decode rans segment of 8 codes: 1 trailing bytes after the stream, expected none");
    assertCorrupt(Kind.RANS, 2, 0, rans,
        "Cannot decode rans segment of 0 codes: table lists 4 used symbols, but the segment has 0 "
            + "codes (exactly one of them is 0)");
    byte[] empty = EntropyCoder.encodeSegment(Kind.RANS, 2, EXAMPLE, 0, 0);
    assertCorrupt(Kind.RANS, 2, 3, empty,
        "Cannot decode rans segment of 3 codes: table lists 0 used symbols, but the segment has 3 "
            + "codes (exactly one of them is 0)");
    int[] ones = {1, 1, 1};
    byte[] single = EntropyCoder.encodeSegment(Kind.HUFFMAN, 2, ones, 0, 3);
    assertCorrupt(Kind.HUFFMAN, 2, 3, Arrays.copyOf(single, single.length + 2),
        "Cannot decode huffman segment of 3 codes: 2 trailing bytes after the table, expected none");
    single[single.length - 3] = 2; // the length of symbol 1
    assertCorrupt(Kind.HUFFMAN, 2, 3, single,
        "Cannot decode huffman segment of 3 codes: the only used symbol 1 has length 2, must be 1");
    // a wrong code count is caught by the final states or the stream's length
    for (Kind kind : Kind.values()) {
      byte[] seg = kind == Kind.RANS ? rans : huff;
      assertThrows(IllegalArgumentException.class,
          () -> EntropyCoder.decodeSegment(kind, 2, seg, 0, seg.length, 7, new int[8], 0));
      assertThrows(IllegalArgumentException.class,
          () -> EntropyCoder.decodeSegment(kind, 2, seg, 0, seg.length, 9, new int[9], 0));
    }
  }

  @Test
  void rejectsEveryTruncation() {
    SplittableRandom r = new SplittableRandom(1);
    for (int bits : new int[] {1, 4, 8, 13}) {
      int[] codes = sample(randomDistribution(1 << bits, r), 3000, r);
      for (Kind kind : Kind.values()) {
        byte[] seg = EntropyCoder.encodeSegment(kind, bits, codes, 0, codes.length);
        // every cut; for 13 bits (a 2^20-slot table per try) every 17th in the middle
        for (int len = 0; len < seg.length;
            len += bits > 12 && len > 100 && len < seg.length - 100 ? 17 : 1) {
          int l = len;
          assertThrows(IllegalArgumentException.class, () -> EntropyCoder.decodeSegment(
              kind, bits, seg, 0, l, codes.length, new int[codes.length], 0), kind + " " + len);
        }
      }
    }
  }

  @Test
  void mutatedSegmentsDecodeOrThrowIllegalArgument() {
    SplittableRandom r = new SplittableRandom(99);
    int decoded = 0;
    int rejected = 0;
    for (int trial = 0; trial < 400; trial++) {
      int bits = 1 + r.nextInt(trial % 4 == 0 ? 16 : 8);
      int n = r.nextInt(600);
      int[] codes = sample(randomDistribution(1 << bits, r), n, r);
      Kind kind = Kind.values()[trial & 1];
      byte[] seg = EntropyCoder.encodeSegment(kind, bits, codes, 0, n);
      for (int m = 0; m < 60; m++) {
        byte[] bad = mutate(seg, r);
        // the segment sits inside a larger buffer: a read outside its range would be caught
        byte[] framed = new byte[bad.length + 16];
        System.arraycopy(bad, 0, framed, 8, bad.length);
        int[] out = new int[n + 2];
        out[0] = -7;
        out[n + 1] = -7;
        int nn = r.nextInt(8) == 0 ? Math.max(0, n + r.nextInt(3) - 1) : n;
        try {
          EntropyCoder.decodeSegment(kind, bits, framed, 8, bad.length, Math.min(nn, n), out, 1);
          decoded++;
        } catch (IllegalArgumentException e) {
          assertTrue(e.getMessage().startsWith("Cannot decode " + kind.key() + " segment of "),
              e.getMessage());
          rejected++;
        } catch (RuntimeException e) {
          fail("mutated " + kind + " segment threw " + e, e);
        }
        assertEquals(-7, out[0]);
        assertEquals(-7, out[n + 1]);
      }
    }
    assertTrue(rejected > decoded, rejected + " rejected, " + decoded + " decoded");
  }

  // ---- fixtures for the Python reader ----

  /**
   * Segments for python/tests/test_entropy.py. The committed files must equal what the encoder
   * writes now; regenerate with {@code -Dsparticle.entropy.fixtures=write}.
   */
  @Test
  void pythonFixturesMatchTheEncoder() throws IOException {
    Path dir = repoRoot().resolve("python/tests/fixtures/entropy");
    boolean write = "write".equals(System.getProperty("sparticle.entropy.fixtures"));
    SplittableRandom r = new SplittableRandom(77);
    StringBuilder json = new StringBuilder("[\n");
    List<Object[]> cases = new ArrayList<>();
    cases.add(new Object[] {"example", 2, EXAMPLE, 0});
    cases.add(new Object[] {"empty", 4, new int[0], 0});
    cases.add(new Object[] {"single", 4, filledI(500, 9), 0});
    cases.add(new Object[] {"one-code", 16, new int[] {40_000}, 0});
    cases.add(new Object[] {"bits1", 1, sample(new double[] {0.8, 0.2}, 3001, r), 0});
    cases.add(new Object[] {"gauss4", 4, gaussianKmeans4(5000, r), 0});
    cases.add(new Object[] {"pruned4", 4, sample(pruned(), 4000, r), 0});
    cases.add(new Object[] {"laplace8", 8, sample(laplace(256, 8), 5000, r), 0});
    cases.add(new Object[] {"geometric8", 8, sample(geometric(256), 5000, r), 0});
    cases.add(new Object[] {"dense13", 13, sample(laplace(8192, 900), 6000, r), 0});
    cases.add(new Object[] {"sparse16", 16, sampleSparse16(3000, r), 0});
    cases.add(new Object[] {"multi4", 4, gaussianKmeans4(2500, r), 1000});
    cases.add(new Object[] {"multi16", 16, sample(laplace(65536, 300), 2100, r), 700});
    int mismatches = 0;
    if (write) {
      Files.createDirectories(dir);
    }
    for (Object[] c : cases) {
      String name = (String) c[0];
      int bits = (int) c[1];
      int[] codes = (int[]) c[2];
      int segmentCodes = (int) c[3] == 0 ? Math.max(1, codes.length) : (int) c[3];
      ByteBuffer raw = ByteBuffer.allocate(codes.length * 2).order(ByteOrder.LITTLE_ENDIAN);
      for (int v : codes) {
        raw.putShort((short) v);
      }
      for (Kind kind : Kind.values()) {
        String file = name + "." + kind.key();
        StringBuilder ends = new StringBuilder();
        java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
        for (int start = 0; start < codes.length || start == 0; start += segmentCodes) {
          int len = Math.min(segmentCodes, codes.length - start);
          byte[] seg = roundTrip(kind, bits, codes, start, len);
          all.write(seg);
          ends.append(ends.length() == 0 ? "" : ", ").append(all.size());
          if (codes.length == 0) {
            break;
          }
        }
        json.append(String.format("  {\"name\": \"%s\", \"kind\": \"%s\", \"bits\": %d, \"n\": %d, "
                + "\"segment_codes\": %d, \"ends\": [%s], \"segments\": \"%s.bin\", "
                + "\"codes\": \"%s.u16\"},\n",
            file, kind.key(), bits, codes.length, segmentCodes, ends, file, name));
        mismatches += fixture(dir.resolve(file + ".bin"), all.toByteArray(), write);
      }
      mismatches += fixture(dir.resolve(name + ".u16"), raw.array(), write);
    }
    json.setLength(json.length() - 2);
    json.append("\n]\n");
    mismatches += fixture(dir.resolve("cases.json"), json.toString().getBytes(StandardCharsets.UTF_8),
        write);
    assertEquals(0, mismatches, mismatches + " fixture files in " + dir + " differ from the "
        + "encoder's output; regenerate with -Dsparticle.entropy.fixtures=write");
  }

  private static int fixture(Path file, byte[] content, boolean write) throws IOException {
    if (write) {
      Files.write(file, content);
      return 0;
    }
    return Files.isRegularFile(file) && Arrays.equals(Files.readAllBytes(file), content) ? 0 : 1;
  }

  private static Path repoRoot() {
    Path p = Path.of(System.getProperty("user.dir")).toAbsolutePath();
    while (p != null && !Files.isDirectory(p.resolve("python/tests"))) {
      p = p.getParent();
    }
    if (p == null) {
      fail("no python/tests above " + System.getProperty("user.dir"));
    }
    return p;
  }

  // ---- helpers ----

  /** Encodes, decodes into the middle of a guarded array, checks, and returns the segment. */
  static byte[] roundTrip(Kind kind, int bits, int[] codes, int off, int n) {
    byte[] seg = EntropyCoder.encodeSegment(kind, bits, codes, off, n);
    byte[] framed = new byte[seg.length + 6];
    System.arraycopy(seg, 0, framed, 3, seg.length);
    int[] out = new int[n + 4];
    Arrays.fill(out, -1);
    EntropyCoder.decodeSegment(kind, bits, framed, 3, seg.length, n, out, 2);
    assertEquals(-1, out[0]);
    assertEquals(-1, out[1]);
    assertEquals(-1, out[n + 2]);
    assertEquals(-1, out[n + 3]);
    assertArrayEquals(Arrays.copyOfRange(codes, off, off + n), Arrays.copyOfRange(out, 2, n + 2),
        kind + " " + bits + "-bit round trip of " + n + " codes");
    return seg;
  }

  /** The offset after the tag and the symbol table, parsed independently of the decoder. */
  static int tableEnd(byte[] seg, int bits) {
    int p = 1;
    for (int s = 0; s < 1 << bits; ) {
      int v = 0;
      for (int shift = 0; ; shift += 7) {
        int b = seg[p++];
        v |= (b & 0x7F) << shift;
        if (b >= 0) {
          break;
        }
      }
      if (v != 0) {
        s++;
      } else {
        int run = 0;
        for (int shift = 0; ; shift += 7) {
          int b = seg[p++];
          run |= (b & 0x7F) << shift;
          if (b >= 0) {
            break;
          }
        }
        s += run + 1;
      }
    }
    return p;
  }

  private static byte[] mutate(byte[] seg, SplittableRandom r) {
    byte[] b = seg.clone();
    switch (r.nextInt(5)) {
      case 0: // one bit
        if (b.length > 0) {
          int i = r.nextInt(b.length);
          b[i] ^= (byte) (1 << r.nextInt(8));
        }
        return b;
      case 1: // a few random bytes
        for (int j = 0; j < 1 + r.nextInt(4) && b.length > 0; j++) {
          b[r.nextInt(b.length)] = (byte) r.nextInt(256);
        }
        return b;
      case 2: // cut
        return Arrays.copyOf(b, r.nextInt(b.length + 1));
      case 3: // extend with garbage
        byte[] longer = Arrays.copyOf(b, b.length + 1 + r.nextInt(8));
        for (int i = b.length; i < longer.length; i++) {
          longer[i] = (byte) r.nextInt(256);
        }
        return longer;
      default: // a byte of the table (the first few bytes) set to a random value
        if (b.length > 1) {
          b[1 + r.nextInt(Math.min(b.length - 1, 6))] = (byte) r.nextInt(256);
        }
        return b;
    }
  }

  static double[] randomDistribution(int k, SplittableRandom r) {
    double[] p = new double[k];
    int shape = r.nextInt(4);
    for (int s = 0; s < k; s++) {
      if (shape == 0 && r.nextInt(4) != 0) {
        continue; // sparse
      }
      double u = r.nextDouble();
      p[s] = shape == 1 ? Math.pow(u, 6) : shape == 2 ? Math.exp(-s / (1.0 + r.nextInt(k))) : u;
    }
    if (Arrays.stream(p).sum() == 0) {
      p[r.nextInt(k)] = 1;
    }
    return p;
  }

  /** n draws from weights p (not necessarily normalized), by inverse CDF. */
  static int[] sample(double[] p, int n, SplittableRandom r) {
    double[] cdf = new double[p.length];
    double acc = 0;
    for (int s = 0; s < p.length; s++) {
      acc += p[s];
      cdf[s] = acc;
    }
    int[] out = new int[n];
    for (int i = 0; i < n; i++) {
      double u = r.nextDouble() * acc;
      int s = Arrays.binarySearch(cdf, u);
      s = s < 0 ? -s - 1 : s + 1;
      while (s >= p.length || p[s] == 0) { // u at the very top, or an empty symbol's bucket
        s = s >= p.length ? p.length - 1 : s;
        if (p[s] != 0) {
          break;
        }
        s--;
      }
      out[i] = s;
    }
    return out;
  }

  /** 4-bit codes of Gaussian weights by 16-level Lloyd-Max (k-means) thresholds. */
  static int[] gaussianKmeans4(int n, SplittableRandom r) {
    double[] c = new double[16];
    for (int j = 0; j < 16; j++) {
      c[j] = -2.5 + 5.0 * j / 15;
    }
    double[] train = new double[100_000];
    SplittableRandom tr = new SplittableRandom(12345);
    for (int i = 0; i < train.length; i++) {
      train[i] = tr.nextGaussian();
    }
    double[] t = new double[15];
    for (int iter = 0; iter < 60; iter++) {
      for (int j = 0; j < 15; j++) {
        t[j] = (c[j] + c[j + 1]) / 2;
      }
      double[] sum = new double[16];
      int[] cnt = new int[16];
      for (double x : train) {
        int j = cell(t, x);
        sum[j] += x;
        cnt[j]++;
      }
      for (int j = 0; j < 16; j++) {
        if (cnt[j] > 0) {
          c[j] = sum[j] / cnt[j];
        }
      }
    }
    int[] out = new int[n];
    for (int i = 0; i < n; i++) {
      out[i] = cell(t, r.nextGaussian());
    }
    return out;
  }

  private static int cell(double[] thresholds, double x) {
    int j = 0;
    while (j < thresholds.length && x >= thresholds[j]) {
      j++;
    }
    return j;
  }

  /** P(0) = 0.5, symbols 1..15 share the other half equally: a pruned layer's codes. */
  static double[] pruned() {
    double[] p = filledD(16);
    p[0] = 15;
    return p;
  }

  /** A discrete Laplacian centred in the alphabet with the given scale. */
  static double[] laplace(int k, double scale) {
    double[] p = new double[k];
    for (int s = 0; s < k; s++) {
      p[s] = Math.exp(-Math.abs(s - k / 2) / scale);
    }
    return p;
  }

  static double[] geometric(int k) {
    double[] p = new double[k];
    for (int s = 0; s < k; s++) {
      p[s] = Math.pow(0.6, s);
    }
    return p;
  }

  private static int[] sampleSparse16(int n, SplittableRandom r) {
    int[] symbols = {3, 1000, 1001, 30_000, 65_535};
    double[] w = {0.5, 0.2, 0.15, 0.1, 0.05};
    int[] idx = sample(w, n, r);
    for (int i = 0; i < n; i++) {
      idx[i] = symbols[idx[i]];
    }
    return idx;
  }

  private static double[] filledD(int k) {
    double[] p = new double[k];
    Arrays.fill(p, 1);
    return p;
  }

  private static int[] filledI(int n, int v) {
    int[] a = new int[n];
    Arrays.fill(a, v);
    return a;
  }

  private static long[] filled(int k, long v) {
    long[] a = new long[k];
    Arrays.fill(a, v);
    return a;
  }

  private static byte[] bytes(int... values) {
    byte[] b = new byte[values.length];
    for (int i = 0; i < values.length; i++) {
      b[i] = (byte) values[i];
    }
    return b;
  }

  private static void assertMessage(String expected, Runnable call) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
    assertEquals(expected, e.getMessage());
  }

  private static void assertCorrupt(Kind kind, int bits, int n, byte[] seg, String expected) {
    assertMessage(expected,
        () -> EntropyCoder.decodeSegment(kind, bits, seg, 0, seg.length, n, new int[n], 0));
  }
}
