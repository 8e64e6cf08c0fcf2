package io.sparticle.quant;

import java.io.Serializable;

/**
 * A mutable accumulator of reconstruction error: how far quantized weights are from the
 * originals. Partial results from tasks combine with {@link #merge}; not thread-safe.
 *
 * <p>Definitions, with e = original - reconstructed over every value added (each weighted by its
 * count):
 *
 * <ul>
 *   <li>{@code sumSquaredError} = sum e^2, {@code sumSquaredSignal} = sum original^2;
 *   <li>{@code mse} = sumSquaredError / count, NaN when empty;
 *   <li>{@code sqnrDb} = 10 log10(sumSquaredSignal / sumSquaredError): +Infinity when the error
 *       is 0 and the signal is not; -Infinity when the signal is 0 and the error is not; NaN when
 *       both are 0 (including when empty);
 *   <li>{@code maxAbsError} = max |e|, 0 when empty;
 *   <li>{@code outputError} = sum importance * e^2 over the values added with an importance
 *       ({@link #addOutputError}): the error as the layer's output sees it, with calibration.
 * </ul>
 *
 * <p>A NaN in the inputs propagates to the sums and to {@code maxAbsError}; callers reject
 * non-finite weights before quantizing, so that never happens in the job.
 *
 * <pre>{@code
 * ErrorStats stats = new ErrorStats();
 * for (int i = 0; i < n; i++) {
 *   stats.add(weights[i], codebook.centroid(codes[i]) * scale);
 * }
 * double db = stats.sqnrDb();
 * }</pre>
 */
public final class ErrorStats implements Serializable {
  private static final long serialVersionUID = 1L;

  private long count;
  private double sumSquaredError;
  private double sumSquaredSignal;
  private double maxAbsError;
  private double outputError;

  /** An empty accumulator. */
  public ErrorStats() {}

  /** Adds one value and its reconstruction. */
  public void add(double original, double reconstructed) {
    double e = original - reconstructed;
    count++;
    sumSquaredError += e * e;
    sumSquaredSignal += original * original;
    maxAbsError = Math.max(maxAbsError, Math.abs(e));
  }

  /**
   * Adds {@code original[off + i]} and its reconstruction {@code reconstructed[roff + i]} for i in
   * {@code [0, n)}, in order: the same totals, bit for bit, as n calls of {@link #add}, without
   * storing them back between values.
   */
  public void addAll(float[] original, int off, float[] reconstructed, int roff, int n) {
    double sse = sumSquaredError;
    double sss = sumSquaredSignal;
    double max = maxAbsError;
    for (int i = 0; i < n; i++) {
      double x = original[off + i];
      double e = x - reconstructed[roff + i];
      sse += e * e;
      sss += x * x;
      max = Math.max(max, Math.abs(e));
    }
    count += n;
    sumSquaredError = sse;
    sumSquaredSignal = sss;
    maxAbsError = max;
  }

  /**
   * Adds {@code count} copies of one value and its reconstruction (a histogram bin).
   *
   * @throws IllegalArgumentException if {@code count} is negative
   */
  public void addWeighted(double original, double reconstructed, long count) {
    if (count < 0) {
      throw new IllegalArgumentException(
          "Cannot add a value " + count + " times: count must not be negative");
    }
    if (count == 0) {
      return;
    }
    double e = original - reconstructed;
    this.count = Math.addExact(this.count, count);
    sumSquaredError += e * e * count;
    sumSquaredSignal += original * original * count;
    maxAbsError = Math.max(maxAbsError, Math.abs(e));
  }

  /**
   * Adds {@code importance * (original - reconstructed)^2} to the output error, for a value that
   * is also {@link #add}ed (or in a bin {@link #addWeighted}, the bin's summed importance).
   */
  public void addOutputError(double importance, double original, double reconstructed) {
    double e = original - reconstructed;
    outputError += importance * e * e;
  }

  /** Sum of importance times squared error (0 unless {@link #addOutputError} was called). */
  public double outputError() {
    return outputError;
  }

  /** Adds everything {@code other} has accumulated to this; {@code other} is unchanged. */
  public void merge(ErrorStats other) {
    count = Math.addExact(count, other.count);
    sumSquaredError += other.sumSquaredError;
    sumSquaredSignal += other.sumSquaredSignal;
    maxAbsError = Math.max(maxAbsError, other.maxAbsError);
    outputError += other.outputError;
  }

  /** The number of values added. */
  public long count() {
    return count;
  }

  /** Sum of squared errors. */
  public double sumSquaredError() {
    return sumSquaredError;
  }

  /** Sum of squared original values. */
  public double sumSquaredSignal() {
    return sumSquaredSignal;
  }

  /** The largest absolute error, 0 when empty. */
  public double maxAbsError() {
    return maxAbsError;
  }

  /** Mean squared error; NaN when empty. */
  public double mse() {
    return count == 0 ? Double.NaN : sumSquaredError / count;
  }

  /** Signal-to-quantization-noise ratio in decibels; see the class comment for the edge cases. */
  public double sqnrDb() {
    if (sumSquaredError == 0) {
      return sumSquaredSignal > 0 ? Double.POSITIVE_INFINITY : Double.NaN;
    }
    return 10 * Math.log10(sumSquaredSignal / sumSquaredError);
  }

  @Override
  public String toString() {
    return "ErrorStats{count="
        + count
        + ", mse="
        + mse()
        + ", maxAbsError="
        + maxAbsError
        + ", sqnrDb="
        + sqnrDb()
        + "}";
  }
}
