package io.sparticle.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class CodebookPrecisionTest {

  // ---- hand-made examples ----

  @Test
  void parse() {
    assertSame(CodebookPrecision.F32, CodebookPrecision.parse("F32"));
    assertSame(CodebookPrecision.F16, CodebookPrecision.parse("f16"));
    assertSame(CodebookPrecision.BF16, CodebookPrecision.parse("BF16"));
    assertSame(CodebookPrecision.BF16, CodebookPrecision.parse(" bf16 "));
    CodebookPrecision s = CodebookPrecision.parse("step:0.01");
    assertTrue(s.isStep());
    assertEquals("step", s.kind());
    assertEquals(0.01f, s.step());
    assertEquals(2, s.byteSize());
    assertEquals(CodebookPrecision.step(0.01f), s);
    assertEquals(CodebookPrecision.step(0.01f).hashCode(), s.hashCode());
    assertEquals(s, CodebookPrecision.parse("STEP: 0.01"));
    assertNotEquals(s, CodebookPrecision.parse("step:0.02"));
    assertNotEquals(CodebookPrecision.F16, CodebookPrecision.BF16);
    assertFalse(CodebookPrecision.F16.isStep());
    assertEquals(0f, CodebookPrecision.F16.step());
    assertEquals(4, CodebookPrecision.F32.byteSize());
    assertEquals(2, CodebookPrecision.F16.byteSize());
    assertEquals(2, CodebookPrecision.BF16.byteSize());
  }

  @Test
  void nameRoundTripsThroughParse() {
    assertEquals("F32", CodebookPrecision.F32.name());
    assertEquals("BF16", CodebookPrecision.BF16.toString());
    assertEquals("step:0.01", CodebookPrecision.step(0.01f).name());
    assertEquals("step:1.0E-4", CodebookPrecision.step(1e-4f).name());
    for (CodebookPrecision p : new CodebookPrecision[] {
        CodebookPrecision.F32, CodebookPrecision.F16, CodebookPrecision.BF16,
        CodebookPrecision.step(0.01f), CodebookPrecision.step(1e-4f),
        CodebookPrecision.step(0.3f), CodebookPrecision.step(Float.MIN_VALUE),
        CodebookPrecision.step(Float.MAX_VALUE)}) {
      assertEquals(p, CodebookPrecision.parse(p.name()), p.name());
    }
  }

  @Test
  void floatPrecisionsRound() {
    assertEquals(0.1f, CodebookPrecision.F32.round(0.1f));
    assertEquals(HalfFloats.f16ToFloat((short) 0x2E66), CodebookPrecision.F16.round(0.1f));
    assertEquals(HalfFloats.bf16ToFloat((short) 0x3DCD), CodebookPrecision.BF16.round(0.1f));
    assertEquals(Float.POSITIVE_INFINITY, CodebookPrecision.F16.round(70000f));
  }

  @Test
  void stepRoundingIsFloat32OfMTimesQ() {
    CodebookPrecision p = CodebookPrecision.step(0.01f);
    // 0.123 / 0.01 = 12.3 -> m = 12; the value is float32(12) * 0.01f, one float multiply.
    assertEquals(12f * 0.01f, p.round(0.123f));
    assertEquals(Float.floatToIntBits(12f * 0.01f), Float.floatToIntBits(p.fromSteps(12)));
    assertEquals(12, p.toSteps(p.round(0.123f)));
    assertEquals(-5f * 0.01f, p.round(-0.0512f));
    assertEquals(0f, p.round(0.004f));
    SplittableRandom random = new SplittableRandom(3);
    for (int i = 0; i < 100_000; i++) {
      float q = (float) Math.pow(10, -6 + 6 * random.nextDouble());
      CodebookPrecision s = CodebookPrecision.step(q);
      float x = (float) ((random.nextDouble() * 2 - 1) * q * 32767);
      long m = Math.round((double) x / q); // ties never happen for these random values
      assertEquals(Float.floatToIntBits((float) m * q), Float.floatToIntBits(s.round(x)),
          "x=" + x + " q=" + q);
    }
  }

  @Test
  void stepTiesGoToEven() {
    CodebookPrecision p = CodebookPrecision.step(0.25f);
    assertEquals(0.5f, p.round(0.375f)); // 1.5 steps -> 2
    assertEquals(0.5f, p.round(0.625f)); // 2.5 steps -> 2
    assertEquals(1.0f, p.round(0.875f)); // 3.5 steps -> 4
    assertEquals(-0.5f, p.round(-0.375f));
    assertEquals(0f, p.round(0.125f)); // 0.5 steps -> 0
  }

  @Test
  void stepsBeyond32767GiveInfinity() {
    CodebookPrecision p = CodebookPrecision.step(1f);
    assertEquals(32767f, p.round(32767f));
    assertEquals(32767f, p.round(32767.4f));
    assertEquals(-32767f, p.round(-32767.4f));
    assertEquals(Float.POSITIVE_INFINITY, p.round(32767.5f)); // rounds to 32768 (even)
    assertEquals(Float.POSITIVE_INFINITY, p.round(40000f));
    assertEquals(Float.NEGATIVE_INFINITY, p.round(-32768f));
    assertEquals(32767, CodebookPrecision.MAX_STEPS);

    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Codebook.of(new float[] {1f, 40000f}).roundTo(p));
    assertEquals("Cannot round centroid 40000.0 to step:1.0: out of range", e.getMessage());
  }

  @Test
  void codebookRoundToAStep() {
    Codebook book = Codebook.of(new float[] {0.123f, -0.0512f, 0.004f});
    CodebookPrecision p = CodebookPrecision.parse("step:0.01");
    assertArrayEquals(new float[] {-5f * 0.01f, 0f, 12f * 0.01f}, book.roundTo(p).centroids());
    // F32 given as a parsed value is still the identity.
    assertSame(book, book.roundTo(CodebookPrecision.parse("f32")));
  }

  @Test
  void toStepsInvertsFromStepsOnTheWholeGrid() {
    for (float q : new float[] {0.01f, 1e-4f, 0.3f, 7e-45f, 1f}) {
      CodebookPrecision p = CodebookPrecision.step(q);
      for (int m = -CodebookPrecision.MAX_STEPS; m <= CodebookPrecision.MAX_STEPS; m++) {
        float v = p.fromSteps(m);
        if (p.toSteps(v) != m || p.round(v) != v) {
          throw new AssertionError("q=" + q + " m=" + m + " v=" + v);
        }
      }
    }
  }

  @Test
  void javaSerializationKeepsEquality() throws Exception {
    for (CodebookPrecision p : new CodebookPrecision[] {
        CodebookPrecision.F32, CodebookPrecision.F16, CodebookPrecision.BF16}) {
      assertSame(p, roundTrip(p));
    }
    CodebookPrecision s = CodebookPrecision.step(0.01f);
    CodebookPrecision back = roundTrip(s);
    assertNotSame(s, back);
    assertEquals(s, back);
    assertEquals(0.01f, back.step());
  }

  private static CodebookPrecision roundTrip(CodebookPrecision p) throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(p);
    }
    try (ObjectInputStream in =
        new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
      return (CodebookPrecision) in.readObject();
    }
  }

  // ---- error rules ----

  @Test
  void badStrings() {
    for (String s : new String[] {"F64", "", "step", "fp16"}) {
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> CodebookPrecision.parse(s));
      assertEquals("Cannot set codebook-precision to " + s
          + ": must be one of F32, F16, BF16, step:Q", e.getMessage());
    }
    for (String s : new String[] {"step:abc", "step:", "step:0.01x"}) {
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> CodebookPrecision.parse(s));
      assertEquals("Cannot set codebook-precision to " + s
          + ": step:Q needs a number Q, e.g. step:0.01", e.getMessage());
    }
    String[][] bad = {
      {"step:0", "step:0.0"}, {"step:-1", "step:-1.0"}, {"step:NaN", "step:NaN"},
      {"step:1e39", "step:Infinity"}, {"step:1e-50", "step:0.0"}
    };
    for (String[] b : bad) {
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> CodebookPrecision.parse(b[0]));
      assertEquals("Cannot set codebook-precision to " + b[1]
          + ": the step must be finite and positive", e.getMessage());
    }
  }
}
