package io.sparticle.cli;

import io.sparticle.format.DType;
import io.sparticle.format.ShardIndex;
import io.sparticle.plan.JobConfig;
import io.sparticle.spark.CompressReport;
import io.sparticle.spark.DecompressJob;
import io.sparticle.spark.Sparticle;
import io.sparticle.synth.SyntheticCheckpoint;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code sparticle compress|decompress|inspect|generate}: a thin layer over {@link Sparticle}.
 * Exit codes: 0 ok, 2 usage or config error, 3 bad input file, 4 I/O failure, 5 out of memory,
 * 1 internal error. A failure prints one line on stderr, {@code sparticle: error: REASON (exit N
 * NAME)}, and its stack trace only with {@code --verbose}.
 */
@Command(name = "sparticle", mixinStandardHelpOptions = true, version = "sparticle 0.1.0",
    description = "k-means weight sharing for neural-network checkpoints, on Apache Spark.",
    subcommands = {SparticleCli.Compress.class, SparticleCli.Decompress.class,
        InspectCommand.class, SparticleCli.Generate.class, SparticleCli.Demo.class,
        SparticleCli.Bench.class, SparticleCli.Evaluate.class, SparticleCli.Verify.class})
public final class SparticleCli implements Callable<Integer> {
  /** The generator's presets, for option help (SyntheticCheckpoint.Preset has them). */
  static final String PRESETS = "tiny, small, llama-1b, llama-7b or moe";

  @Override
  public Integer call() {
    new CommandLine(this).usage(System.err);
    return ExitCode.USAGE.code;
  }

  public static void main(String[] args) {
    installOutOfMemoryHandler();
    System.exit(run(args));
  }

  /**
   * An {@link OutOfMemoryError} in any thread ends the process at once with
   * {@link ExitCode#OUT_OF_MEMORY} and a message saying what to raise: a Spark scheduler or RPC
   * thread that dies of it would otherwise leave the job waiting for ever. (Errors in the main
   * thread reach the CLI's handler as any other failure.)
   */
  static void installOutOfMemoryHandler() {
    Thread.UncaughtExceptionHandler previous = Thread.getDefaultUncaughtExceptionHandler();
    Thread.setDefaultUncaughtExceptionHandler((thread, e) -> {
      if (e instanceof OutOfMemoryError) {
        // Preallocated text: there may be no memory left to build a message.
        System.err.print(OUT_OF_MEMORY_MESSAGE);
        System.err.print(thread.getName());
        System.err.println(OUT_OF_MEMORY_CODE);
        System.err.flush();
        Runtime.getRuntime().halt(ExitCode.OUT_OF_MEMORY.code);
      }
      if (previous != null) {
        previous.uncaughtException(thread, e);
      } else {
        System.err.print("Exception in thread \"" + thread.getName() + "\" ");
        e.printStackTrace();
      }
    });
  }

  private static final String OUT_OF_MEMORY_MESSAGE = "sparticle: error: out of memory: "
      + ExitCode.MEMORY_HINT + " (in thread ";
  private static final String OUT_OF_MEMORY_CODE = "; exit " + ExitCode.OUT_OF_MEMORY.code + " "
      + ExitCode.OUT_OF_MEMORY.name() + ")";

  /** Runs the CLI and returns the exit code, without exiting: for tests and notebooks. */
  public static int run(String... args) {
    CommandLine cli = new CommandLine(new SparticleCli());
    cli.setExecutionExceptionHandler((ex, cmd, parsed) -> {
      if (verbose(parsed)) {
        ex.printStackTrace(cmd.getErr());
      }
      cmd.getErr().println(ExitCode.errorLine(ex));
      return ExitCode.of(ex).code;
    });
    cli.setParameterExceptionHandler((ex, a) -> {
      CommandLine c = ex.getCommandLine();
      c.getErr().println(ExitCode.errorLine(ExitCode.USAGE, ex.getMessage() + "; see '"
          + c.getCommandSpec().qualifiedName() + " --help'"));
      return ExitCode.USAGE.code;
    });
    cli.setErr(new PrintWriter(System.err, true));
    return cli.execute(args);
  }

