package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sparticle.quant.UnitLayout.Kind;
import org.junit.jupiter.api.Test;

class UnitLayoutTest {

  // ---- hand-made examples ----

  @Test
  void javadocExample() {
    UnitLayout rows = UnitLayout.channels(new long[] {1376, 512}, 0);
    assertEquals(new UnitLayout(Kind.ROWS, 1376L * 512, 512), rows);
    assertEquals(1376, rows.numUnits());
    assertEquals(1, rows.unitOf(1000));
  }

  @Test
  void rowsOfAThreeByFour() {
    UnitLayout rows = UnitLayout.channels(new long[] {3, 4}, 0);
    assertEquals(Kind.ROWS, rows.kind());
    assertEquals(12, rows.numel());
    assertEquals(4, rows.length());
    assertEquals(3, rows.numUnits());
    long[] expected = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2};
    for (int e = 0; e < 12; e++) {
      assertEquals(expected[e], rows.unitOf(e), "element " + e);
    }
    assertTrue(rows.contiguous());
    // Rank 3, axis 0: a unit is everything after the first index.
    UnitLayout r3 = UnitLayout.channels(new long[] {2, 3, 4}, 0);
    assertEquals(2, r3.numUnits());
    assertEquals(12, r3.length());
    assertEquals(1, r3.unitOf(12));
  }

  @Test
  void columnsOfAThreeByFour() {
    UnitLayout cols = UnitLayout.channels(new long[] {3, 4}, 1);
    assertEquals(new UnitLayout(Kind.COLUMNS, 12, 4), cols);
    assertEquals(4, cols.numUnits());
    long[] expected = {0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3};
    for (int e = 0; e < 12; e++) {
      assertEquals(expected[e], cols.unitOf(e), "element " + e);
    }
    assertFalse(cols.contiguous());
    // Rank 3, last axis.
    UnitLayout c3 = UnitLayout.channels(new long[] {2, 3, 5}, 2);
    assertEquals(5, c3.numUnits());
    assertEquals(3, c3.unitOf(28));
  }

  @Test
  void blocksWithAShortLastBlock() {
    UnitLayout blocks = UnitLayout.blocks(20, 8);
    assertEquals(3, blocks.numUnits());
    assertEquals(0, blocks.unitOf(7));
    assertEquals(1, blocks.unitOf(8));
    assertEquals(1, blocks.unitOf(15));
    assertEquals(2, blocks.unitOf(16));
    assertEquals(2, blocks.unitOf(19)); // the last block holds 4
    assertTrue(blocks.contiguous());
    assertEquals(2, UnitLayout.blocks(16, 8).numUnits());
    assertEquals(1, UnitLayout.blocks(3, 64).numUnits());
    assertEquals(0, UnitLayout.blocks(0, 64).numUnits());
  }

  @Test
  void wholeAndLowRankChannels() {
    UnitLayout whole = UnitLayout.whole(10);
    assertEquals(1, whole.numUnits());
    assertEquals(10, whole.length());
    assertEquals(0, whole.unitOf(9));
    assertTrue(whole.contiguous());
    // The length of a WHOLE layout is always numel.
    assertEquals(10, new UnitLayout(Kind.WHOLE, 10, 3).length());
    // Rank 1 and rank 0: one unit whatever the axis.
    assertEquals(UnitLayout.whole(7), UnitLayout.channels(new long[] {7}, 0));
    assertEquals(UnitLayout.whole(7), UnitLayout.channels(new long[] {7}, 5));
    assertEquals(UnitLayout.whole(1), UnitLayout.channels(new long[] {}, 0));
  }

  @Test
  void emptyTensors() {
    assertEquals(0, UnitLayout.channels(new long[] {0, 5}, 0).numUnits());
    assertEquals(0, UnitLayout.channels(new long[] {0, 5}, 1).numUnits());
    assertEquals(0, UnitLayout.channels(new long[] {5, 0}, 1).numUnits());
    assertEquals(0, UnitLayout.channels(new long[] {5, 0}, 0).numUnits());
  }

  // ---- error rules ----

  @Test
  void rejectsAMiddleAxis() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> UnitLayout.channels(new long[] {2, 3, 4}, 1));
    assertEquals("Cannot use channel axis 1 of a rank-3 tensor: must be 0 or 2", e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class, () -> UnitLayout.channels(new long[] {2, 3}, -1));
    assertEquals("Cannot use channel axis -1 of a rank-2 tensor: must be 0 or 1", e.getMessage());
  }

  @Test
  void rejectsInvalidLayouts() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> UnitLayout.blocks(10, 0));
    assertEquals("Invalid unit layout BLOCKS numel 10 length 0", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> UnitLayout.whole(-1));
    assertEquals("Invalid unit layout WHOLE numel -1 length -1", e.getMessage());
    assertThrows(
        ArithmeticException.class,
        () -> UnitLayout.channels(new long[] {1L << 40, 1L << 40}, 0));
  }
}
