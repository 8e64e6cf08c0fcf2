"""Shared fixtures: the repository, the built job jar, one local[2] SparkSession with it, and
checkpoints written here in numpy (so every dtype, shape and tail length is chosen on purpose)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
JAR = Path(os.environ.get("SPARTICLE_JAR", ROOT / "spark-job/target/sparticle-spark-job-0.1.0-SNAPSHOT.jar"))


def spark_home() -> Path:
    """The pip pyspark package: a Spark distribution with bin/spark-submit and jars/."""
    import pyspark
    return Path(pyspark.__file__).parent


@pytest.fixture(scope="session")
def jar() -> Path:
    if not JAR.is_file():
        pytest.fail(f"{JAR} is missing: build it with `mvn -B -DskipTests -pl spark-job -am package` "
                    "(python/run-tests.sh does)")
    return JAR


@pytest.fixture(scope="session")
def spark(jar):
    from pyspark.sql import SparkSession
    s = (SparkSession.builder.master("local[2]").appName("sparticle-pytest")
         .config("spark.jars", str(jar))
         .config("spark.ui.enabled", "false")
         .config("spark.driver.host", "127.0.0.1")
         .config("spark.driver.bindAddress", "127.0.0.1")
         .getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


def write_safetensors(path: Path, tensors: dict, metadata: dict | None = None) -> None:
    """tensors: name -> (dtype name, numpy array of that dtype's storage; BF16 as uint16 bits)."""
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, a) in tensors.items():
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-(8 + len(h)) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)


def weights(rng, shape, dtype: str) -> np.ndarray:
    """Heavy-tailed weights like a trained layer's, in the dtype's storage (BF16: bits)."""
    w = (rng.standard_t(4, size=shape) * 0.02).astype(np.float32)
    if dtype == "F32":
        return w
    if dtype == "F16":
        return w.astype(np.float16)
    return (w.view(np.uint32) >> 16).astype(np.uint16)  # truncation is fine for test input


def make_checkpoint(directory: Path, dtype: str, seed: int = 0) -> Path:
    """Two layers of one module type (a shared codebook with per-tensor scales), a tensor whose
    element count is not a multiple of 8, and dense tensors of other dtypes."""
    rng = np.random.default_rng(seed)
    t = {
        "model.embed.weight": (dtype, weights(rng, (96, 64), dtype)),
        "model.layers.0.mlp.up_proj.weight": (dtype, weights(rng, (128, 64), dtype)),
        "model.layers.1.mlp.up_proj.weight": (dtype, weights(rng, (128, 64), dtype) * 3),
        "model.layers.0.odd.weight": (dtype, weights(rng, (67, 65), dtype)),
        "model.layers.0.norm.weight": (dtype, weights(rng, (64,), dtype)),
        "model.position_ids": ("I64", np.arange(37, dtype="<i8").reshape(1, 37)),
        "model.mask": ("BOOL", rng.integers(0, 2, size=(5, 3)).astype(np.bool_)),
    }
    if dtype == "BF16":
        # *3 on bits is not a scale; keep layer 1 a plain BF16 tensor of larger values instead
        t["model.layers.1.mlp.up_proj.weight"] = (dtype, weights(rng, (128, 64), dtype))
    write_safetensors(directory / "model.safetensors", t, {"format": "pt"})
    return directory


def read_safetensors(path: Path) -> dict:
    """name -> (dtype, shape, raw bytes), straight from the file."""
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        out[name] = (e["dtype"], tuple(e["shape"]), data[8 + n + b:8 + n + end])
    return out


def sparticle_cli(*args, env=None, check=True, timeout=600) -> subprocess.CompletedProcess:
    """Runs submit/sparticle; with SPARK_HOME in env it goes through spark-submit."""
    p = subprocess.run([str(ROOT / "submit/sparticle"), *map(str, args)], env=env,
                       capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"submit/sparticle {' '.join(map(str, args))} exited {p.returncode}\n"
                             f"stdout:\n{p.stdout[-4000:]}\nstderr:\n{p.stderr[-4000:]}")
    return p


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