  /** Whether --verbose was given to the command that ran (or to one above it). */
  private static boolean verbose(CommandLine.ParseResult parsed) {
    for (CommandLine.ParseResult r = parsed; r != null; r = r.subcommand()) {
      if (r.hasMatchedOption("--verbose")) {
        return true;
      }
    }
    return false;
  }

  /**
   * Spark and Hadoop settings every command takes: {@code --master}, repeated {@code --conf
   * key=value}, and {@code --properties-file} (spark-defaults.conf format). {@code spark.hadoop.*}
   * keys also configure the file systems of commands that do not start Spark (inspect, generate).
   */
  static class RuntimeOptions {
    @Option(names = "--master", description = "Spark master; default: as set by spark-submit, else local[*]")
    String master;

    @Option(names = "--conf", paramLabel = "KEY=VALUE",
        description = "Spark setting, repeatable; spark.hadoop.* keys configure storage (e.g. S3A)")
    java.util.Map<String, String> conf = new java.util.LinkedHashMap<>();

    @Option(names = "--properties-file", paramLabel = "FILE",
        description = "Spark settings file (key value per line, as spark-defaults.conf)")
    String propertiesFile;

    private java.util.Map<String, String> settings() throws IOException {
      java.util.Map<String, String> all = new java.util.LinkedHashMap<>();
      if (propertiesFile != null) {
        java.util.Properties p = new java.util.Properties();
        try (var in = java.nio.file.Files.newBufferedReader(java.nio.file.Path.of(propertiesFile))) {
          p.load(in);
        }
        for (String k : p.stringPropertyNames()) {
          all.put(k, p.getProperty(k).trim());
        }
      }
      all.putAll(conf);
      return all;
    }

    SparkSession session(String app) throws IOException {
      SparkConf sparkConf = new SparkConf();
      SparkSession.Builder b = SparkSession.builder().appName(app);
      settings().forEach(b::config);
      if (master != null) {
        b.master(master);
      } else if (!sparkConf.contains("spark.master") && !settings().containsKey("spark.master")) {
        b.master("local[*]");
      }
      return b.getOrCreate();
    }

    /** Hadoop settings for commands without Spark: spark.hadoop.* from system properties and options. */
    Configuration hadoopConf() throws IOException {
      Configuration c = new Configuration();
      for (String k : System.getProperties().stringPropertyNames()) {
        if (k.startsWith("spark.hadoop.")) {
          c.set(k.substring("spark.hadoop.".length()), System.getProperty(k));
        }
      }
      settings().forEach((k, v) -> {
        if (k.startsWith("spark.hadoop.")) {
          c.set(k.substring("spark.hadoop.".length()), v);
        }
      });
      return c;
    }
  }

  @Command(name = "compress", mixinStandardHelpOptions = true,
      description = "Compress a safetensors checkpoint (single file or sharded) into a codebook checkpoint.")
  static final class Compress implements Callable<Integer> {
    @Option(names = "--input", required = true, description = "Checkpoint: a directory, .safetensors file or index.json")
    String input;

    @Option(names = "--output", required = true, description = "Output directory (must be empty unless --overwrite)")
    String output;

    @Option(names = "--config", description = "YAML job config (rules, groups, bits); see conf/")
    String config;

    @Option(names = "--bits", description = "Default code width 1..8 (default 4; overrides the config's bits)")
    Integer bits;

    @Option(names = "--codebook-precision", paramLabel = "F32|F16|BF16|step:Q",
        description = "How centroids are stored: F32 (default), F16, BF16, or step:Q (integer "
            + "multiples of Q, 16-bit); overrides the config's")
    String codebookPrecision;

    @Option(names = "--method", paramLabel = "kmeans|uniform|gmm|vq",
        description = "Method for tensors no rule gives one: kmeans (default), uniform "
            + "(integers with a zero point), gmm (a Gaussian mixture's means, most probable "
            + "component) or vq (codewords of --vq-dim weights); overrides the config's")
    String method;

