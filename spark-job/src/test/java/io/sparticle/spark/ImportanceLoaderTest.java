package io.sparticle.spark;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class ImportanceLoaderTest {
  /** The spark-submit advice names the versions the project builds with. */
  @Test
  void adviceNamesThePomsVersions() throws Exception {
    String pom = Files.readString(Path.of("..", "pom.xml"));
    assertTrue(pom.contains("<onnxruntime.version>" + ImportanceLoader.ONNX_RUNTIME_VERSION
        + "</onnxruntime.version>"), "onnxruntime.version");
    assertTrue(pom.contains("<djl.version>" + ImportanceLoader.DJL_VERSION + "</djl.version>"),
        "djl.version");
  }
}
