"""decompress(format="onnx-compressed") checked by the ONNX project's own tools: the model that
onnx.helper builds here is compressed on Spark, and its runnable compressed .onnx passes
onnx.checker's full check (shape inference included), keeps the model's opset, stores no dense
copy of the compressed weights, and gives in the Python ONNX Runtime exactly the outputs of the
dense rebuild."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import sparticle


def tiny_model(path, opset: int) -> None:
    """y = MatMul(Relu(MatMul(x, w1) + b1), w2), with an embedding table gathered by ids."""
    rng = np.random.default_rng(3)
    w1 = (rng.standard_normal((96, 128)) * 0.05).astype(np.float32)
    b1 = (rng.standard_normal(128) * 0.01).astype(np.float32)
    w2 = (rng.standard_normal((128, 64)) * 0.05).astype(np.float32)
    emb = (rng.standard_normal((500, 96)) * 0.1).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["emb", "ids"], ["x"], name="/embeddings/Gather"),
        helper.make_node("MatMul", ["x", "w1"], ["h0"], name="/layer.0/MatMul"),
        helper.make_node("Add", ["h0", "b1"], ["h1"], name="/layer.0/Add"),
        helper.make_node("Relu", ["h1"], ["h2"], name="/layer.0/Relu"),
        helper.make_node("MatMul", ["h2", "w2"], ["y"], name="/layer.1/MatMul"),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 7])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 7, 64])],
        [numpy_helper.from_array(a, n) for n, a in
         (("emb", emb), ("w1", w1), ("b1", b1), ("w2", w2))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="sparticle-pytest")
    model.ir_version = 7
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))


def run(path) -> np.ndarray:
    ids = np.array([[1, 5, 42, 499, 0, 7, 250]], dtype=np.int64)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"ids": ids})[0]


@pytest.mark.parametrize("opset,options", [
    (11, {"bits": 4}),
    (17, {"bits": 3, "scope": "channel", "codebook_precision": "F16"}),
    (17, {"bits": 4, "method": "uniform", "scope": "block", "block_size": 32}),
    (13, {"bits": 4, "scope": "block", "outliers": 0.01}),
], ids=["kmeans-group-opset11", "kmeans-channel-3bit", "uniform-block32", "kmeans-block-outliers"])
def test_runnable_model_passes_the_onnx_checker_and_runs_as_the_dense_rebuild(
        spark, tmp_path, opset, options):
    (tmp_path / "src").mkdir()
    src = tmp_path / "src" / "tiny.onnx"
    tiny_model(src, opset)
    sparticle.compress(spark, str(src), str(tmp_path / "c"), min_elements=1000, **options)
    sparticle.decompress(spark, str(tmp_path / "c"), str(tmp_path / "dense"))
    result = sparticle.decompress(spark, str(tmp_path / "c"), str(tmp_path / "run"),
                                  format="onnx-compressed")
    assert "kept_dense" not in result
    runnable = tmp_path / "run" / "tiny.onnx"
    onnx.checker.check_model(str(runnable), full_check=True)
    model = onnx.load(str(runnable))
    assert [(o.domain, o.version) for o in model.opset_import] == [("", opset)]
    names = {i.name for i in model.graph.initializer}
    assert {"emb", "w1", "w2"}.isdisjoint(names)
    assert "b1" in names  # too small to compress: kept as it was
    assert np.array_equal(run(tmp_path / "dense" / "tiny.onnx"), run(runnable))
    assert runnable.stat().st_size < 0.3 * src.stat().st_size


def test_an_unknown_format_is_a_config_error(spark, tmp_path):
    with pytest.raises(sparticle.SparticleError, match="must be onnx, onnx-compressed or safetensors"):
        sparticle.decompress(spark, str(tmp_path / "c"), str(tmp_path / "out"), format="gguf")