    @Option(names = "--vq-dim", paramLabel = "D",
        description = "vq: weights per sub-vector along the input dimension, 2, 4 (default) or 8; "
            + "a code holds bits x D bits (k = 2^(bits x D) codewords, at most 65,536)")
    Integer vqDim;

    @Option(names = "--vq-sample", paramLabel = "N",
        description = "vq: sub-vectors per group the codebook is fitted on (default 65536, at "
            + "least 16 per codeword are used)")
    Integer vqSample;

    @Option(names = "--prune", paramLabel = "FRACTION",
        description = "Set this fraction of each tensor's smallest-magnitude weights to exactly 0 "
            + "with a reserved code, fitting the codebook on the rest (kmeans, gmm, uniform)")
    String prune;

    @Option(names = "--entropy", paramLabel = "none|huffman|rans",
        description = "Entropy-code the codes (order-0, in independently decodable segments) "
            + "instead of bit-packing them; default none")
    String entropy;

    @Option(names = "--scope", paramLabel = "SCOPE",
        description = "Which weights share parameters: kmeans group (default), channel or block "
            + "(the group's codebook scaled per block); uniform tensor, channel or block (default)")
    String scope;

    @Option(names = "--block-size", paramLabel = "G",
        description = "Weights per block for scope block (default 32 for kmeans, 64 for uniform)")
    Integer blockSize;

    @Option(names = "--scale-precision", paramLabel = "F16|F32|Q3..Q8",
        description = "How scales are stored: F16 (default for uniform), F32, or for kmeans blocks "
            + "Qn, n-bit codes into a per-tensor ladder of scales (default Q7)")
    String scalePrecision;

    @Option(names = "--outliers", paramLabel = "FRACTION",
        description = "Keep this fraction of each tensor's largest-magnitude weights exact, stored "
            + "sparse beside the codes (e.g. 0.005; default 0)")
    String outliers;

    @Option(names = "--target-bits", paramLabel = "B",
        description = "Choose each kmeans group's bits to minimize the total error at an average of "
            + "at most B bits/weight, all overhead counted (e.g. 4.0); report.json shows each "
            + "group's choice and distortion curve")
    String targetBits;

    @Option(names = "--calibration", paramLabel = "SENTENCES",
        description = "ONNX models: run the model on these sentences (UTF-8, one a line) and weight "
            + "every weight's error by the mean squared activation of its input channel")
    String calibration;

    @Option(names = "--tokenizer", paramLabel = "FILE",
        description = "tokenizer.json for --calibration; default: tokenizer.json next to the model")
    String tokenizer;

    @Option(names = "--importance", paramLabel = "FILE",
        description = "A safetensors file of per-input-channel importance vectors keyed by tensor "
            + "name (e.g. mean squared activations), to weight every weight's error by")
    String importance;

    @Option(names = "--non-finite", paramLabel = "error|keep-dense",
        description = "A tensor to compress with NaN or Inf weights: error (default; exit 3 naming it) "
            + "or keep-dense (store it unchanged and say so in the report); overrides the config's non-finite")
    String nonFinite;

    @Option(names = "--overwrite", description = "Replace a non-empty output directory")
    boolean overwrite;

    @Option(names = "--report-json", description = "Also print report.json to stdout")
    boolean reportJson;

    @Option(names = "--json", description = "Print only the report's totals, as one JSON line")
    boolean json;

    @CommandLine.Mixin
    RuntimeOptions runtime = new RuntimeOptions();

    @CommandLine.Mixin
    ConsoleOptions console = new ConsoleOptions();

