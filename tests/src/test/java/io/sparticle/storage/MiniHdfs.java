package io.sparticle.storage;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;

/**
 * One in-process HDFS (a {@link MiniDFSCluster}: a namenode and one datanode, every port on
 * 127.0.0.1) per JVM, started on first use and stopped by a shutdown hook.
 *
 * <pre>{@code
 * Path dir = new Path(MiniHdfs.uri() + "/models/tiny");
 * FileSystem fs = dir.getFileSystem(MiniHdfs.conf());
 * }</pre>
 */
public final class MiniHdfs {
  private static MiniDFSCluster cluster;
  private static String uri;

  private MiniHdfs() {}

  /** {@code hdfs://127.0.0.1:PORT}, the namenode's address. */
  public static synchronized String uri() {
    start();
    return uri;
  }

  /** A new client configuration for this cluster, with {@code fs.defaultFS} = {@link #uri()}. */
  public static synchronized Configuration conf() {
    start();
    return new Configuration(cluster.getConfiguration(0));
  }

  private static void start() {
    if (cluster != null) {
      return;
    }
    try {
      File base = Files.createTempDirectory("sparticle-minihdfs").toFile();
      Configuration conf = new Configuration();
      // Every server socket on the loopback address, on an ephemeral port.
      conf.set("dfs.namenode.rpc-address", "127.0.0.1:0");
      conf.set("dfs.namenode.http-address", "127.0.0.1:0");
      conf.set("dfs.namenode.https-address", "127.0.0.1:0");
      conf.set("dfs.namenode.secondary.http-address", "127.0.0.1:0");
      conf.set("dfs.namenode.backup.address", "127.0.0.1:0");
      conf.set("dfs.namenode.backup.http-address", "127.0.0.1:0");
      conf.set("dfs.datanode.address", "127.0.0.1:0");
      conf.set("dfs.datanode.http.address", "127.0.0.1:0");
      conf.set("dfs.datanode.https.address", "127.0.0.1:0");
      conf.set("dfs.datanode.ipc.address", "127.0.0.1:0");
      conf.set("dfs.journalnode.rpc-address", "127.0.0.1:0");
      conf.set("dfs.journalnode.http-address", "127.0.0.1:0");
      conf.setInt("dfs.replication", 1);
      // The tests speak RPC only: skip WebHDFS's Jersey set-up on the namenode and datanode.
      conf.setBoolean("dfs.webhdfs.enabled", false);
      // One datanode: a failed write pipeline cannot be repaired by replacing a node.
      conf.set("dfs.client.block.write.replace-datanode-on-failure.policy", "NEVER");
      // close() returns once the last block is committed, without waiting up to 400 ms for the
      // datanode's block report: with many small part files that wait dominated the job's time.
      conf.setInt("dfs.namenode.file.close.num-committed-allowed", 1);
      conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, base.getAbsolutePath());
      MiniDFSCluster c = new MiniDFSCluster.Builder(conf, base)
          .numDataNodes(1)
          .nameNodePort(0)
          .nameNodeHttpPort(0)
          .hosts(new String[] {"127.0.0.1"})
          .format(true)
          .build();
      c.waitActive();
      cluster = c;
      uri = "hdfs://127.0.0.1:" + c.getNameNodePort();
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        c.shutdown(true);
        deleteQuietly(base);
      }, "minihdfs-shutdown"));
    } catch (IOException e) {
      throw new UncheckedIOException("Could not start the HDFS minicluster", e);
    }
  }

  private static void deleteQuietly(File f) {
    File[] children = f.listFiles();
    if (children != null) {
      for (File c : children) {
        deleteQuietly(c);
      }
    }
    f.delete();
  }
}
