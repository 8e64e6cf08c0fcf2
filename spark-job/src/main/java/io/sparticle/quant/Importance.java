package io.sparticle.quant;

import java.io.Serializable;
import java.util.Arrays;

/**
 * How much each weight of a tensor matters to the model's output: one value per input channel,
 * the mean squared activation that channel carries (the diagonal of the layer's input Hessian,
 * from calibration data or an importance file). A weight's squared error costs {@code
 * importance(channel) * error^2} of the layer's output error, so k-means fits weight every
 * weight's contribution by it.
 *
 * <p>Weights are numbered in row-major order of the tensor's shape; the input channels run along
 * one axis, so weight {@code e}'s channel is {@code (e / inner) % channels} with {@code inner} the
 * product of the dimensions after that axis.
 *
 * <pre>{@code
 * Importance imp = Importance.of(new float[] {0.5f, 2f}, new long[] {2, 3}, 0); // [in, out]
 * double w = imp.at(4);                                                      // channel 1: 2.0
 * }</pre>
 */
public final class Importance implements Serializable {
  private static final long serialVersionUID = 1L;

  /**
   * Lowest importance, relative to the tensor's mean (see {@link #scaled}): a channel the
   * calibration data never excited still counts a little, so its weights are not left to chance.
   */
  public static final double FLOOR = 1e-3;

  private final float[] channels;
  private final long inner;

  private Importance(float[] channels, long inner) {
    this.channels = channels;
    this.inner = inner;
  }

  /**
   * The importance of a tensor of {@code shape} whose input channels run along {@code axis}.
   *
   * @throws IllegalArgumentException if {@code channels} is not as long as that axis, or holds a
   *     negative or non-finite value
   */
  public static Importance of(float[] channels, long[] shape, int axis) {
    if (axis < 0 || axis >= shape.length) {
      throw new IllegalArgumentException(
          "axis " + axis + " is outside the shape " + Arrays.toString(shape));
    }
    if (channels.length != shape[axis]) {
      throw new IllegalArgumentException("it has " + channels.length + " values but the tensor of shape "
          + Arrays.toString(shape) + " has " + shape[axis] + " input channels (axis " + axis + ")");
    }
    for (int i = 0; i < channels.length; i++) {
      if (!(channels[i] >= 0) || !Float.isFinite(channels[i])) {
        throw new IllegalArgumentException("its value " + i + " is " + channels[i]
            + ": importance must be finite and non-negative");
      }
    }
    long inner = 1;
    for (int d = axis + 1; d < shape.length; d++) {
      inner *= shape[d];
    }
    return new Importance(channels.clone(), inner);
  }

  /** Input channels. */
  public int channels() {
    return channels.length;
  }

  /** The importance of channel {@code c}. */
  public float channel(int c) {
    return channels[c];
  }

  /** The importance of weight {@code e} (row-major index). */
  public float at(long e) {
    return channels[(int) ((e / inner) % channels.length)];
  }

  /** Weights per run of one channel in row-major order (1 when channels are the last axis). */
  public long inner() {
    return inner;
  }

  /** The sum of every weight's importance, for a tensor of {@code numel} weights. */
  public double total(long numel) {
    double s = 0;
    for (float c : channels) {
      s += c;
    }
    return s * (numel / channels.length);
  }

  /** Every channel times {@code factor}, then raised to at least {@link #FLOOR}. */
  public Importance scaled(double factor) {
    float[] c = new float[channels.length];
    for (int i = 0; i < c.length; i++) {
      c[i] = (float) Math.max(FLOOR, channels[i] * factor);
    }
    return new Importance(c, inner);
  }
}