    @Override
    public Integer call() throws Exception {
      // Flags are config keys: one key table (JobConfig) checks them as it checks the YAML.
      java.util.Map<String, String> options = new java.util.LinkedHashMap<>();
      putIf(options, "bits", bits);
      putIf(options, "codebook-precision", codebookPrecision);
      putIf(options, "method", method);
      putIf(options, "scope", scope);
      putIf(options, "block-size", blockSize);
      putIf(options, "scale-precision", scalePrecision);
      putIf(options, "outliers", outliers);
      putIf(options, "vq-dim", vqDim);
      putIf(options, "vq-sample", vqSample);
      putIf(options, "prune", prune);
      putIf(options, "entropy", entropy);
      putIf(options, "target-bits", targetBits);
      putIf(options, "non-finite", nonFinite);
      putIf(options, "calibration", calibration);
      putIf(options, "tokenizer", tokenizer);
      putIf(options, "importance", importance);
      JobConfig cfg = JobConfig.fromYaml(
          config == null ? null : readText(config, runtime.hadoopConf()), options);
      SparkSession session = runtime.session("sparticle compress");
      CompressReport report = Sparticle.compress(session).input(input).output(output).config(cfg)
          .overwrite(overwrite).progress(console.progress()).execute();
      java.io.PrintStream out = console.out(json);
      out.print(report.summary());
      if (reportJson) {
        out.print(new String(report.toJson(), StandardCharsets.UTF_8));
      }
      if (json) {
        com.fasterxml.jackson.databind.node.ObjectNode o = ConsoleOptions.object();
        o.put("output", report.output());
        o.setAll((com.fasterxml.jackson.databind.node.ObjectNode)
            ConsoleOptions.parse(report.toJson()).get("totals"));
        console.json(o);
      }
      return 0;
    }
  }

  /** The directory given as the argument DIR or as --input DIR, which must be exactly one. */
  static String directory(String argument, String option) {
    if (argument != null && option != null && !argument.equals(option)) {
      throw new IllegalArgumentException("Give the directory once: as DIR or as --input DIR, not both");
    }
    if (argument == null && option == null) {
      throw new IllegalArgumentException("Missing the directory: give it as DIR or --input DIR");
    }
    return argument != null ? argument : option;
  }

  /** Adds a flag's value as text under its config key when the flag was given. */
  static void putIf(java.util.Map<String, String> options, String key, Object value) {
    if (value != null) {
      options.put(key, value.toString());
    }
  }

  @Command(name = "decompress", mixinStandardHelpOptions = true,
      description = "Rebuild dense HF-style safetensors from a compressed checkpoint.")
  static final class Decompress implements Callable<Integer> {
    @Option(names = "--input", required = true, description = "Compressed checkpoint directory")
    String input;

    @Option(names = "--output", required = true, description = "Output directory (must be empty unless --overwrite)")
    String output;

    @Option(names = "--overwrite", description = "Replace a non-empty output directory")
    boolean overwrite;

    @Option(names = "--format", description = "onnx, onnx-compressed (a runnable .onnx whose weights stay "
        + "codes and codebooks, computed in the graph) or safetensors; default: the source's format")
    String format;

    @Option(names = "--json", description = "Print only the result's totals, as one JSON line")
    boolean json;

    @CommandLine.Mixin
    RuntimeOptions runtime = new RuntimeOptions();

    @CommandLine.Mixin
    ConsoleOptions console = new ConsoleOptions();

    @Override
    public Integer call() throws Exception {
      SparkSession session = runtime.session("sparticle decompress");
      DecompressJob.Result r = Sparticle.decompress(session).input(input).output(output)
          .format(format).overwrite(overwrite).progress(console.progress()).execute();
      r.keptDense().forEach((tensor, why) -> console.warn(
          "sparticle: warning: '" + tensor + "' is written dense: " + why));
      if (json) {
        console.json(r.toJson());
      }
      console.out(json).printf(Locale.ROOT, "Decompressed %,d params into %d file(s), %,d bytes in %.1f s (%.1fM params/s)%n  output  %s%n",
          r.params(), r.files(), r.bytes(), r.seconds(), r.params() / r.seconds() / 1e6, r.output());
      return 0;
    }
  }

  @Command(name = "generate", mixinStandardHelpOptions = true,
      description = "Write a synthetic Llama- or Mixtral-shaped safetensors checkpoint (for tests, demos, benchmarks).")
  static final class Generate implements Callable<Integer> {
    @Option(names = "--output", required = true, description = "Directory to write")
    String output;

    @Option(names = "--preset", defaultValue = "small", description = PRESETS + " (default ${DEFAULT-VALUE})")
    String preset;

    @Option(names = "--dtype", defaultValue = "BF16", description = "BF16, F16 or F32 (default ${DEFAULT-VALUE})")
    String dtype;

