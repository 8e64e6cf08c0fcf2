"""The PySpark API: options through the Java key table, reports, and errors carrying the Java
message, reason and exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import sparticle

from conftest import ROOT, make_checkpoint, write_safetensors


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("api") / "in", "BF16")


def test_compress_returns_report_json(spark, checkpoint, tmp_path):
    out = tmp_path / "c"
    report = sparticle.compress(spark, str(checkpoint), str(out), bits=3)
    assert report == json.loads((out / "report.json").read_text())
    assert (out / "_SUCCESS").exists()
    assert {g["bits"] for g in report["groups"]} == {3}
    assert report["totals"]["ratio"] > 3


def test_options_use_the_config_keys(spark, checkpoint, tmp_path):
    out = tmp_path / "c"
    report = sparticle.compress(
        spark, str(checkpoint), str(out), bits=2, codebook_precision="BF16", grouping="tensor",
        kmeans__max_iterations=7, **{"kmeans.seed": 3, "min-elements": 5000},
        rules=[{"match": "model\\.embed\\.weight", "keep-dense": True}])
    m = json.loads((out / "manifest.json").read_text())
    assert {g["codebook_precision"] for g in m["groups"]} == {"BF16"}
    enc = {t["name"]: t["encoding"] for t in m["tensors"]}
    assert enc["model.embed.weight"] == "dense"  # the rule
    assert enc["model.layers.0.odd.weight"] == "dense"  # 4355 < min-elements 5000
    assert enc["model.layers.0.mlp.up_proj.weight"] != "dense"
    assert len(m["groups"]) == 2  # grouping: tensor, one codebook per tensor
    assert all(g["kmeans_iterations"] <= 7 for g in report["groups"])


def test_options_override_the_config_file(spark, checkpoint, tmp_path):
    cfg = tmp_path / "job.yaml"
    cfg.write_text("bits: 6\ngrouping: tensor\ncodebook-precision: F16\n")
    out = tmp_path / "c"
    sparticle.compress(spark, str(checkpoint), str(out), config=str(cfg), bits=2)
    m = json.loads((out / "manifest.json").read_text())
    assert {g["bits"] for g in m["groups"]} == {2}  # the option wins
    assert {g["codebook_precision"] for g in m["groups"]} == {"F16"}  # the file's
    assert len(m["groups"]) == 4  # the file's grouping: tensor
    out2 = tmp_path / "c2"
    sparticle.compress(spark, str(checkpoint), str(out2), config=str(cfg))
    assert {g["bits"] for g in json.loads((out2 / "manifest.json").read_text())["groups"]} == {6}


@pytest.mark.parametrize("options,message", [
    ({"bits": 12}, "Cannot set bits to 12: must be between 1 and 8"),
    ({"bitz": 3}, "Unknown config key 'bitz'; known keys: bits, "),
    ({"kmeans__tol": 1}, "Unknown config key 'kmeans.tol'; known keys: fit-threads, max-iterations"),
    ({"codebook_precision": "F8"}, "Cannot set codebook-precision to F8: must be one of F32, F16, BF16"),
    ({"kmeans__tolerance": 2.0}, "Cannot set kmeans.tolerance to 2.0: must be > 0 and < 1"),
    ({"non_finite": "skip"}, "Cannot set non-finite to skip: must be one of error, keep-dense"),
    ({"min_rank": "two"}, "Config key 'min-rank' must be an integer"),
])
def test_bad_options_raise_config_error_before_any_work(spark, checkpoint, tmp_path, options, message):
    out = tmp_path / "c"
    with pytest.raises(sparticle.ConfigError) as e:
        sparticle.compress(spark, str(checkpoint), str(out), **options)
    assert str(e.value).startswith(message)
    assert e.value.exit_code == "USAGE" and isinstance(e.value, ValueError)
    assert not out.exists()


def test_non_empty_output_needs_overwrite(spark, checkpoint, tmp_path):
    out = tmp_path / "c"
    sparticle.compress(spark, str(checkpoint), str(out), bits=2)
    with pytest.raises(sparticle.ConfigError, match="holds a committed result; pass --overwrite to replace it"):
        sparticle.compress(spark, str(checkpoint), str(out), bits=3)
    sparticle.compress(spark, str(checkpoint), str(out), bits=3, overwrite=True)
    assert {g["bits"] for g in json.loads((out / "manifest.json").read_text())["groups"]} == {3}


def test_bad_input_raises_checkpoint_error_with_reason(spark, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes((1000).to_bytes(8, "little") + b"{}" + b" " * 8)
    with pytest.raises(sparticle.CheckpointError) as e:
        sparticle.compress(spark, str(bad), str(tmp_path / "c"))
    assert e.value.reason == "HEADER_PAST_EOF" and e.value.exit_code == "BAD_INPUT"
    assert str(e.value).endswith("header length 1000 runs past the end of the file: 8 + 1000 > 18 bytes")
    assert e.value.file.endswith("bad.safetensors")


def test_non_finite_weight_names_the_tensor(spark, tmp_path):
    import numpy as np
    w = np.ones((64, 64), np.float32)
    w[3, 4] = np.nan
    write_safetensors(tmp_path / "in/model.safetensors", {"w": ("F32", w)})
    with pytest.raises(sparticle.CheckpointError) as e:
        sparticle.compress(spark, str(tmp_path / "in"), str(tmp_path / "c"))
    assert e.value.reason == "NON_FINITE_VALUE" and e.value.tensor == "w"
    assert "tensor 'w': 1 of 4096 values are NaN or infinite" in str(e.value)
    report = sparticle.compress(spark, str(tmp_path / "in"), str(tmp_path / "c2"), non_finite="keep-dense")
    assert [k["name"] for k in report["kept_dense"]] == ["w"]


def test_missing_input_is_an_io_error(spark, tmp_path):
    with pytest.raises(sparticle.SparticleIOError) as e:
        sparticle.compress(spark, str(tmp_path / "nope"), str(tmp_path / "c"))
    assert e.value.exit_code == "IO_FAILURE" and isinstance(e.value, OSError)
    assert "does not exist" in str(e.value)


def test_decompress_verify_inspect(spark, checkpoint, tmp_path):
    out, dec = tmp_path / "c", tmp_path / "d"
    sparticle.compress(spark, str(checkpoint), str(out), bits=4)
    r = sparticle.decompress(spark, str(out), str(dec))
    assert r["files"] == 1 and r["params"] > 0 and (dec / "_SUCCESS").exists()
    v = sparticle.verify(spark, str(out), against=str(checkpoint))
    assert v["tensors"] == 7 and v["against"] is not None
    i = sparticle.inspect(spark, str(out))
    assert i["kind"] == "compressed"
    assert i["manifest"] == json.loads((out / "manifest.json").read_text())
    assert i["ratio"] == pytest.approx(i["input_bytes"] / i["output_bytes"])
    plan = sparticle.inspect(spark, str(checkpoint), bits=3, grouping="tensor")
    assert plan["kind"] == "input" and {g["bits"] for g in plan["groups"]} == {3}
    assert len(plan["groups"]) == 4
    assert sparticle.jar_version(spark) == sparticle.__version__


def test_verify_raises_on_a_corrupt_checkpoint(spark, checkpoint, tmp_path):
    out = tmp_path / "c"
    sparticle.compress(spark, str(checkpoint), str(out), bits=4)
    part = out / "part-00001-of-00001.safetensors"
    b = bytearray(part.read_bytes())
    b[-1] ^= 1
    part.write_bytes(bytes(b))
    with pytest.raises(sparticle.CheckpointError) as e:
        sparticle.verify(spark, str(out))
    assert e.value.reason == "INVALID_COMPRESSED"
    assert "part-00001-of-00001.safetensors has CRC-32C" in str(e.value)


def test_verify_against_another_input_fails(spark, checkpoint, tmp_path):
    out = tmp_path / "c"
    sparticle.compress(spark, str(checkpoint), str(out), bits=4)
    other = make_checkpoint(tmp_path / "other", "BF16", seed=99)
    with pytest.raises(sparticle.CheckpointError) as e:
        sparticle.verify(spark, str(out), against=str(other))
    assert e.value.reason == "DOES_NOT_MATCH_INPUT"


def test_session_without_the_jar_says_how_to_attach_it(tmp_path):
    """A fresh driver JVM without spark.jars (a separate process: one SparkContext per JVM)."""
    code = textwrap.dedent("""
        from pyspark.sql import SparkSession
        import sparticle
        spark = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
                 .config("spark.driver.host", "127.0.0.1").getOrCreate())
        try:
            sparticle.compress(spark, "in", "out")
        except sparticle.SparkSetupError as e:
            print("ERROR:", e)
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "ERROR: Class io.sparticle.api.PythonApi is not on the Spark driver's classpath" in p.stdout
    assert "spark.jars" in p.stdout and "sparticle-spark-job-0.1.0-SNAPSHOT.jar" in p.stdout


def test_spark_connect_session_says_what_to_do(tmp_path):
    """A real Spark Connect session (a local Connect server, pyspark[connect]) has no JVM gateway."""
    code = textwrap.dedent("""
        from pyspark.sql import SparkSession
        import sparticle
        spark = (SparkSession.builder.remote("local[1]").config("spark.ui.enabled", "false")
                 .getOrCreate())
        assert spark.range(3).count() == 3  # the session works; only Sparticle cannot use it
        try:
            sparticle.compress(spark, "in", "out")
        except sparticle.SparkSetupError as e:
            print("ERROR:", e)
        spark.stop()
    """)
    p = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True,
                       timeout=300, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert ("ERROR: pyspark.sql.connect.session.SparkSession has no JVM gateway: Sparticle runs "
            "inside the Spark driver JVM, which a Spark Connect session") in p.stdout
    assert "Use a classic session" in p.stdout and "JAR task" in p.stdout
