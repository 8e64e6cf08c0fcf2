"""Sparticle from Python: k-means weight sharing for neural-network checkpoints.

On a PySpark session with the Sparticle job jar attached (``spark.jars``)::

    import sparticle
    report = sparticle.compress(spark, "s3a://models/llama", "s3a://models/llama-4bit", bits=4)
    print(report["totals"]["ratio"], report["totals"]["sqnr_db"])
    sparticle.verify(spark, "s3a://models/llama-4bit")

Without Spark or a JVM (numpy only)::

    weights = sparticle.load("/models/llama-4bit")          # {name: numpy array}

Options of ``compress`` and ``inspect`` are the keys of the YAML job config (README, "Job
config"); a keyword's ``_`` stands for ``-`` and ``__`` for a nesting dot
(``codebook_precision="F16"``, ``kmeans__tolerance=1e-7``), or pass dotted keys as
``**{"kmeans.tolerance": 1e-7}``. They are checked by the same key table as the YAML.
"""

from __future__ import annotations

from typing import Any

from . import _spark
from ._load import load, manifest
from .errors import (CheckpointError, ConfigError, SparkSetupError, SparticleError,
                     SparticleIOError)

__version__ = "0.1.0"

__all__ = ["compress", "decompress", "verify", "inspect", "load", "manifest", "jar_version",
           "SparticleError", "CheckpointError", "ConfigError", "SparticleIOError",
           "SparkSetupError", "__version__"]


def compress(spark, input: str, output: str, bits: int | None = None, config: str | None = None,
             overwrite: bool = False, **options: Any) -> dict:
    """Compresses the checkpoint ``input`` into the directory ``output``.

    Args:
      spark: a classic SparkSession (not Spark Connect) with the job jar attached.
      input: a safetensors file, a directory with one or with ``model.safetensors.index.json``,
        an index file, or an ONNX model; any Hadoop path (``file:``, ``hdfs:``, ``s3a:``, ...).
      output: the output directory; must be empty unless ``overwrite`` (the leftover of a
        failed run of the same command is replaced without it).
      bits: code width 1..8; default: the config's ``bits``, else 4.
      config: path of a YAML job config (any Hadoop path); options are laid over it.
      **options: config keys (see the module doc), e.g. ``grouping="tensor"``,
        ``non_finite="keep-dense"``, ``rules=[{"match": ".*embed.*", "keep-dense": True}]``.

    Returns:
      The report, as ``report.json`` holds it (``totals``, ``tensors``, ``groups``, ...).
    """
    if bits is not None:
        options = {"bits": bits, **options}
    cls, jvm, jsession = _spark.api(spark)
    return _spark.invoke(cls, "compress", jsession, str(input), str(output), config,
                         _spark.java_map(jvm, options), bool(overwrite))


def decompress(spark, input: str, output: str, overwrite: bool = False,
               format: str | None = None) -> dict:
    """Rebuilds the original checkpoint files from the compressed checkpoint ``input``.

    ``format``: ``"onnx"``, ``"onnx-compressed"`` (a runnable .onnx whose weights stay codes
    and codebooks, computed in its graph) or ``"safetensors"``; default: the source's. Returns
    ``{output, files, params, bytes, seconds, bytes_read}``, and for ``onnx-compressed``
    ``kept_dense`` (tensor name to why) when some encoded tensors had to be written dense.
    """
    cls, _, jsession = _spark.api(spark)
    return _spark.invoke(cls, "decompress", jsession, str(input), str(output), format,
                         bool(overwrite))


def verify(spark, input: str, against: str | None = None) -> dict:
    """Checks a compressed checkpoint (``_SUCCESS``, manifest, sizes, CRC-32C, every tensor), and
    with ``against`` (the original checkpoint) that it is exactly what compressing it gives.

    Returns ``{dir, files, bytes, tensors, against}``; raises CheckpointError naming the first
    problem's file and tensor.
    """
    cls, _, jsession = _spark.api(spark)
    return _spark.invoke(cls, "verify", jsession, str(input),
                         None if against is None else str(against))


def inspect(spark, input: str, bits: int | None = None, config: str | None = None,
            **options: Any) -> dict:
    """What a checkpoint holds, without running a Spark job.

    For a compressed checkpoint: ``{"kind": "compressed", "manifest": ..., "ratio": ...}``. For
    an input checkpoint: what ``compress`` would do with these ``bits``, ``config`` and options:
    ``{"kind": "input", "tensors": [{name, dtype, shape, group, bits}], "groups": [...],
    "estimated_ratio": ...}``.
    """
    if bits is not None:
        options = {"bits": bits, **options}
    cls, jvm, jsession = _spark.api(spark)
    return _spark.invoke(cls, "inspect", jsession, str(input), config,
                         _spark.java_map(jvm, options))


def jar_version(spark) -> str:
    """The version of the Sparticle jar on the session's driver."""
    cls, _, _ = _spark.api(spark)
    return cls.version()