    @Option(names = "--shard-size", description = "Largest shard, e.g. 16MiB, 2GiB; default: the preset's "
        + "(16MiB for tiny and small, 1GiB for llama-1b, 10000000000 as HF's 10GB for llama-7b, 128MiB for moe)")
    String shardSize;

    @Option(names = "--seed", defaultValue = "1", description = "Random seed (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--overwrite", description = "Write even if the directory is not empty")
    boolean overwrite;

    @CommandLine.Mixin
    RuntimeOptions runtime = new RuntimeOptions();

    @CommandLine.Mixin
    ConsoleOptions console = new ConsoleOptions();

    @Override
    public Integer call() throws Exception {
      SyntheticCheckpoint.Preset p = SyntheticCheckpoint.Preset.of(preset);
      DType d = DType.fromName(dtype.toUpperCase(Locale.ROOT))
          .filter(DType::isCompressibleFloat)
          .orElseThrow(() -> new IllegalArgumentException("Cannot set dtype to " + dtype + ": must be BF16, F16 or F32"));
      Configuration conf = runtime.hadoopConf();
      Path out = new Path(output);
      var fs = out.getFileSystem(conf);
      if (fs.exists(out) && fs.listStatus(out).length > 0 && !overwrite) {
        throw new IllegalArgumentException("Output " + output + " is not empty; pass --overwrite to write into it");
      }
      long t0 = System.nanoTime();
      long params = SyntheticCheckpoint.write(p.shape(), d,
          shardSize == null ? p.shardBytes() : JobConfig.parseBytes(shardSize), seed, output, conf);
      console.out(false).printf(Locale.ROOT, "Generated %s (%,d params, %s) in %s in %.1f s%n", p.key(), params, d,
          output, (System.nanoTime() - t0) / 1e9);
      return 0;
    }
  }

  @Command(name = "demo", mixinStandardHelpOptions = true,
      description = "Compress a real model (all-MiniLM-L6-v2, from Maven Central) and measure its fidelity "
          + "in ONNX Runtime; or, with --model llama-*, a generated Llama-shaped checkpoint.")
  static final class Demo implements Callable<Integer> {
    @Option(names = "--dir", defaultValue = "${sys:java.io.tmpdir}/sparticle-demo",
        description = "Local working directory (default ${DEFAULT-VALUE})")
    String dir;

    @Option(names = "--model", defaultValue = "minilm",
        description = "minilm (default), or llama-tiny, llama-small, llama-1b (generated BF16)")
    String model;

    @Option(names = "--bits", defaultValue = "4", description = "Code width 1..8 (default ${DEFAULT-VALUE})")
    int bits;

    @Option(names = "--fidelity-table",
        description = "minilm: run 2, 3, 4, 5, 6 and 8 bits and the 4-bit uniform RTN baseline")
    boolean table;

    @Option(names = "--method-table",
        description = "Every method and scope at 2, 3, 4 and 8 bits: bits/weight, SQNR, and for "
            + "minilm the embeddings' mean cosine and Spearman")
    boolean methodTable;

    @Option(names = "--runnable-table",
        description = "minilm: at 4 bits per method, the runnable compressed .onnx (decompress --format "
            + "onnx-compressed) against the original and the dense rebuild: bytes, load time, latency")
    boolean runnableTable;

    @Option(names = "--only", paramLabel = "METHOD",
        description = "With --method-table: only these rows' methods (repeatable), e.g. 'uniform/block64'")
    java.util.List<String> only;

    @CommandLine.Mixin
    RuntimeOptions runtime = new RuntimeOptions();

    @CommandLine.Mixin
    ConsoleOptions console = new ConsoleOptions();

    private java.io.PrintStream out;

