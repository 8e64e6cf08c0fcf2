package io.sparticle.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Headless Chromium driven over the Chrome DevTools Protocol, with nothing but the JDK's
 * WebSocket: starts the browser on a free port ({@code --remote-debugging-port=0}, read back from
 * {@code DevToolsActivePort} in its profile), opens one page and records, from before the first
 * request, every request the page makes and every console message, exception and log entry.
 *
 * <pre>{@code
 * try (Chromium c = Chromium.start(binary, profileDir)) {
 *   c.open(file.toUri());
 *   c.requests(); c.problems(); c.eval("document.title"); c.screenshot(png);
 * }
 * }</pre>
 */
final class Chromium implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration WAIT = Duration.ofSeconds(60);

  private final Process process;
  private final WebSocket socket;
  private final AtomicInteger ids = new AtomicInteger();
  private final Map<Integer, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();
  private final CompletableFuture<Void> loaded = new CompletableFuture<>();
  private final List<String> requests = java.util.Collections.synchronizedList(new ArrayList<>());
  private final List<String> messages = java.util.Collections.synchronizedList(new ArrayList<>());
  private final List<String> problems = java.util.Collections.synchronizedList(new ArrayList<>());
  private String session;

  private Chromium(Process process, WebSocket socket) {
    this.process = process;
    this.socket = socket;
  }

  /**
   * The browser: $CHROMIUM if set (none if that is not an executable), else chromium (Debian),
   * chromium-browser or google-chrome on PATH.
   */
  static Optional<Path> find() {
    String env = System.getenv("CHROMIUM");
    if (env != null && !env.isBlank()) {
      return Optional.of(Path.of(env)).filter(Files::isExecutable);
    }
    for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
      for (String name : new String[] {"chromium", "chromium-browser", "google-chrome"}) {
        Path p = Path.of(dir, name);
        if (Files.isExecutable(p)) {
          return Optional.of(p);
        }
      }
    }
    return Optional.empty();
  }

  /** Starts the browser with its profile in {@code profile} (an empty directory) and connects. */
  static Chromium start(Path binary, Path profile, Path log) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(binary.toString(), "--headless", "--no-sandbox", "--disable-gpu",
        "--remote-debugging-port=0", "--user-data-dir=" + profile, "--no-first-run",
        "--no-default-browser-check", "--disable-background-networking", "--disable-extensions",
        "--disable-component-update", "--disable-sync", "--window-size=1280,1800", "about:blank")
        .redirectErrorStream(true).redirectOutput(log.toFile()).start();
    try {
      Path port = profile.resolve("DevToolsActivePort");
      long deadline = System.nanoTime() + WAIT.toNanos();
      List<String> lines = List.of();
      while (lines.size() < 2) {
        if (!p.isAlive()) {
          throw new IOException("chromium exited with " + p.exitValue() + " before it listened; "
              + "its output: " + Files.readString(log));
        }
        if (System.nanoTime() > deadline) {
          throw new IOException("chromium wrote no " + port + " in " + WAIT.toSeconds() + " s");
        }
        Thread.sleep(50);
        lines = Files.exists(port) ? Files.readAllLines(port) : List.of();
      }
      URI uri = URI.create("ws://127.0.0.1:" + lines.get(0).trim() + lines.get(1).trim());
      Listener listener = new Listener();
      WebSocket ws = HttpClient.newHttpClient().newWebSocketBuilder().connectTimeout(WAIT)
          .buildAsync(uri, listener).get(WAIT.toSeconds(), TimeUnit.SECONDS);
      Chromium c = new Chromium(p, ws);
      listener.chromium = c;
      return c;
    } catch (IOException | InterruptedException | RuntimeException e) {
      stop(p, 0);
      throw e;
    } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
      stop(p, 0);
      throw new IOException("Cannot connect to chromium's DevTools", e);
    }
  }

  /**
   * Opens {@code url} in a new page, recording from before it navigates; returns once its load
   * event fired (scripts run, the page drawn).
   */
  void open(URI url) throws IOException {
    String target = call(null, "Target.createTarget", JSON.createObjectNode().put("url", "about:blank"))
        .path("targetId").asText();
    session = call(null, "Target.attachToTarget",
        JSON.createObjectNode().put("targetId", target).put("flatten", true)).path("sessionId").asText();
    for (String domain : new String[] {"Network", "Runtime", "Log", "Page"}) {
      call(session, domain + ".enable", JSON.createObjectNode());
    }
    JsonNode nav = call(session, "Page.navigate", JSON.createObjectNode().put("url", url.toString()));
    if (nav.hasNonNull("errorText")) {
      throw new IOException("Cannot open " + url + ": " + nav.path("errorText").asText());
    }
    try {
      loaded.get(WAIT.toSeconds(), TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new IOException("The page " + url + " did not load in " + WAIT.toSeconds() + " s", e);
    }
  }

  /** The value of a JavaScript expression in the page (returned by value); throws on exceptions. */
  JsonNode eval(String expression) throws IOException {
    JsonNode r = call(session, "Runtime.evaluate", JSON.createObjectNode()
        .put("expression", expression).put("returnByValue", true).put("awaitPromise", true));
    if (r.has("exceptionDetails")) {
      throw new IOException("Evaluating " + expression + " threw: " + r.path("exceptionDetails"));
    }
    return r.path("result").path("value");
  }

  /** A PNG of the whole page, not just the window. */
  void screenshot(Path png) throws IOException {
    JsonNode size = call(session, "Page.getLayoutMetrics", JSON.createObjectNode()).path("cssContentSize");
    ObjectNode params = JSON.createObjectNode().put("format", "png").put("captureBeyondViewport", true);
    params.putObject("clip").put("x", 0).put("y", 0).put("scale", 1)
        .put("width", Math.ceil(size.path("width").asDouble(1280)))
        .put("height", Math.min(16_000, Math.ceil(size.path("height").asDouble(1800))));
    JsonNode shot = call(session, "Page.captureScreenshot", params);
    Files.createDirectories(png.getParent());
    Files.write(png, Base64.getDecoder().decode(shot.path("data").asText()));
  }

  /** The URL of every request the page made (Network.requestWillBeSent), in order. */
  List<String> requests() {
    synchronized (requests) {
      return List.copyOf(requests);
    }
  }

  /** Every console message, exception and log entry, as one line each. */
  List<String> messages() {
    synchronized (messages) {
      return List.copyOf(messages);
    }
  }

  /** Those of {@link #messages} that are errors or warnings, or uncaught exceptions. */
  List<String> problems() {
    synchronized (problems) {
      return List.copyOf(problems);
    }
  }

  private JsonNode call(String sessionId, String method, ObjectNode params) throws IOException {
    int id = ids.incrementAndGet();
    ObjectNode msg = JSON.createObjectNode().put("id", id).put("method", method);
    msg.set("params", params);
    if (sessionId != null) {
      msg.put("sessionId", sessionId);
    }
    CompletableFuture<JsonNode> reply = new CompletableFuture<>();
    pending.put(id, reply);
    try {
      socket.sendText(JSON.writeValueAsString(msg), true).get(WAIT.toSeconds(), TimeUnit.SECONDS);
      JsonNode r = reply.get(WAIT.toSeconds(), TimeUnit.SECONDS);
      if (r.has("error")) {
        throw new IOException(method + " failed: " + r.path("error"));
      }
      return r.path("result");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(method + " interrupted", e);
    } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
      throw new IOException(method + " got no answer in " + WAIT.toSeconds() + " s", e);
    } finally {
      pending.remove(id);
    }
  }

  private void onMessage(JsonNode m) {
    if (m.has("id")) {
      CompletableFuture<JsonNode> f = pending.get(m.path("id").asInt());
      if (f != null) {
        f.complete(m);
      }
      return;
    }
    JsonNode p = m.path("params");
    switch (m.path("method").asText()) {
      case "Page.loadEventFired" -> loaded.complete(null);
      case "Network.requestWillBeSent" -> requests.add(p.path("request").path("url").asText());
      case "Runtime.consoleAPICalled" -> {
        String type = p.path("type").asText();
        String line = "console." + type + ": " + p.path("args");
        messages.add(line);
        if (type.equals("error") || type.equals("warning") || type.equals("assert")) {
          problems.add(line);
        }
      }
      case "Runtime.exceptionThrown" -> {
        String line = "exception: " + p.path("exceptionDetails");
        messages.add(line);
        problems.add(line);
      }
      case "Log.entryAdded" -> {
        JsonNode e = p.path("entry");
        String level = e.path("level").asText();
        String line = "log." + level + " (" + e.path("source").asText() + "): " + e.path("text").asText()
            + (e.has("url") ? " " + e.path("url").asText() : "");
        messages.add(line);
        if (level.equals("error") || level.equals("warning")) {
          problems.add(line);
        }
      }
      default -> { }
    }
  }

  /** Reassembles messages that arrive in parts; the replies and events go to the Chromium. */
  private static final class Listener implements WebSocket.Listener {
    private final StringBuilder text = new StringBuilder();
    volatile Chromium chromium;

    @Override
    public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
      text.append(data);
      if (last) {
        try {
          JsonNode m = JSON.readTree(text.toString());
          Chromium c = chromium;
          if (c != null) { // null only before anything is asked
            c.onMessage(m);
          }
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
        text.setLength(0);
      }
      ws.request(1);
      return null;
    }
  }

  @Override
  public void close() {
    try {
      call(null, "Browser.close", JSON.createObjectNode());
    } catch (IOException e) {
      // It may be gone already; stop it below either way.
    }
    socket.abort();
    stop(process, 10);
  }

  /** Stops the browser and its helper processes, after {@code graceSeconds} to exit itself. */
  private static void stop(Process p, int graceSeconds) {
    try {
      if (!p.waitFor(graceSeconds, TimeUnit.SECONDS)) {
        p.descendants().forEach(ProcessHandle::destroy);
        p.destroy();
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
          p.descendants().forEach(ProcessHandle::destroyForcibly);
          p.destroyForcibly();
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      p.destroyForcibly();
    }
  }
}
