package io.sparticle.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sparticle.cli.SparticleCli;
import java.io.IOException;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;

/**
 * A real Spark standalone cluster on 127.0.0.1: one Master and two Workers, each its own JVM,
 * with executors that the Workers launch as further JVMs, all from the Maven-built classpath.
 *
 * <p>The "Spark installation" is a directory holding {@code jars/} (links to the jars of the
 * embedded launcher's classpath, {@code spark-job/target/embedded-classpath.txt}: the Spark the
 * job is built against), a {@code RELEASE} file, and {@code SPARK_SCALA_VERSION=2.13} in the
 * environment, which is what Spark's launcher needs to find its jars outside a source tree.
 * Worker {@code i} binds 127.0.0.{@code i+1}, so the two count as different hosts (speculative
 * copies never run on a host that already runs the task).
 *
 * <p>Jobs are submitted the way users do, through {@code org.apache.spark.deploy.SparkSubmit} in
 * a driver JVM of their own (client mode) with the shaded job jar, which the executors fetch.
 */
final class StandaloneCluster implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration START_TIMEOUT = Duration.ofSeconds(120);

  private final Path dir;
  private final Path home;
  private final Path appJar;
  private final List<String> jvmFlags;
  private final int masterPort;
  private final int masterUiPort;
  private final List<Process> daemons = new ArrayList<>();
  private final List<Process> workers = new ArrayList<>();

  private StandaloneCluster(Path dir) throws IOException {
    this.dir = dir;
    this.home = dir.resolve("spark-home");
    this.jvmFlags = Arrays.asList(
        System.getProperty("sparticle.spark.jvm.flags", "").trim().split("\\s+"));
    if (jvmFlags.size() < 2) {
      throw new IllegalStateException("sparticle.spark.jvm.flags is not set: run through Maven");
    }
    Path jobJar = Path.of(codeLocation(SparticleCli.class));
    // spark-job/target/classes or spark-job/target/<jar>: the classpath file is in target/.
    Path classpathFile = jobJar.getParent().resolve("embedded-classpath.txt");
    if (!Files.isRegularFile(classpathFile)) {
      throw new IllegalStateException(classpathFile + " is missing: the cluster tests need"
          + " spark-job packaged (mvn verify from the root builds it)");
    }
    Path jars = Files.createDirectories(home.resolve("jars"));
    for (String entry : Files.readString(classpathFile).trim().split(":")) {
      Path jar = Path.of(entry);
      Files.createSymbolicLink(jars.resolve(jar.getFileName()), jar);
    }
    Files.writeString(home.resolve("RELEASE"), "Spark (jars from Maven Central) for Sparticle tests\n");
    this.appJar = Files.isDirectory(jobJar) ? jarOf(jobJar, dir.resolve("sparticle-job.jar"), "")
        : jobJar;
    this.masterPort = freePort();
    this.masterUiPort = freePort();
  }

  /** Starts a Master and {@code numWorkers} Workers (1 core, 1 GiB each) and waits for them. */
  static StandaloneCluster start(Path dir, int numWorkers) throws IOException, InterruptedException {
    StandaloneCluster c = new StandaloneCluster(dir);
    // Should the test JVM be stopped before close(), its cluster must not outlive it.
    Runtime.getRuntime().addShutdownHook(new Thread(c::close, "standalone-cluster-stop"));
    try {
      c.daemons.add(c.java("master", "127.0.0.1", List.of("-Xmx256m"),
          "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
          "--port", String.valueOf(c.masterPort), "--webui-port", String.valueOf(c.masterUiPort)));
      c.await("the master's web UI", () -> c.state() != null);
      for (int i = 0; i < numWorkers; i++) {
        String host = "127.0.0." + (i + 1);
        Process w = c.java("worker" + (i + 1), host, List.of("-Xmx256m"),
            "org.apache.spark.deploy.worker.Worker", "--host", host, "--port", "0",
            "--webui-port", "0", "--cores", "1", "--memory", "1g",
            "--work-dir", dir.resolve("work" + (i + 1)).toString(), c.masterUrl());
        c.daemons.add(w);
        c.workers.add(w);
      }
      c.await(numWorkers + " alive workers",
          () -> c.state() != null && c.state().path("aliveworkers").asInt() == numWorkers);
      return c;
    } catch (IOException | InterruptedException | RuntimeException e) {
      c.close();
      throw e;
    }
  }

  String masterUrl() {
    return "spark://127.0.0.1:" + masterPort;
  }

  /**
   * Starts a driver JVM that runs the CLI through SparkSubmit on this cluster. {@code sparkConf}
   * entries become {@code --conf k=v}; {@code extraJars} go to {@code --jars}.
   */
  Submission submit(String name, Map<String, String> sparkConf, List<Path> extraJars,
      String... cliArgs) throws IOException {
    List<String> args = new ArrayList<>(List.of("org.apache.spark.deploy.SparkSubmit",
        "--master", masterUrl(), "--class", SparticleCli.class.getName(),
        "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.ui.enabled=false",
        "--conf", "spark.executor.memory=512m"));
    sparkConf.forEach((k, v) -> args.addAll(List.of("--conf", k + "=" + v)));
    if (!extraJars.isEmpty()) {
      args.addAll(List.of("--jars",
          String.join(",", extraJars.stream().map(Path::toString).toList())));
    }
    args.add(appJar.toString());
    args.addAll(List.of(cliArgs));
    Path log = dir.resolve(name + ".log");
    return new Submission(java(name, "127.0.0.1", List.of("-Xmx1g"), args.toArray(String[]::new)), log);
  }

  /** A driver JVM: its exit code, and its log (stdout and stderr) to assert on or to show. */
  static final class Submission {
    final Process process;
    final Path log;

    Submission(Process process, Path log) {
      this.process = process;
      this.log = log;
    }

    int await(Duration timeout) throws InterruptedException, IOException {
      if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly().waitFor();
        throw new AssertionError("Driver did not finish within " + timeout + ":\n" + tail());
      }
      return process.exitValue();
    }

    String log() throws IOException {
      return Files.readString(log, StandardCharsets.UTF_8);
    }

    /** The log without Spark's INFO chatter and stack frames, for assertion messages. */
    String tail() throws IOException {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8).stream()
          .filter(l -> !l.contains(" INFO ") && !l.startsWith("\tat ")).toList();
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
    }
  }

  /** The executor JVMs the workers run now. */
  List<ProcessHandle> executors() {
    return workers.stream().flatMap(Process::descendants)
        .filter(p -> p.info().commandLine().orElse("").contains("CoarseGrainedExecutorBackend"))
        .toList();
  }

  /** Waits until the master runs no application, and the workers no executor. */
  void awaitIdle() throws InterruptedException {
    await("no running application", () -> {
      JsonNode s = state();
      return s != null && s.path("activeapps").isEmpty() && executors().isEmpty();
    });
  }

  /** The master's view of the cluster (its web UI's JSON), or null while it is not answering. */
  JsonNode state() {
    try {
      URL url = URI.create("http://127.0.0.1:" + masterUiPort + "/json/").toURL();
      try (InputStream in = url.openStream()) {
        return JSON.readTree(in);
      }
    } catch (IOException e) {
      return null;
    }
  }

  /** Jars the classes under {@code classes} whose path starts with {@code prefix}. */
  static Path jarOf(Path classes, Path jar, String prefix) throws IOException {
    try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar));
        Stream<Path> files = Files.walk(classes)) {
      for (Path f : files.filter(Files::isRegularFile).sorted().toList()) {
        String name = classes.relativize(f).toString().replace('\\', '/');
        if (name.startsWith(prefix)) {
          out.putNextEntry(new JarEntry(name));
          Files.copy(f, out);
          out.closeEntry();
        }
      }
    }
    return jar;
  }

  static String codeLocation(Class<?> c) {
    try {
      return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
    } catch (java.net.URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  private Process java(String name, String bindAddress, List<String> heap, String... mainAndArgs)
      throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(jvmFlags);
    cmd.addAll(heap);
    cmd.addAll(List.of("-cp", home.resolve("jars") + "/*"));
    cmd.addAll(List.of(mainAndArgs));
    ProcessBuilder pb = new ProcessBuilder(cmd)
        .redirectErrorStream(true)
        .redirectOutput(dir.resolve(name + ".log").toFile());
    pb.environment().put("SPARK_HOME", home.toString());
    pb.environment().put("SPARK_SCALA_VERSION", "2.13");
    pb.environment().put("SPARK_LOCAL_IP", bindAddress);
    pb.environment().remove("SPARK_CONF_DIR");
    return pb.start();
  }

  private void await(String what, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
    while (!condition.getAsBoolean()) {
      for (Process p : daemons) {
        if (!p.isAlive()) {
          throw new IllegalStateException("A cluster daemon exited (" + p.exitValue()
              + ") while waiting for " + what + "; logs in " + dir);
        }
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("Timed out waiting for " + what + "; logs in " + dir);
      }
      Thread.sleep(200);
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Override
  public void close() {
    for (Process p : daemons) {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
    }
    for (Process p : daemons) {
      try {
        p.waitFor(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }
}