    @Override
    public Integer call() throws Exception {
      out = console.out(false);
      if (model.equals("llama-tiny") || model.equals("llama-small")) {
        return llama(model.substring("llama-".length()));
      }
      if (model.equals("llama-1b")) {
        return llama(model); // the bench model's preset name and directory
      }
      if (!model.equals("minilm")) {
        throw new IllegalArgumentException("Unknown model '" + model + "': use minilm, llama-tiny, llama-small or llama-1b");
      }
      java.nio.file.Path work = java.nio.file.Path.of(dir, "minilm");
      io.sparticle.eval.Fidelity.RealModel m = io.sparticle.eval.Fidelity.RealModel.extract(work.resolve("model"));
      SparkSession session = runtime.session("sparticle demo");
      java.util.List<String> sentences = io.sparticle.eval.Sentences.load(null);
      try (io.sparticle.eval.EmbeddingEvaluator eval =
          io.sparticle.eval.EmbeddingEvaluator.builder().tokenizer(m.tokenizer()).build()) {
        out.printf(Locale.ROOT, "all-MiniLM-L6-v2 (%s), %d sentences, mean pooling%n", m.model(), sentences.size());
        if (runnableTable) {
          out.printf(Locale.ROOT, "ONNX Runtime %s for Java, CPU (%d cores), default session options, 120 sentences one at a time%n",
              io.sparticle.eval.EmbeddingEvaluator.runtimeVersion(), Runtime.getRuntime().availableProcessors());
          io.sparticle.eval.RunnableTable.run(session, m.model(), eval, sentences, work, out);
          out.println("Compressed checkpoints, dense and runnable models: " + work);
          return 0;
        }
        if (methodTable) {
          io.sparticle.eval.MethodTable.run(session, m.model(), eval, sentences, work, out,
              only != null ? only : java.util.List.copyOf(io.sparticle.eval.MethodTable.METHODS.keySet()));
          out.println("Compressed checkpoints, reports and evaluation.json: " + work);
          return 0;
        }
        out.println(io.sparticle.eval.Fidelity.Row.header());
        int[] widths = table ? new int[] {2, 3, 4, 5, 6, 8} : new int[] {bits};
        for (int b : widths) {
          out.println(io.sparticle.eval.Fidelity.sparticle(session, m.model(), b,
              JobConfig.defaults(), work, eval, sentences).format());
        }
        if (table) {
          out.println(io.sparticle.eval.Fidelity.uniformRtn(m.model(), 4, work, eval, sentences).format());
        }
      }
      out.println("Compressed checkpoints, reports and evaluation.json: " + work);
      return 0;
    }

    private int llama(String preset) throws Exception {
      Configuration conf = runtime.hadoopConf();
      String model = dir + "/model-" + preset + "-bf16";
      Path index = new Path(model, ShardIndex.FILE_NAME);
      if (!index.getFileSystem(conf).exists(index)) {
        long params = SyntheticCheckpoint.write(SyntheticCheckpoint.preset(preset), DType.BF16,
            64L << 20, 1, model, conf);
        out.printf(Locale.ROOT, "Generated %s: %,d params, BF16, in %s%n", preset, params, model);
      }
      SparkSession session = runtime.session("sparticle demo");
      if (methodTable) {
        out.printf(Locale.ROOT, "Generated Llama-shaped %s, BF16 (%s)%n", preset, model);
        io.sparticle.eval.MethodTable.run(session, java.nio.file.Path.of(model), null, null,
            java.nio.file.Path.of(dir, "methods-" + preset), out,
            only != null ? only : java.util.List.copyOf(io.sparticle.eval.MethodTable.METHODS.keySet()));
        return 0;
      }
      CompressReport report = Sparticle.compress(session).input(model).output(dir + "/compressed")
          .config(JobConfig.defaults().withBits(bits)).overwrite(true).progress(console.progress())
          .execute();
      out.print(report.summary());
      DecompressJob.Result r = Sparticle.decompress(session).input(dir + "/compressed")
          .output(dir + "/restored").overwrite(true).progress(console.progress()).execute();
      out.printf(Locale.ROOT, "Decompressed %,d params in %.1f s into %s%n", r.params(), r.seconds(), r.output());
      out.println("Report: " + dir + "/compressed/report.json");
      return 0;
    }
  }

