# Databricks notebook source
# MAGIC %md
# MAGIC # Sparticle: compress a checkpoint, show the summary, verify it
# MAGIC
# MAGIC Widgets: `input` (a safetensors or ONNX checkpoint: `/Volumes/...`, `s3://...`, `abfss://...`),
# MAGIC `output` (a directory, empty or the leftover of a failed run), `bits` (1..8).
# MAGIC
# MAGIC Needs a cluster in **dedicated (single user) access mode** on Databricks Runtime 17.3 LTS
# MAGIC (Spark 4.0, Scala 2.13, JDK 17) with two libraries: the Sparticle job jar and the `sparticle`
# MAGIC Python wheel (see the repository README, "Python, Databricks and Airflow"). Serverless and
# MAGIC standard (shared) access mode run Spark Connect, which has no JVM gateway: use the JAR task
# MAGIC of `databricks.yml` there.
# MAGIC
# MAGIC Outside Databricks, `python sparticle_compress.py` runs the same cells on a local SparkSession,
# MAGIC with the widgets taken from `SPARTICLE_INPUT`, `SPARTICLE_OUTPUT`, `SPARTICLE_BITS` and the jar
# MAGIC from `SPARTICLE_JAR`.

# COMMAND ----------

import os

try:
    dbutils  # noqa: F821  (defined by Databricks)
except NameError:
    # Plain Python: widgets read from the environment, a local session with the jar attached.
    class _EnvWidgets:
        def text(self, name, default="", label=None):
            pass

        def dropdown(self, name, default, choices, label=None):
            pass

        def get(self, name):
            value = os.environ.get("SPARTICLE_" + name.upper(), "")
            if not value:
                raise SystemExit(f"Set SPARTICLE_{name.upper()} (the notebook's '{name}' widget)")
            return value

    class _DbUtils:
        widgets = _EnvWidgets()

    dbutils = _DbUtils()

    def display(obj):  # noqa: A001  (Databricks' display, in plain text)
        obj.show(truncate=False) if hasattr(obj, "show") else print(obj)

    from pyspark.sql import SparkSession

    _here = os.path.dirname(os.path.abspath(__file__))
    _jar = os.environ.get("SPARTICLE_JAR") or os.path.join(
        _here, "..", "..", "spark-job", "target", "sparticle-spark-job-0.1.0-SNAPSHOT.jar")
    spark = (SparkSession.builder.master(os.environ.get("SPARTICLE_MASTER", "local[2]"))
             .appName("sparticle notebook").config("spark.jars", _jar)
             .config("spark.ui.enabled", "false").getOrCreate())

# COMMAND ----------

dbutils.widgets.text("input", "", "Input checkpoint")
dbutils.widgets.text("output", "", "Output directory")
dbutils.widgets.dropdown("bits", "4", [str(b) for b in range(1, 9)], "Bits")

input_path = dbutils.widgets.get("input")
output_path = dbutils.widgets.get("output")
bits = int(dbutils.widgets.get("bits"))

# COMMAND ----------

import sparticle

report = sparticle.compress(spark, input_path, output_path, bits=bits)
totals = report["totals"]
print(f"sparticle {sparticle.__version__}: {input_path} -> {output_path}")
print(f"{totals['params']:,} params ({totals['compressed_params']:,} compressed) at {bits} bits: "
      f"{totals['input_bytes']:,} -> {totals['output_bytes']:,} bytes, ratio {totals['ratio']:.2f}x, "
      f"SQNR {totals['sqnr_db']:.2f} dB, {totals['seconds']:.1f} s")

# COMMAND ----------

display(spark.createDataFrame(
    [(g["name"], g["bits"], len(g["tensors"]), float(g["sqnr_db"])) for g in report["groups"]],
    "group string, bits int, tensors int, sqnr_db double"))

# COMMAND ----------

result = sparticle.verify(spark, output_path, against=input_path)
print(f"verified: {result['files']} files, {result['bytes']:,} bytes, {result['tensors']} tensors "
      f"match {result['against']}")
