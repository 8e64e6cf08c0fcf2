"""The py4j layer over io.sparticle.api.PythonApi: strings in, JSON out."""

from __future__ import annotations

import json
from typing import Any, Mapping

from .errors import (CheckpointError, ConfigError, SparkSetupError, SparticleError,
                     SparticleIOError)

API_CLASS = "io.sparticle.api.PythonApi"
JAR_NAME = "sparticle-spark-job-0.1.0-SNAPSHOT.jar"

_ATTACH = (
    "Attach the Sparticle job jar ({jar}, built by `mvn -B -DskipTests -pl spark-job -am package` "
    "into spark-job/target/) when the session starts: "
    "SparkSession.builder.config('spark.jars', '/path/to/{jar}'), or `pyspark --jars` / "
    "`spark-submit --jars`, or on Databricks install it as a cluster library.")


def _jvm(spark):
    """The session's py4j JVM view and its Java SparkSession, or a clear error."""
    try:
        jvm = spark._jvm
        jsession = spark._jsparkSession
    except Exception:  # Spark Connect raises its own error on JVM attributes
        jvm = jsession = None
    if jvm is None or jsession is None:
        raise SparkSetupError(
            f"{type(spark).__module__}.{type(spark).__name__} has no JVM gateway: Sparticle runs "
            "inside the Spark driver JVM, which a Spark Connect session (Databricks serverless, "
            "shared access mode, `SparkSession.builder.remote(...)`) does not expose. Use a classic "
            "session (Databricks: a cluster in dedicated/single-user access mode), or run the job "
            "jar as a JAR task or with spark-submit (`submit/sparticle`).")
    return jvm, jsession


def api(spark):
    """The PythonApi class on the session's JVM; raises SparkSetupError if the jar is missing."""
    from py4j.java_gateway import JavaClass

    jvm, jsession = _jvm(spark)
    cls = jvm
    for part in API_CLASS.split("."):
        cls = getattr(cls, part)
    if not isinstance(cls, JavaClass):
        raise SparkSetupError(
            f"Class {API_CLASS} is not on the Spark driver's classpath: the Sparticle job jar is "
            f"not attached to this session. " + _ATTACH.format(jar=JAR_NAME))
    return cls, jvm, jsession


def option_key(name: str) -> str:
    """Python keyword to config key: ``codebook_precision`` -> ``codebook-precision``,
    ``kmeans__tolerance`` -> ``kmeans.tolerance``; dotted keys pass unchanged."""
    return name.replace("__", ".").replace("_", "-")


def option_value(value: Any) -> str | None:
    """A config value as the string the Java side reads as JSON (else as a plain string)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


def java_map(jvm, options: Mapping[str, Any]):
    m = jvm.java.util.LinkedHashMap()
    for k, v in options.items():
        m.put(option_key(k), option_value(v))
    return m


def invoke(cls, method: str, *args) -> dict:
    """Calls PythonApi.method(*args) and parses its JSON answer; a Java failure becomes the
    matching SparticleError, with the Java message."""
    try:
        answer = getattr(cls, method)(*args)
    except Exception as e:  # py4j's Py4JJavaError, or PySpark's converted form of it
        raise _translate(cls, e) from e
    return json.loads(answer)


def _java_throwable(e):
    java = getattr(e, "java_exception", None)  # py4j.protocol.Py4JJavaError
    if java is None:
        java = getattr(e, "_origin", None)  # pyspark.errors.exceptions.captured.CapturedException
    return java


def _translate(cls, e: Exception) -> Exception:
    java = _java_throwable(e)
    if java is None:
        return e if isinstance(e, SparticleError) else SparticleError(str(e))
    d = json.loads(cls.describe(java))
    message, code = d["message"], d["exit_code"]
    if code == "BAD_INPUT":
        return CheckpointError(message, reason=d["reason"],
                               file=d.get("file"), tensor=d.get("tensor"), exit_code=code)
    if code == "USAGE":
        return ConfigError(message)
    if code == "IO_FAILURE":
        return SparticleIOError(message)
    return SparticleError(message, exit_code=code)