  @Command(name = "verify", mixinStandardHelpOptions = true,
      description = {"Check a compressed checkpoint: _SUCCESS, manifest, every file's size and CRC-32C, every tensor.",
          "With --against, also that it is exactly what compressing INPUT gives: the same tensor names, dtypes "
              + "and shapes, dense tensors byte for byte, and every stored code the nearest centroid of its "
              + "input weight under the stored codebook and scale. Exit 3 names the first mismatch's file and tensor."})
  static final class Verify implements Callable<Integer> {
    @CommandLine.Parameters(arity = "0..1", paramLabel = "DIR", description = "Compressed checkpoint directory")
    String dir;

    @Option(names = "--input", paramLabel = "DIR", description = "The same as DIR")
    String input;

    @Option(names = "--json", description = "Print only the result, as one JSON line")
    boolean json;

    @Option(names = "--against", paramLabel = "INPUT",
        description = "The original checkpoint it was compressed from (safetensors file, directory or index; or ONNX)")
    String against;

    @CommandLine.Mixin
    RuntimeOptions runtime = new RuntimeOptions();

    @CommandLine.Mixin
    ConsoleOptions console = new ConsoleOptions();

    @Override
    public Integer call() throws Exception {
      String checkpoint = directory(dir, input);
      io.sparticle.spark.VerifyJob.Result r = io.sparticle.spark.VerifyJob.verify(
          runtime.session("sparticle verify"), checkpoint, against, console.progress());
      if (json) {
        com.fasterxml.jackson.databind.node.ObjectNode o = ConsoleOptions.object();
        o.put("ok", true);
        o.setAll(r.toJson());
        console.json(o);
      }
      console.out(json).printf(Locale.ROOT, "OK %s: %d files, %,d bytes, %d tensors; sizes, checksums and tensors verified%s%n",
          r.dir(), r.files(), r.bytes(), r.tensors(),
          r.against() == null ? "" : "; names, dtypes, shapes, dense bytes and codes match " + r.against());
      return 0;
    }
  }

  @Command(name = "evaluate", mixinStandardHelpOptions = true,
      description = "Compare a compressed sentence-embedding model with its original in ONNX Runtime.")
  static final class Evaluate implements Callable<Integer> {
    @Option(names = "--original", required = true, description = "The original .onnx (local)")
    String original;

    @Option(names = "--compressed", required = true,
        description = "A compressed checkpoint directory (of an ONNX model), or a rebuilt .onnx (local)")
    String compressed;

    @Option(names = "--tokenizer", description = "tokenizer.json; default: tokenizer.json next to the original")
    String tokenizer;

    @Option(names = "--sentences", description = "UTF-8 file, one sentence per line; default: 120 built-in sentences")
    String sentences;

    @Option(names = "--pooling", defaultValue = "mean", description = "mean or cls (default ${DEFAULT-VALUE})")
    String pooling;

    @Option(names = "--json", description = "Print only the evaluation, as one JSON line")
    boolean json;

    @CommandLine.Mixin
    RuntimeOptions runtime = new RuntimeOptions();

    @CommandLine.Mixin
    ConsoleOptions console = new ConsoleOptions();

