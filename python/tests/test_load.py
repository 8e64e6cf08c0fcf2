"""sparticle.load against what `decompress` writes, byte for byte, and every refusal."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import sparticle
from sparticle import _crc32c
from sparticle._load import FORMAT_VERSIONS, unpack_lsb

from conftest import make_checkpoint, read_safetensors, weights, write_safetensors

NEXT_VERSION = max(FORMAT_VERSIONS) + 1  # a version this reader does not know

# (dtype, bits, codebook precision): every dtype, widths from 1 to 8, every codebook precision.
CASES = [("F32", 1, "F32"), ("F32", 5, "F16"), ("F32", 8, "F32"),
         ("F16", 2, "F32"), ("F16", 4, "BF16"), ("F16", 7, "F32"),
         ("BF16", 3, "F32"), ("BF16", 4, "F16"), ("BF16", 6, "BF16")]


@pytest.mark.parametrize("dtype,bits,precision", CASES, ids=[f"{d}-{b}bit-cb{p}" for d, b, p in CASES])
def test_load_equals_decompress_byte_for_byte(spark, tmp_path, dtype, bits, precision):
    src = make_checkpoint(tmp_path / "in", dtype, seed=bits)
    out, dec = tmp_path / "c", tmp_path / "d"
    report = sparticle.compress(spark, str(src), str(out), bits=bits, codebook_precision=precision,
                                min_elements=1000)
    assert {t["name"] for t in report["tensors"]} == {
        "model.embed.weight", "model.layers.0.mlp.up_proj.weight",
        "model.layers.1.mlp.up_proj.weight", "model.layers.0.odd.weight"}
    m = json.loads((out / "manifest.json").read_text())
    assert {g["bits"] for g in m["groups"]} == {bits}
    assert {g["codebook_precision"] for g in m["groups"]} == {precision}
    sparticle.decompress(spark, str(out), str(dec))
    expected = read_safetensors(dec / "model.safetensors")

    loaded = sparticle.load(out)
    assert list(loaded) == list(expected)  # every tensor, in source order
    for name, (st_dtype, shape, raw) in expected.items():
        a = loaded[name]
        assert a.shape == shape, name
        assert a.tobytes() == raw, f"{name} ({st_dtype}) differs from decompress"
    assert loaded["model.embed.weight"].dtype == {"F32": np.float32, "F16": np.float16,
                                                  "BF16": np.uint16}[dtype]
    assert loaded["model.position_ids"].dtype == np.int64 and loaded["model.mask"].dtype == np.bool_

    if dtype == "BF16":
        widened = sparticle.load(out, bf16="float32")
        for name, (st_dtype, shape, raw) in expected.items():
            if st_dtype == "BF16":
                w = widened[name]
                assert w.dtype == np.float32
                assert (w.view(np.uint32) >> 16).astype("<u2").tobytes() == raw
                assert not (w.view(np.uint32) & 0xFFFF).any()  # widening is exact


# Format version 2's methods (FORMAT.md 2.3 to 2.7), each through the Java job and back.
METHODS_V2 = [
    ("BF16", dict(scope="channel", codebook_precision="F16", bits=4)),
    ("F32", dict(scope="channel", codebook_precision="step:0.0005", bits=3)),
    ("F16", dict(grouping="tensor", codebook_precision="step:0.001", bits=4)),
    ("BF16", dict(method="uniform", scope="channel", bits=8)),
    ("F16", dict(method="uniform", scope="block", block_size=16, bits=4)),
    ("F32", dict(method="uniform", scope="tensor", scale_precision="F32", bits=2)),
]


@pytest.mark.parametrize("dtype,options", METHODS_V2,
                         ids=[f"{d}-" + "-".join(f"{k}={v}" for k, v in o.items()) for d, o in METHODS_V2])
def test_version_2_methods_load_equal_decompress(spark, tmp_path, dtype, options):
    src = make_checkpoint(tmp_path / "in", dtype, seed=len(options))
    out, dec = tmp_path / "orig", tmp_path / "d"
    sparticle.compress(spark, str(src), str(out), min_elements=1000, **options)
    m = json.loads((out / "manifest.json").read_text())
    assert m["format_version"] == 2
    assert {g["method"] for g in m["groups"]} == {options.get("method", "kmeans")}
    sparticle.decompress(spark, str(out), str(dec))
    expected = read_safetensors(dec / "model.safetensors")
    loaded = sparticle.load(out)
    assert list(loaded) == list(expected)
    for name, (st_dtype, shape, raw) in expected.items():
        assert loaded[name].shape == shape, name
        assert loaded[name].tobytes() == raw, f"{name} ({st_dtype}) differs from decompress"


# kmeans with scope block (FORMAT.md 2.5b, feature block-scales) and outliers (2.7, feature
# outliers), each through the Java job and back.
FEATURES = [
    ("BF16", dict(scope="block")),  # defaults: scale-precision Q7, block-size 32
    ("F32", dict(scope="block", scale_precision="F16", block_size=16, bits=3, outliers=0.01)),
    ("BF16", dict(outliers=0.005)),
    ("F16", dict(method="uniform", outliers=0.003)),
]
BIG = "model.layers.2.mlp.down_proj.weight"  # 134,030 weights: 3 outlier segments, the last partial


def make_big_checkpoint(directory: Path, dtype: str, seed: int) -> Path:
    """make_checkpoint's tensors plus one of more than two 65,536-weight segments whose weight
    count is a multiple of neither 8 nor any block size."""
    make_checkpoint(directory, dtype, seed=seed)
    np_dtypes = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "BOOL": "?"}
    t = {name: (d, np.frombuffer(raw, np_dtypes[d]).reshape(shape))
         for name, (d, shape, raw) in read_safetensors(directory / "model.safetensors").items()}
    t[BIG] = (dtype, weights(np.random.default_rng(seed + 100), (130, 1031), dtype))
    write_safetensors(directory / "model.safetensors", t, {"format": "pt"})
    return directory


def as_float32(raw: bytes, dtype: str) -> np.ndarray:
    if dtype == "BF16":
        return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
    return np.frombuffer(raw, {"F32": "<f4", "F16": "<f2"}[dtype]).astype(np.float32)


@pytest.mark.parametrize("dtype,options", FEATURES,
                         ids=[f"{d}-" + "-".join(f"{k}={v}" for k, v in o.items()) for d, o in FEATURES])
def test_block_scales_and_outliers_load_equal_decompress(spark, tmp_path, dtype, options):
    src = make_big_checkpoint(tmp_path / "in", dtype, seed=len(options))
    out, dec = tmp_path / "orig", tmp_path / "d"
    sparticle.compress(spark, str(src), str(out), min_elements=1000, **options)
    m = json.loads((out / "manifest.json").read_text())
    assert m["format_version"] == 2
    block = options.get("scope") == "block"
    assert set(m["required_features"]) == ({"block-scales"} if block else set()) | (
        {"outliers"} if "outliers" in options else set())
    encoded = [t for t in m["tensors"] if t["encoding"] != "dense"]
    assert BIG in {t["name"] for t in encoded}
    for g in m["groups"]:
        if block:
            assert g["scope"] == "block" and g["block_size"] == options.get("block_size", 32)
            assert g["scale_precision"] == options.get("scale_precision", "Q7")
        assert g.get("outliers") == options.get("outliers")
    if block and "scale_precision" not in options:
        assert all(t["ladder_key"] == t["name"] + "::ladder" for t in encoded)

    sparticle.decompress(spark, str(out), str(dec))
    expected = read_safetensors(dec / "model.safetensors")
    loaded = sparticle.load(out)
    assert list(loaded) == list(expected)
    for name, (st_dtype, shape, raw) in expected.items():
        assert loaded[name].shape == shape, name
        assert loaded[name].tobytes() == raw, f"{name} ({st_dtype}) differs from decompress"

    if "outliers" in options:
        # The outliers are the weights above the threshold, back with their exact source bits.
        source = read_safetensors(src / "model.safetensors")
        for t in encoded:
            o = t["outliers"]
            assert o["count"] <= math.floor(options["outliers"] * math.prod(t["shape"])), t["name"]
            assert o["count"] > 0 or t["name"] != BIG
            w = as_float32(source[t["name"]][2], dtype)
            mask = np.abs(w) > np.float32(o["threshold"])
            assert int(mask.sum()) == o["count"], t["name"]
            flat_loaded = loaded[t["name"]].reshape(-1).view(f"<u{loaded[t['name']].itemsize}")
            flat_source = np.frombuffer(source[t["name"]][2], flat_loaded.dtype)
            assert np.array_equal(flat_loaded[mask], flat_source[mask]), t["name"]
        big = next(t for t in encoded if t["name"] == BIG)
        counts = np.frombuffer(read_safetensors(out / big["file"])[big["outliers"]["counts_key"]][2], "<u4")
        assert counts.size == 3 and (counts > 0).all()


@pytest.fixture(scope="module")
def featured(spark, tmp_path_factory):
    """A checkpoint that requires both features: kmeans block scales in a Q4 ladder, outliers."""
    base = tmp_path_factory.mktemp("featured")
    src = make_big_checkpoint(base / "in", "BF16", seed=7)
    out = base / "c"
    sparticle.compress(spark, str(src), str(out), min_elements=1000, scope="block",
                       scale_precision="Q4", outliers=0.01, bits=4)
    return out


def test_unknown_required_feature_is_refused(featured, tmp_path):
    m = json.loads((featured / "manifest.json").read_text())
    assert sorted(m["required_features"]) == ["block-scales", "outliers"]
    assert sparticle.load(featured)  # the two features this reader knows
    d = corrupt(featured, tmp_path, lambda m: m["required_features"].append("entropy-coding"))
    e = refused(d, r"manifest.json: requires feature 'entropy-coding' that this reader does not "
                   r"know \(it knows block-scales, outliers\); use a newer Sparticle")
    assert e.tensor is None


def first_encoded(m):
    return next(t for t in m["tensors"] if t["encoding"] != "dense")


@pytest.mark.parametrize("edit,match", [
    (lambda m: m["groups"][0].update(scale_precision="Q9"),
     r"group '.*' has scale_precision 'Q9' that this reader does not know for kmeans with scope "
     r"block \(it knows F16, F32, Q3, Q4, Q5, Q6, Q7, Q8\)"),
    (lambda m: m["groups"][0].update(scale_precision="Q5"),
     r"'[^']+::ladder' must be F32\[16\], found F32\[8\]"),
    (lambda m: first_encoded(m).pop("ladder_key"), r"'ladder_key' must be a string"),
    (lambda m: first_encoded(m).pop("outliers"), r"'outliers' must be an object"),
    (lambda m: first_encoded(m)["outliers"].update(count=first_encoded(m)["outliers"]["count"] - 1),
     r"'model.embed.weight::outlier_index' must be U16\[\d+\]"),
    (lambda m: first_encoded(m)["outliers"].update(threshold=-1),
     r"'outliers' must hold a non-negative integer 'count' and a non-negative 'threshold'"),
    (lambda m: first_encoded(m)["outliers"].update(values_key="nope"),
     r"tensor 'nope' named by the manifest is not in the file"),
    (lambda m: m["groups"][0].update(outliers="many"),
     r"'outliers' must be a fraction between 0 and 0.1"),
    (lambda m: m.update(required_features=[]),
     r"its groups use 'block-scales' but required_features does not list it"),
], ids=["scale-precision", "ladder-bits", "ladder-key", "outliers", "count", "threshold",
        "values-key", "fraction", "features-unlisted"])
def test_block_scales_and_outliers_are_checked(featured, tmp_path, edit, match):
    refused(corrupt(featured, tmp_path, edit), match)


def test_outliers_out_of_order_are_refused(featured, tmp_path):
    """An index not ascending within its segment is refused, not written somewhere."""
    m = json.loads((featured / "manifest.json").read_text())
    t = first_encoded(m)
    assert t["outliers"]["count"] >= 2
    d = corrupt(featured, tmp_path)
    part = d / t["file"]
    data = bytearray(part.read_bytes())
    n = int.from_bytes(data[:8], "little")
    entry = json.loads(data[8:8 + n])[t["outliers"]["index_key"]]
    at = 8 + n + entry["data_offsets"][0]
    data[at:at + 4] = data[at + 2:at + 4] + data[at:at + 2]  # swap the first two indices
    part.write_bytes(bytes(data))
    refused(d, r"tensor 'model.embed.weight': outlier 1 at element \d+ is out of order or past",
            check_crc=False)


def test_v2_per_tensor_parameters_are_checked(spark, tmp_path):
    src = make_checkpoint(tmp_path / "in", "F16")
    out = tmp_path / "orig"
    sparticle.compress(spark, str(src), str(out), min_elements=1000, method="uniform", bits=4)
    d = corrupt(out, tmp_path, lambda m: next(t for t in m["tensors"] if t["encoding"] != "dense")
                .update(zero_key="nope"))
    refused(d, r"tensor 'nope' named by the manifest is not in the file")
    d = corrupt(out, tmp_path / "x", lambda m: next(t for t in m["tensors"] if t["encoding"] != "dense")
                .pop("scale_key"))
    refused(d, r"'scale_key' must be a string")


def test_per_tensor_scales_are_used(spark, tmp_path):
    """Layers 0 and 1 share a codebook in RMS units; layer 1 is 3x larger, so a decoder that
    ignored the scale would give both the same magnitude."""
    src = make_checkpoint(tmp_path / "in", "F32")
    out = tmp_path / "c"
    sparticle.compress(spark, str(src), str(out), bits=4)
    m = json.loads((out / "manifest.json").read_text())
    scales = {t["name"]: t["scale"] for t in m["tensors"] if t["encoding"] != "dense"}
    l0, l1 = scales["model.layers.0.mlp.up_proj.weight"], scales["model.layers.1.mlp.up_proj.weight"]
    assert l1 / l0 == pytest.approx(3, rel=0.1)
    w = sparticle.load(out, ["model.layers.0.mlp.up_proj.weight", "model.layers.1.mlp.up_proj.weight"])
    r = np.abs(w["model.layers.1.mlp.up_proj.weight"]).mean() / np.abs(w["model.layers.0.mlp.up_proj.weight"]).mean()
    assert r == pytest.approx(3, rel=0.1)


def test_unpack_lsb_worked_example():
    # FORMAT.md 2.2: bits 3, codes 5, 1, 7 -> bytes 0xCD 0x01
    assert unpack_lsb(np.array([0xCD, 0x01], np.uint8), 3, 3).tolist() == [5, 1, 7]


@pytest.mark.parametrize("bits", range(1, 9))
def test_unpack_lsb_round_trip(bits):
    rng = np.random.default_rng(bits)
    for numel in (1, 7, 8, 9, 1000, 12345):
        codes = rng.integers(0, 1 << bits, numel)
        stream = np.zeros(numel * bits, np.uint8)
        for j in range(bits):  # the spec's definition, bit by bit
            stream[j::bits] = (codes >> j) & 1
        packed = np.packbits(stream, bitorder="little")
        assert packed.size == -(-numel * bits // 8)
        assert unpack_lsb(packed, numel, bits).tolist() == codes.tolist()


# ------------------------------------------------------------------ CRC-32C

def test_crc32c_known_value_every_implementation():
    assert set(_crc32c.IMPLEMENTATIONS) >= {"numpy"}
    for name in _crc32c.IMPLEMENTATIONS:
        assert _crc32c.crc32c(b"123456789", name) == 0xE3069283, name
        assert _crc32c.crc32c(b"", name) == 0, name


def test_crc32c_numpy_equals_native_on_large_data():
    rng = np.random.default_rng(5)
    data = rng.integers(0, 256, 3 * 4096 * 17 + 1234, dtype=np.uint8).tobytes()
    native = [n for n in _crc32c.IMPLEMENTATIONS if n != "numpy"]
    if not native:
        pytest.skip("no native CRC-32C package installed (python/requirements-test.txt has one)")
    want = _crc32c.crc32c(data, native[0])
    assert _crc32c.crc32c(data, "numpy") == want
    h = _crc32c.hasher("numpy")  # incremental, in uneven pieces
    for i in range(0, len(data), 100_003):
        h.update(data[i:i + 100_003])
    assert h.value() == want


# ------------------------------------------------------------------ refusals

@pytest.fixture(scope="module")
def compressed(spark, tmp_path_factory):
    """A checkpoint compressed into several parts (small output shards)."""
    base = tmp_path_factory.mktemp("compressed")
    src = make_checkpoint(base / "in", "F16")
    out = base / "c"
    sparticle.compress(spark, str(src), str(out), bits=4, output_shard_bytes=20000)
    return out


def parts(d):
    return sorted(f["name"] for f in json.loads((d / "manifest.json").read_text())["files"]
                  if f["name"].startswith("part-"))


def corrupt(compressed, tmp_path, edit=None):
    d = tmp_path / "c"
    shutil.copytree(compressed, d)
    if edit:
        m = json.loads((d / "manifest.json").read_text())
        edit(m)
        (d / "manifest.json").write_text(json.dumps(m))
    return d


def refused(d, match, **kw):
    with pytest.raises(sparticle.CheckpointError, match=match) as e:
        sparticle.load(d, **kw)
    assert e.value.reason == "INVALID_COMPRESSED" and e.value.exit_code == "BAD_INPUT"
    return e.value


@pytest.mark.parametrize("crc", sorted(_crc32c.IMPLEMENTATIONS))
def test_every_crc_implementation_accepts_the_manifest_checksums(compressed, crc):
    assert len(json.loads((compressed / "manifest.json").read_text())["files"]) >= 3
    assert sparticle.load(compressed, crc32c=crc).keys()


def test_no_success_marker(compressed, tmp_path):
    d = corrupt(compressed, tmp_path)
    (d / "_SUCCESS").unlink()
    refused(d, r"no _SUCCESS marker: the compressed checkpoint is incomplete or is not one")


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        sparticle.load(tmp_path / "nope")


@pytest.mark.parametrize("edit,match", [
    (lambda m: m.update(format_version=NEXT_VERSION),
     rf"manifest.json: format_version {NEXT_VERSION} is not supported \(this reader knows "
     rf"1..{NEXT_VERSION - 1}\); use a newer Sparticle"),
    (lambda m: m.update(required_features=["per-channel-codebooks"]),
     r"requires feature 'per-channel-codebooks' that this reader does not know"),
    (lambda m: m["groups"][0].update(method="awq"),
     r"group '.*' uses method 'awq' that this reader does not know \(it knows kmeans, uniform, gmm, "
     r"vq in format version 2\)"),
    (lambda m: m["groups"][0].update(scope="row"),
     r"group '.*' has scope 'row' that this reader does not know"),
    (lambda m: next(t for t in m["tensors"] if t["encoding"] != "dense").update(encoding="vq"),
     r"tensor 'model.embed.weight': unknown encoding 'vq'"),
    (lambda m: next(t for t in m["tensors"] if t["encoding"] != "dense").update(packing="ans"),
     r"tensor 'model.embed.weight': unknown packing 'ans'"),
    (lambda m: m["groups"][0].update(dim=2), r"dim 2; this reader knows"),
    (lambda m: m.update(format="other"), r"'format' is not \"sparticle\""),
    (lambda m: m["tensors"].append(dict(m["tensors"][0])), r"tensor '.*': listed twice"),
    (lambda m: m["tensors"][0].update(file="../x.safetensors"), r"is not among the manifest's files"),
    (lambda m: next(t for t in m["tensors"] if t["encoding"] != "dense").update(scale=-1.0),
     r"'scale' must be a positive finite number"),
    (lambda m: next(t for t in m["tensors"] if t["encoding"] == "dense").update(shape=[3, 4]),
     r"stored as .* but the manifest says"),
], ids=["version", "feature", "method", "scope", "encoding", "packing", "dim", "format",
        "duplicate", "file", "scale", "shape"])
def test_refuses_what_it_does_not_understand(compressed, tmp_path, edit, match):
    refused(corrupt(compressed, tmp_path, edit), match)


def test_truncated_part(compressed, tmp_path):
    d = corrupt(compressed, tmp_path)
    name = parts(d)[1]
    p = d / name
    p.write_bytes(p.read_bytes()[:-1])
    refused(d, name + r": is \d+ bytes but the manifest says \d+")


def test_missing_part(compressed, tmp_path):
    d = corrupt(compressed, tmp_path)
    name = parts(d)[-1]
    (d / name).unlink()
    refused(d, name + r": listed in the manifest but missing")


@pytest.mark.parametrize("crc", sorted(_crc32c.IMPLEMENTATIONS))
def test_flipped_byte_fails_the_crc(compressed, tmp_path, crc):
    d = corrupt(compressed, tmp_path)
    name = parts(d)[0]
    p = d / name
    b = bytearray(p.read_bytes())
    b[-3] ^= 0x10
    p.write_bytes(bytes(b))
    refused(d, name + r" has CRC-32C [0-9a-f]{8} but the manifest says [0-9a-f]{8}", crc32c=crc)
    # without the check the flipped byte decodes into other weights: the check is what refuses it
    assert sparticle.load(d, check_crc=False)


def test_tensors_reads_only_their_files(compressed, tmp_path):
    m = json.loads((compressed / "manifest.json").read_text())
    by_file = {}
    for t in m["tensors"]:
        by_file.setdefault(t["file"], []).append(t["name"])
    first, last = parts(compressed)[0], parts(compressed)[-1]
    assert len(by_file) >= 3
    d = corrupt(compressed, tmp_path)
    p = d / last
    p.write_bytes(b"\0" * p.stat().st_size)  # same size, wrong CRC
    names = by_file[first]
    full = sparticle.load(compressed)
    some = sparticle.load(d, tensors=names)
    assert list(some) == names
    for n in names:
        assert some[n].tobytes() == full[n].tobytes()
    refused(d, last + " has CRC-32C", tensors=by_file[last])
    refused(d, last + " has CRC-32C")


def test_unknown_tensor_name(compressed):
    with pytest.raises(KeyError, match="no tensor named 'nope'"):
        sparticle.load(compressed, tensors=["nope"])


def test_codebook_missing_from_codebooks_file(compressed, tmp_path):
    d = corrupt(compressed, tmp_path, lambda m: m["groups"][0].update(codebook="group.99999"))
    refused(d, r"codebooks.safetensors: tensor 'group.99999': codebook of group '.*' must be a float "
               r"tensor of shape \[16\]")


def test_manifest_function(compressed):
    m = sparticle.manifest(compressed)
    assert m["format_version"] == 2 and m["format"] == "sparticle"


def test_load_through_fsspec(compressed):
    """A URL with a scheme goes through fsspec: here its in-memory file system."""
    import fsspec
    fs = fsspec.filesystem("memory")
    for f in compressed.rglob("*"):  # the report's tables lie in report/
        if f.is_file():
            fs.pipe(f"/ckpt/{f.relative_to(compressed)}", f.read_bytes())
    remote = sparticle.load("memory://ckpt")
    local = sparticle.load(compressed)
    assert list(remote) == list(local)
    assert all(remote[k].tobytes() == local[k].tobytes() for k in local)
    fs.rm("/ckpt/_SUCCESS")
    refused("memory://ckpt", "no _SUCCESS marker")


FIXTURES_V1 = Path(__file__).resolve().parents[2] / "tests/src/test/resources/fixtures/v1"


@pytest.mark.parametrize("name", ["bf16-4bit-module", "f16-3bit-tensor-f16cb", "f32-2bit-rules-bf16cb"])
def test_format_version_1_fixtures_load_equal_decompress(spark, tmp_path, name):
    """Checkpoints written by format version 1 (kept in the Java tests) still load, bit for bit
    what decompress writes from them."""
    src = FIXTURES_V1 / name
    assert json.loads((src / "manifest.json").read_text())["format_version"] == 1
    dec = tmp_path / "d"
    sparticle.decompress(spark, str(src), str(dec))
    expected = {}
    for f in sorted(dec.glob("*.safetensors")):
        expected.update(read_safetensors(f))
    loaded = sparticle.load(src)
    assert list(loaded) == list(expected)
    for tensor, (st_dtype, shape, raw) in expected.items():
        assert loaded[tensor].shape == shape and loaded[tensor].tobytes() == raw, tensor
