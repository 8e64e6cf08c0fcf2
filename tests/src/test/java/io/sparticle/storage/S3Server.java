package io.sparticle.storage;

import java.net.URI;
import org.apache.hadoop.conf.Configuration;
import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStore;
import org.jclouds.blobstore.BlobStoreContext;

/**
 * One S3 API server per JVM: S3Proxy on jclouds' in-memory {@code transient} blob store, on
 * 127.0.0.1 and an ephemeral port, with a fixed test key pair. Started on first use, stopped by a
 * shutdown hook.
 *
 * <pre>{@code
 * Configuration conf = new Configuration();
 * S3Server.configure(conf);
 * Path dir = new Path(S3Server.bucketUri("models") + "/tiny");
 * }</pre>
 */
public final class S3Server {
  public static final String ACCESS_KEY = "sparticle-test-access";
  public static final String SECRET_KEY = "sparticle-test-secret";

  private static S3Proxy proxy;
  private static BlobStoreContext context;
  private static String endpoint;

  private S3Server() {}

  /** {@code http://127.0.0.1:PORT}. */
  public static synchronized String endpoint() {
    start();
    return endpoint;
  }

  /**
   * Points S3A at this server. Each setting says why it is needed. S3A 3.4.2 needs no
   * change-detection or checksum settings here: S3Proxy returns ETags, and the SDK bundle it uses
   * (2.29.52) predates the SDK's default request checksums (2.30).
   */
  public static void configure(Configuration conf) {
    conf.set("fs.s3a.endpoint", endpoint());
    // A fixed region: otherwise the SDK would try to discover one, which fails without AWS.
    conf.set("fs.s3a.endpoint.region", "us-east-1");
    // Buckets are paths (http://127.0.0.1:PORT/bucket/key): no per-bucket DNS names on loopback.
    conf.setBoolean("fs.s3a.path.style.access", true);
    // The server speaks plain HTTP.
    conf.setBoolean("fs.s3a.connection.ssl.enabled", false);
    conf.set("fs.s3a.access.key", ACCESS_KEY);
    conf.set("fs.s3a.secret.key", SECRET_KEY);
    // Only the key pair above: the default chain would also try the environment, profiles and
    // the EC2 instance metadata address, which is not on this machine.
    conf.set("fs.s3a.aws.credentials.provider",
        "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider");
    // A server that is down should fail a test in seconds, not after minutes of retries.
    conf.setInt("fs.s3a.attempts.maximum", 2);
    conf.setInt("fs.s3a.retry.limit", 2);
    conf.set("fs.s3a.retry.interval", "100ms");
  }

  /** Creates {@code bucket} if needed and returns {@code s3a://bucket}. */
  public static synchronized String bucketUri(String bucket) {
    start();
    BlobStore store = context.getBlobStore();
    if (!store.containerExists(bucket)) {
      store.createContainerInLocation(null, bucket);
    }
    return "s3a://" + bucket;
  }

  private static void start() {
    if (proxy != null) {
      return;
    }
    // The AWS SDK must never look for the EC2 instance metadata service from a test.
    System.setProperty("aws.disableEc2Metadata", "true");
    BlobStoreContext ctx = ContextBuilder.newBuilder("transient")
        .credentials("identity", "credential")
        .build(BlobStoreContext.class);
    S3Proxy p = S3Proxy.builder()
        .blobStore(ctx.getBlobStore())
        .endpoint(URI.create("http://127.0.0.1:0"))
        .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, ACCESS_KEY, SECRET_KEY)
        .build();
    try {
      p.start();
      long deadline = System.nanoTime() + 10_000_000_000L;
      while (!"STARTED".equals(p.getState())) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("S3Proxy did not start: " + p.getState());
        }
        Thread.sleep(10);
      }
    } catch (Exception e) {
      ctx.close();
      throw new IllegalStateException("Could not start S3Proxy", e);
    }
    proxy = p;
    context = ctx;
    endpoint = "http://127.0.0.1:" + p.getPort();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        p.stop();
      } catch (Exception e) {
        // The JVM is exiting: nothing is left to clean up.
      }
      ctx.close();
    }, "s3proxy-shutdown"));
  }
}