    @Override
    public Integer call() throws Exception {
      java.nio.file.Path orig = java.nio.file.Path.of(original);
      java.nio.file.Path tok = tokenizer != null ? java.nio.file.Path.of(tokenizer)
          : orig.toAbsolutePath().getParent().resolve("tokenizer.json");
      Configuration conf = runtime.hadoopConf();
      Path dir = new Path(compressed);
      boolean checkpoint = dir.getFileSystem(conf).exists(new Path(dir, io.sparticle.format.Manifest.FILE_NAME));
      java.nio.file.Path model = java.nio.file.Path.of(compressed);
      Integer bits = null;
      java.nio.file.Path scratch = null;
      if (checkpoint) {
        io.sparticle.format.Manifest m = io.sparticle.format.CompressedCheckpoint.open(
            io.sparticle.io.HadoopDirectory.of(compressed, conf)).manifest();
        if (m.source().onnx() == null) {
          throw new IllegalArgumentException(compressed + " was not compressed from an ONNX model");
        }
        bits = io.sparticle.eval.Fidelity.bitsOf(m);
        scratch = java.nio.file.Files.createTempDirectory("sparticle-evaluate");
        Sparticle.decompress(runtime.session("sparticle evaluate")).input(compressed)
            .output(scratch.resolve("onnx").toString()).progress(console.progress()).execute();
        model = scratch.resolve("onnx").resolve(m.source().onnx().modelFile());
      }
      io.sparticle.eval.EvaluationResult r;
      try (io.sparticle.eval.EmbeddingEvaluator eval = io.sparticle.eval.EmbeddingEvaluator.builder()
          .tokenizer(tok).pooling(io.sparticle.eval.Pooling.parse(pooling)).build()) {
        r = eval.evaluate(orig, model,
            io.sparticle.eval.Sentences.load(sentences == null ? null : java.nio.file.Path.of(sentences)))
            .withBits(bits);
      }
      String text = r.toJson();
      if (checkpoint) {
        Path out = new Path(dir, "evaluation.json");
        try (var os = io.sparticle.io.Storage.forWriting(out, conf).create(out, true)) {
          os.write((text + "\n").getBytes(StandardCharsets.UTF_8));
        }
        console.out(json).println("Wrote " + out);
        Path report = new Path(dir, io.sparticle.spark.CompressJob.REPORT_FILE);
        if (report.getFileSystem(conf).exists(report)) {
          // report.html shows the fidelity next to what compress measured.
          Path html = new Path(dir, io.sparticle.spark.HtmlReport.FILE);
          try (var os = io.sparticle.io.Storage.forWriting(html, conf).create(html, true)) {
            os.write(io.sparticle.spark.HtmlReport.render(
                readText(report.toString(), conf).getBytes(StandardCharsets.UTF_8),
                (text + "\n").getBytes(StandardCharsets.UTF_8)));
          }
          console.out(json).println("Wrote " + html);
        }
      }
      if (json) {
        console.json((com.fasterxml.jackson.databind.node.ObjectNode) ConsoleOptions.parse(
            text.getBytes(StandardCharsets.UTF_8)));
      } else {
        console.out(false).println(text);
      }
      return 0;
    }
  }

  @Command(name = "bench", mixinStandardHelpOptions = true,
      description = {"Benchmark: read and kernel floors, compress and its phases, decompress, a 1 GiB "
          + "heap compress in a separate JVM, the naive MLlib peer; prints one table.",
          "Presets: tiny, small; llama-1b (Llama-3.2-1B shapes, 2.2 GB); llama-7b (Llama-2-7B "
              + "shapes, 13.5 GB in HF's 2 shards); moe (Mixtral-style, 48 layers x 144 experts, "
              + "21,075 tensors, 0.73 GB)."})
  static final class Bench implements Callable<Integer> {
    @Option(names = "--dir", defaultValue = "${sys:java.io.tmpdir}/sparticle-bench",
        description = "Working directory; the model is generated once into model-PRESET-bf16 and "
            + "reused; the restored and 1 GiB outputs are deleted after timing (default ${DEFAULT-VALUE})")
    String dir;

    @Option(names = "--preset", defaultValue = "llama-1b", description = PRESETS + " (default ${DEFAULT-VALUE})")
    String preset;

    @Option(names = "--no-naive", description = "Skip the naive MLlib peer")
    boolean noNaive;

    @Option(names = "--no-small-heap", description = "Skip the compress in a 1 GiB JVM")
    boolean noSmallHeap;

    @CommandLine.Mixin
    RuntimeOptions runtime = new RuntimeOptions();

    @CommandLine.Mixin
    ConsoleOptions console = new ConsoleOptions();

    @Override
    public Integer call() throws Exception {
      SyntheticCheckpoint.Preset.of(preset); // an unknown preset fails before Spark starts
      if (runtime.master == null) {
        runtime.master = "local[2]";
      }
      new io.sparticle.bench.Benchmark(runtime.session("sparticle bench"), dir, preset, !noNaive,
          !noSmallHeap, console.out(false)).run();
      return 0;
    }
  }

  static String readText(String path, Configuration conf) throws IOException {
    Path p = new Path(path);
    try (InputStream in = p.getFileSystem(conf).open(p)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
