package io.sparticle.quant;

import java.io.Serializable;
import java.util.Arrays;

/**
 * A deterministic sample of one tensor's blocks, drawn where the weights are read (the histogram
 * pass), from which the driver fits a block-scaled group's codebook. Block {@code b} is drawn
 * when a hash of (salt, b) is divisible by the stride, so the sample is spread over rows and
 * columns alike and is the same on every run; only blocks wholly inside one read slice are drawn.
 *
 * <pre>{@code
 * BlockSample s = new BlockSample(32);
 * if (BlockSample.selected(salt, b, stride)) s.add(b, weights, offset);
 * float[] v = s.merge(other).sortedValues();
 * }</pre>
 */
public final class BlockSample implements Serializable {
  private static final long serialVersionUID = 1L;

  private final int blockSize;
  private long[] ids = new long[16];
  private float[] values;
  private int n;

  public BlockSample(int blockSize) {
    this.blockSize = blockSize;
    this.values = new float[16 * blockSize];
  }

  public int blockSize() {
    return blockSize;
  }

  /** Number of blocks held. */
  public int size() {
    return n;
  }

  /** Whether block {@code block} of the tensor salted {@code salt} is drawn at {@code stride}. */
  public static boolean selected(long salt, long block, long stride) {
    if (stride <= 1) {
      return true;
    }
    long z = salt + block * 0x9E3779B97F4A7C15L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    z ^= z >>> 31;
    return Long.remainderUnsigned(z, stride) == 0;
  }

  /** Adds block {@code id}: weights {@code x[off, off + blockSize)}. */
  public void add(long id, float[] x, int off) {
    if (n == ids.length) {
      ids = Arrays.copyOf(ids, n * 2);
      values = Arrays.copyOf(values, n * 2 * blockSize);
    }
    ids[n] = id;
    System.arraycopy(x, off, values, n * blockSize, blockSize);
    n++;
  }

  /**
   * Adds block {@code id} gathered with a stride: weights {@code x[off + j * step]}, j below the
   * block size (a vq sub-vector along axis 0 of an ONNX {@code [in, out]} tensor).
   */
  public void addStrided(long id, float[] x, int off, int step) {
    if (n == ids.length) {
      ids = Arrays.copyOf(ids, n * 2);
      values = Arrays.copyOf(values, n * 2 * blockSize);
    }
    ids[n] = id;
    for (int j = 0; j < blockSize; j++) {
      values[n * blockSize + j] = x[off + j * step];
    }
    n++;
  }

  /** This sample with {@code other}'s blocks added (this one is changed and returned). */
  public BlockSample merge(BlockSample other) {
    for (int i = 0; i < other.n; i++) {
      add(other.ids[i], other.values, i * blockSize);
    }
    return this;
  }

  /** The blocks' ids, ascending: the order of {@link #sortedValues}. */
  public long[] sortedIds() {
    long[] out = Arrays.copyOf(ids, n);
    Arrays.sort(out);
    return out;
  }

  /** The blocks' weights, blocks in ascending id order: the same whatever order tasks merged in. */
  public float[] sortedValues() {
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> Long.compare(ids[a], ids[b]));
    float[] out = new float[n * blockSize];
    for (int i = 0; i < n; i++) {
      System.arraycopy(values, order[i] * blockSize, out, i * blockSize, blockSize);
    }
    return out;
  }
}
