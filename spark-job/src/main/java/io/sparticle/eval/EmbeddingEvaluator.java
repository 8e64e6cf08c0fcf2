package io.sparticle.eval;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Compares an original and a compressed sentence-embedding ONNX model: both embed the same
 * sentences (tokenized once with the model's {@code tokenizer.json}, run in ONNX Runtime on the
 * CPU), and {@link EvaluationResult} says how closely the embeddings agree.
 *
 * <pre>{@code
 * try (EmbeddingEvaluator evaluator = EmbeddingEvaluator.builder()
 *     .tokenizer(Path.of("model/tokenizer.json"))
 *     .pooling(Pooling.MEAN)
 *     .build()) {
 *   EvaluationResult r = evaluator.evaluate(
 *       Path.of("model/model.onnx"), Path.of("model-4bit/model.onnx"), Sentences.load(null));
 *   System.out.println(r.withBits(4).toJson());
 * }
 * }</pre>
 *
 * <p>A model takes int64 {@code input_ids}, and {@code attention_mask} and {@code token_type_ids}
 * if it declares them (token types are all 0: one segment); no other input. Its first output is
 * the last hidden state, float {@code [batch, tokens, hidden]}. Sentences run in batches, each
 * padded to its longest sentence; embeddings are pooled, then L2-normalized.
 *
 * <p>Both ONNX Runtime and the DJL tokenizer extract the native libraries bundled in their jars
 * (ONNX Runtime to a temp directory, DJL to {@code ~/.djl.ai/tokenizers}, or {@code
 * DJL_CACHE_DIR}): nothing is downloaded. DJL would download a CUDA build of its tokenizer
 * library on a machine with a GPU, so unless {@code RUST_FLAVOR} is set (environment or system
 * property) {@link Builder#build} sets the system property {@code RUST_FLAVOR=cpu}, the bundled
 * build, before the first tokenizer loads.
 */
public final class EmbeddingEvaluator implements AutoCloseable {
  public static final int DEFAULT_BATCH_SIZE = 32;
  public static final int MAX_BATCH_SIZE = 4096;

  static final String INPUT_IDS = "input_ids";
  static final String ATTENTION_MASK = "attention_mask";
  static final String TOKEN_TYPE_IDS = "token_type_ids";
  private static final String RUST_FLAVOR = "RUST_FLAVOR";

  private final HuggingFaceTokenizer tokenizer;
  private final Path tokenizerPath;
  private final Pooling pooling;
  private final int batchSize;

  private EmbeddingEvaluator(
      HuggingFaceTokenizer tokenizer, Path tokenizerPath, Pooling pooling, int batchSize) {
    this.tokenizer = tokenizer;
    this.tokenizerPath = tokenizerPath;
    this.pooling = pooling;
    this.batchSize = batchSize;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Options of an {@link EmbeddingEvaluator}; {@link #tokenizer} is required. */
  public static final class Builder {
    private Path tokenizer;
    private Pooling pooling = Pooling.MEAN;
    private int batchSize = DEFAULT_BATCH_SIZE;

    private Builder() {}

    /** The model's {@code tokenizer.json} (Hugging Face tokenizers format). Required. */
    public Builder tokenizer(Path tokenizerJson) {
      if (tokenizerJson == null) {
        throw new IllegalArgumentException("tokenizer must not be null");
      }
      this.tokenizer = tokenizerJson;
      return this;
    }

    /** How token vectors become a sentence embedding. Default {@link Pooling#MEAN}. */
    public Builder pooling(Pooling pooling) {
      if (pooling == null) {
        throw new IllegalArgumentException("pooling must not be null");
      }
      this.pooling = pooling;
      return this;
    }

    /** Sentences per model run, 1..4096. Default 32. */
    public Builder batchSize(int batchSize) {
      if (batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
        throw new IllegalArgumentException(
            "Cannot set batch size to " + batchSize + ": must be between 1 and " + MAX_BATCH_SIZE);
      }
      this.batchSize = batchSize;
      return this;
    }

    /**
     * Loads the tokenizer.
     *
     * @throws IOException if the tokenizer file is missing or not a valid {@code tokenizer.json}
     */
    public EmbeddingEvaluator build() throws IOException {
      if (tokenizer == null) {
        throw new IllegalStateException("tokenizer is required");
      }
      if (!Files.isRegularFile(tokenizer)) {
        throw new IOException("Tokenizer file " + tokenizer + " does not exist");
      }
      useBundledTokenizerLibrary();
      HuggingFaceTokenizer t;
      try {
        t = HuggingFaceTokenizer.newInstance(tokenizer);
      } catch (RuntimeException e) {
        // The native library reports a malformed file as a RuntimeException.
        throw new IOException("Cannot load tokenizer " + tokenizer + ": " + e.getMessage(), e);
      }
      return new EmbeddingEvaluator(t, tokenizer, pooling, batchSize);
    }
  }

  /** DJL reads {@code RUST_FLAVOR} from the environment, then from the system properties. */
  private static synchronized void useBundledTokenizerLibrary() {
    if (System.getenv(RUST_FLAVOR) == null && System.getProperty(RUST_FLAVOR) == null) {
      System.setProperty(RUST_FLAVOR, "cpu");
    }
  }

  public Pooling pooling() {
    return pooling;
  }

  public int batchSize() {
    return batchSize;
  }

  /**
   * Embeds {@code sentences} with both models and compares the embeddings.
   *
   * @throws IOException if a model cannot be loaded or run, has inputs or an output this class
   *     does not support, or gives a non-finite embedding
   */
  public EvaluationResult evaluate(Path original, Path compressed, List<String> sentences)
      throws IOException {
    return onNativeStack(() -> {
      List<Batch> batches = tokenize(sentences);
      double[][] a = embedBatches(original, batches);
      double[][] b = embedBatches(compressed, batches);
      return compare(a, b, pooling);
    });
  }

  /** L2-normalized embeddings of {@code sentences} under {@code model}, one row a sentence. */
  public double[][] embed(Path model, List<String> sentences) throws IOException {
    return onNativeStack(() -> embedBatches(model, tokenize(sentences)));
  }

  /**
   * How fast a model loads and runs: {@code loadSeconds} to create its ONNX Runtime session
   * (default options, so the time a runnable compressed model takes to compute its weights is in
   * it), {@code msPerSentence} the mean time of one sentence run alone (after one warm-up run),
   * and the L2-normalized embeddings of those runs.
   */
  public record Timing(double loadSeconds, double msPerSentence, double[][] embeddings) {}

  /** Loads {@code model} and embeds each sentence alone, timing both (see {@link Timing}). */
  public Timing time(Path model, List<String> sentences) throws IOException {
    return onNativeStack(() -> {
      if (!Files.isRegularFile(model)) {
        throw new IOException("Model file " + model + " does not exist");
      }
      List<Batch> singles = tokenize(sentences, 1);
      double[][] out = new double[singles.size()][];
      OrtEnvironment env = OrtEnvironment.getEnvironment();
      long t0 = System.nanoTime();
      try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
          OrtSession session = env.createSession(model.toString(), options)) {
        double load = (System.nanoTime() - t0) / 1e9;
        Signature sig = Signature.of(model, session);
        run(model, env, session, sig, singles.get(0), out);
        long t1 = System.nanoTime();
        for (Batch batch : singles) {
          run(model, env, session, sig, batch, out);
        }
        double ms = (System.nanoTime() - t1) / 1e6 / singles.size();
        return new Timing(load, ms, out);
      } catch (OrtException e) {
        throw new IOException("Cannot run model " + model + ": " + e.getMessage(), e);
      }
    });
  }

  /** The ONNX Runtime version in use (loads the native library on a large stack). */
  public static String runtimeVersion() throws IOException {
    return onNativeStack(() -> OrtEnvironment.getEnvironment().getVersion());
  }

  /** Stack for the native tokenizer and ONNX Runtime calls. */
  static final long NATIVE_STACK_BYTES = 64L << 20;

  interface NativeWork<T> {
    T run() throws IOException;
  }

  /**
   * Runs native work on a thread with a large stack. ONNX Runtime and the tokenizer run on the
   * calling thread's stack, and a JVM's default thread stack (1 MiB, and the main thread of a
   * plain {@code java} launch) is too small for them: they overflow it, with a native segfault
   * and no JVM error report.
   */
  static <T> T onNativeStack(NativeWork<T> work) throws IOException {
    Object[] result = new Object[1];
    Throwable[] failure = new Throwable[1];
    Thread t = new Thread(null, () -> {
      try {
        result[0] = work.run();
      } catch (Throwable e) {
        failure[0] = e;
      }
    }, "sparticle-eval", NATIVE_STACK_BYTES);
    t.start();
    try {
      t.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("Interrupted while evaluating");
    }
    if (failure[0] instanceof IOException io) {
      throw io;
    }
    if (failure[0] instanceof RuntimeException re) {
      throw re;
    }
    if (failure[0] instanceof Error err) {
      throw err;
    }
    @SuppressWarnings("unchecked")
    T value = (T) result[0];
    return value;
  }

  /**
   * Compares two models' L2-normalized embeddings of the same sentences (row {@code i} is
   * sentence {@code i}).
   */
  public static EvaluationResult compare(double[][] original, double[][] compressed,
      Pooling pooling) {
    if (original.length != compressed.length) {
      throw new IllegalArgumentException(
          "Cannot compare " + original.length + " embeddings with " + compressed.length);
    }
    if (original.length < Sentences.MIN_SENTENCES) {
      throw new IllegalArgumentException(
          "Need at least " + Sentences.MIN_SENTENCES + " sentences, got " + original.length);
    }
    double[] cos = EmbeddingMetrics.rowCosines(original, compressed);
    double sum = 0;
    double min = Double.POSITIVE_INFINITY;
    for (double c : cos) {
      sum += c;
      min = Math.min(min, c);
    }
    double spearman = EmbeddingMetrics.spearman(
        EmbeddingMetrics.pairwiseCosines(original), EmbeddingMetrics.pairwiseCosines(compressed));
    double top1 = EmbeddingMetrics.top1Agreement(original, compressed);
    return new EvaluationResult(sum / cos.length, min, spearman, top1, cos.length, pooling);
  }

  @Override
  public void close() {
    tokenizer.close();
  }

  /** One padded batch, row-major {@code [rows, length]}; padding has id 0 and mask 0. */
  record Batch(int first, int rows, int length, long[] inputIds, long[] attentionMask) {}

  List<Batch> tokenize(List<String> sentences) {
    return tokenize(sentences, batchSize);
  }

  private List<Batch> tokenize(List<String> sentences, int batchSize) {
    if (sentences.size() < Sentences.MIN_SENTENCES) {
      throw new IllegalArgumentException(
          "Need at least " + Sentences.MIN_SENTENCES + " sentences, got " + sentences.size());
    }
    List<Batch> batches = new ArrayList<>();
    for (int first = 0; first < sentences.size(); first += batchSize) {
      int rows = Math.min(batchSize, sentences.size() - first);
      long[][] ids = new long[rows][];
      long[][] masks = new long[rows][];
      int length = 0;
      for (int r = 0; r < rows; r++) {
        // Encoded one at a time so that padding is ours, whatever tokenizer.json asks for.
        Encoding e = tokenizer.encode(sentences.get(first + r));
        ids[r] = e.getIds();
        masks[r] = e.getAttentionMask();
        length = Math.max(length, ids[r].length);
      }
      if (length == 0) {
        throw new IllegalArgumentException("Tokenizer " + tokenizerPath + " gave no tokens");
      }
      long[] flatIds = new long[Math.multiplyExact(rows, length)];
      long[] flatMask = new long[flatIds.length];
      for (int r = 0; r < rows; r++) {
        System.arraycopy(ids[r], 0, flatIds, r * length, ids[r].length);
        System.arraycopy(masks[r], 0, flatMask, r * length, masks[r].length);
      }
      batches.add(new Batch(first, rows, length, flatIds, flatMask));
    }
    return batches;
  }

  private double[][] embedBatches(Path model, List<Batch> batches) throws IOException {
    if (!Files.isRegularFile(model)) {
      throw new IOException("Model file " + model + " does not exist");
    }
    Batch last = batches.get(batches.size() - 1);
    double[][] out = new double[last.first() + last.rows()][];
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        OrtSession session = env.createSession(model.toString(), options)) {
      Signature sig = Signature.of(model, session);
      for (Batch batch : batches) {
        run(model, env, session, sig, batch, out);
      }
    } catch (OrtException e) {
      throw new IOException("Cannot run model " + model + ": " + e.getMessage(), e);
    }
    return out;
  }

  /** Which inputs a model takes and the name of its first output. */
  record Signature(boolean attentionMask, boolean tokenTypeIds, String output) {
    static Signature of(Path model, OrtSession session) throws OrtException, IOException {
      Map<String, NodeInfo> inputs = session.getInputInfo();
      for (Map.Entry<String, NodeInfo> in : inputs.entrySet()) {
        String name = in.getKey();
        if (!name.equals(INPUT_IDS) && !name.equals(ATTENTION_MASK)
            && !name.equals(TOKEN_TYPE_IDS)) {
          throw new IOException("Model " + model + " has input '" + name + "': only "
              + INPUT_IDS + ", " + ATTENTION_MASK + " and " + TOKEN_TYPE_IDS + " are supported");
        }
        if (!(in.getValue().getInfo() instanceof TensorInfo t)
            || t.type != OnnxJavaType.INT64) {
          throw new IOException("Model " + model + " input '" + name + "' is "
              + in.getValue().getInfo() + ": must be an int64 tensor");
        }
      }
      if (!inputs.containsKey(INPUT_IDS)) {
        throw new IOException("Model " + model + " has no input '" + INPUT_IDS + "'");
      }
      // Output names come in the model's output order.
      Map.Entry<String, NodeInfo> first = session.getOutputInfo().entrySet().iterator().next();
      if (!(first.getValue().getInfo() instanceof TensorInfo t)
          || t.type != OnnxJavaType.FLOAT || t.getShape().length != 3) {
        throw new IOException("Model " + model + " first output '" + first.getKey() + "' is "
            + first.getValue().getInfo() + ": must be a float [batch, tokens, hidden] tensor");
      }
      return new Signature(
          inputs.containsKey(ATTENTION_MASK), inputs.containsKey(TOKEN_TYPE_IDS), first.getKey());
    }
  }

  private void run(Path model, OrtEnvironment env, OrtSession session, Signature sig, Batch batch,
      double[][] out) throws OrtException, IOException {
    Map<String, OnnxTensor> inputs = new HashMap<>();
    try {
      inputs(env, sig, batch, inputs);
      try (OrtSession.Result result = session.run(inputs, Set.of(sig.output()))) {
        OnnxTensor hidden = (OnnxTensor) result.get(0);
        long[] s = hidden.getInfo().getShape();
        if (s.length != 3 || s[0] != batch.rows() || s[1] != batch.length()) {
          throw new IOException("Model " + model + " output '" + sig.output() + "' has shape "
              + java.util.Arrays.toString(s) + " for input [" + batch.rows() + ", "
              + batch.length() + "]: expected [" + batch.rows() + ", " + batch.length()
              + ", hidden]");
        }
        pool(model, hidden.getFloatBuffer(), batch, Math.toIntExact(s[2]), out);
      }
    } finally {
      for (OnnxTensor t : inputs.values()) {
        t.close();
      }
    }
  }

  /** The model's inputs for {@code batch}, added to {@code inputs} (the caller closes them). */
  static void inputs(OrtEnvironment env, Signature sig, Batch batch, Map<String, OnnxTensor> inputs)
      throws OrtException {
    long[] shape = {batch.rows(), batch.length()};
    inputs.put(INPUT_IDS, OnnxTensor.createTensor(env, LongBuffer.wrap(batch.inputIds()), shape));
    if (sig.attentionMask()) {
      inputs.put(ATTENTION_MASK,
          OnnxTensor.createTensor(env, LongBuffer.wrap(batch.attentionMask()), shape));
    }
    if (sig.tokenTypeIds()) {
      inputs.put(TOKEN_TYPE_IDS,
          OnnxTensor.createTensor(env, LongBuffer.wrap(new long[batch.inputIds().length]), shape));
    }
  }

  private void pool(Path model, FloatBuffer hidden, Batch batch, int dim, double[][] out)
      throws IOException {
    int length = batch.length();
    long[] mask = batch.attentionMask();
    for (int r = 0; r < batch.rows(); r++) {
      double[] v = new double[dim];
      int rowBase = r * length * dim;
      if (pooling == Pooling.CLS) {
        for (int d = 0; d < dim; d++) {
          v[d] = hidden.get(rowBase + d);
        }
      } else {
        long count = 0;
        for (int t = 0; t < length; t++) {
          if (mask[r * length + t] == 0) {
            continue;
          }
          count++;
          int base = rowBase + t * dim;
          for (int d = 0; d < dim; d++) {
            v[d] += hidden.get(base + d);
          }
        }
        // sentence-transformers clamps the token count the same way.
        double scale = 1.0 / Math.max(count, 1e-9);
        for (int d = 0; d < dim; d++) {
          v[d] *= scale;
        }
      }
      for (double x : v) {
        if (!Double.isFinite(x)) {
          throw new IOException("Model " + model + " gave a non-finite embedding for sentence "
              + (batch.first() + r));
        }
      }
      out[batch.first() + r] = EmbeddingMetrics.l2Normalize(v);
    }
  }
}
