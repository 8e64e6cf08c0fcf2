"""sparticle.load on the toolbox's methods (FORMAT.md 2.9 to 2.12): gmm, vq, pruning and
entropy-coded codes, each compressed by the Java job and compared byte for byte with what
`decompress` writes; then every refusal of a damaged or unknown one."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import sparticle
from sparticle import _crc32c
from sparticle._load import unpack_lsb

from conftest import read_safetensors, sparticle_cli, weights, write_safetensors

# More than 2^20 weights: two entropy-coded segments of scalar codes, the second one short.
BIG = "model.layers.1.mlp.wide_proj.weight"
BIG_SHAPE = (1032, 1024)
NP_DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "BOOL": "?"}


@pytest.fixture(scope="module")
def tiny(jar, tmp_path_factory) -> Path:
    """The Java generator's tiny Llama-shaped BF16 checkpoint (1.9 M weights, 21 tensors)."""
    d = tmp_path_factory.mktemp("toolbox") / "tiny"
    sparticle_cli("generate", "--preset", "tiny", "--output", d)
    return d


@pytest.fixture(scope="module")
def model(tiny, tmp_path_factory) -> Path:
    """tiny plus BIG."""
    d = tmp_path_factory.mktemp("toolbox") / "model"
    t = {name: (dt, np.frombuffer(raw, NP_DTYPES[dt]).reshape(shape))
         for name, (dt, shape, raw) in read_safetensors(tiny / "model.safetensors").items()}
    t[BIG] = ("BF16", weights(np.random.default_rng(11), BIG_SHAPE, "BF16"))
    write_safetensors(d / "model.safetensors", t, {"format": "pt"})
    return d


def assert_load_equals_decompress(spark, out: Path, dec: Path) -> dict:
    sparticle.decompress(spark, str(out), str(dec))
    expected = read_safetensors(dec / "model.safetensors")
    loaded = sparticle.load(out)
    assert list(loaded) == list(expected)  # every tensor, in source order
    for name, (dtype, shape, raw) in expected.items():
        assert loaded[name].shape == shape, name
        assert loaded[name].tobytes() == raw, f"{name} ({dtype}) differs from decompress"
    return loaded


# (id, compress options): every new method, pruning with kmeans (scope group and channel), gmm
# and uniform, both entropy coders on scalar and vq codes, vq codes of 8, 10 and 16 bits.
CONFIGS = [
    ("vq-2b-d4", dict(method="vq", bits=2, vq_dim=4)),
    ("vq-4b-d2", dict(method="vq", bits=4, vq_dim=2)),
    ("vq-5b-d2-huffman", dict(method="vq", bits=5, vq_dim=2, entropy="huffman")),  # 10-bit codes
    ("vq-2b-huffman", dict(method="vq", bits=2, entropy="huffman")),
    ("gmm-3b", dict(method="gmm", bits=3)),
    ("gmm-3b-prune-rans", dict(method="gmm", bits=3, prune=0.5, entropy="rans")),
    ("kmeans-4b-prune-rans", dict(bits=4, prune=0.5, entropy="rans")),
    ("kmeans-4b-prune-huffman", dict(bits=4, prune=0.3, entropy="huffman")),
    ("uniform-4b-prune-rans", dict(method="uniform", bits=4, prune=0.5, entropy="rans")),
    ("channel-4b-prune", dict(scope="channel", bits=4, prune=0.3)),
    ("block-rans", dict(scope="block", entropy="rans")),
]


@pytest.mark.parametrize("options", [c[1] for c in CONFIGS], ids=[c[0] for c in CONFIGS])
def test_toolbox_loads_equal_decompress(spark, model, tmp_path, options):
    out = tmp_path / "c"
    sparticle.compress(spark, str(model), str(out), **options)
    check_toolbox_checkpoint(spark, out, tmp_path / "d", options)


def test_vq_16_bit_codes_load_equal_decompress(spark, tiny, tmp_path):
    """k = 65536 codewords of 8 weights: 16-bit codes. On tiny alone (BIG's 132,096 sub-vectors,
    each searched against 65,536 codewords in one task, take minutes)."""
    out = tmp_path / "c"
    options = dict(method="vq", bits=2, vq_dim=8)
    sparticle.compress(spark, str(tiny), str(out), **options)
    check_toolbox_checkpoint(spark, out, tmp_path / "d", options, big=False)


def check_toolbox_checkpoint(spark, out: Path, dec: Path, options: dict, big: bool = True) -> None:
    m = json.loads((out / "manifest.json").read_text())
    method, bits = options.get("method", "kmeans"), options.get("bits", 4)
    encoded = [t for t in m["tensors"] if t["encoding"] != "dense"]
    assert (BIG in {t["name"] for t in encoded}) == big
    for g in m["groups"]:
        assert g["method"] == method and g["bits"] == bits
        dim = options.get("vq_dim", 4) if method == "vq" else 1
        assert g["dim"] == dim and g["k"] == 1 << (bits * dim)
        assert g.get("entropy") == options.get("entropy")
        assert g.get("prune") == options.get("prune")
        if "entropy" in options:
            assert g["segment_codes"] == max(1 << 20, 64 * g["k"])
        if method == "gmm":
            assert set(g["mixture"]) == {"weights", "means", "variances"}
    for t in encoded:
        assert t["packing"] == options.get("entropy", "lsb")
        assert ("segments_key" in t) == ("entropy" in options)
        assert ("prune" in t) == ("prune" in options)
        if method == "vq":
            assert t["axis"] == len(t["shape"]) - 1
    loaded = assert_load_equals_decompress(spark, out, dec)

    if big and "entropy" in options and method != "vq":  # BIG's codes: more than one segment
        b = entry(m)
        ends = np.frombuffer(read_safetensors(out / b["file"])[b["segments_key"]][2], "<u8")
        assert ends.size == 2 and 0 < ends[0] < ends[1]
    if "prune" in options:
        # The pruned weights decode to exact zeros: at least `count` of them.
        for t in encoded:
            p = t["prune"]
            assert p["count"] <= math.floor(options["prune"] * math.prod(t["shape"])), t["name"]
            zeros = int((loaded[t["name"]].view(np.uint16) & 0x7FFF == 0).sum())
            assert zeros >= p["count"] > 0, t["name"]


@pytest.fixture(scope="module")
def vq(spark, model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vq") / "c"
    sparticle.compress(spark, str(model), str(out), method="vq", bits=4, vq_dim=2)
    return out


@pytest.fixture(scope="module")
def rans(spark, model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rans") / "c"
    sparticle.compress(spark, str(model), str(out), bits=4, prune=0.3, entropy="rans")
    return out


def test_vq_along_axis_0_equals_decompress(spark, vq, tmp_path):
    """Sub-vectors along axis 0 (ONNX MatMul initializers, [in, out]): the Java decoder reads the
    same codes in its axis-0 order (FORMAT.md 2.10) from a manifest that says so."""
    def edit(m):
        for t in m["tensors"]:
            if t["encoding"] != "dense" and t["shape"][0] % 2 == 0:
                t["axis"] = 0
    d = copy_edited(vq, tmp_path, edit)
    strided = [t for t in json.loads((d / "manifest.json").read_text())["tensors"]
               if t.get("axis") == 0]
    assert BIG in {t["name"] for t in strided} and len(strided) >= 10
    loaded = assert_load_equals_decompress(spark, d, tmp_path / "dec")
    along_last = sparticle.load(vq, [BIG])[BIG]
    assert loaded[BIG].tobytes() != along_last.tobytes()  # the axis changes the weights' places


# ------------------------------------------------------------------ refusals

def copy_edited(src: Path, tmp_path: Path, edit=None) -> Path:
    import shutil
    d = tmp_path / "c"
    shutil.copytree(src, d)
    if edit:
        m = json.loads((d / "manifest.json").read_text())
        edit(m)
        (d / "manifest.json").write_text(json.dumps(m))
    return d


def refused(d, match, **kw) -> sparticle.CheckpointError:
    with pytest.raises(sparticle.CheckpointError, match=match) as e:
        sparticle.load(d, **kw)
    assert e.value.reason == "INVALID_COMPRESSED" and e.value.exit_code == "BAD_INPUT"
    return e.value


def entry(m, name=BIG):
    return next(t for t in m["tensors"] if t["name"] == name)


def tensor_bytes(d: Path, t: dict, key: str) -> tuple:
    """(file, absolute offset, length) of tensor `key` of t's data file."""
    path = d / t["file"]
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    begin, end = json.loads(data[8:8 + n])[key]["data_offsets"]
    return path, 8 + n + begin, end - begin


def test_flipped_byte_in_a_rans_segment(rans, tmp_path):
    m = json.loads((rans / "manifest.json").read_text())
    t = entry(m)
    d = copy_edited(rans, tmp_path)
    path, at, length = tensor_bytes(d, t, t["key"])
    ends = np.frombuffer(read_safetensors(d / t["file"])[t["segments_key"]][2], "<u8")
    data = bytearray(path.read_bytes())
    data[at + int(ends[0] + ends[1]) // 2] ^= 0x5A  # inside segment 1's stream
    path.write_bytes(bytes(data))
    refused(d, "has CRC-32C")  # the CRC catches it first
    e = refused(d, rf"tensor '{BIG}': its rans codes: segment 1 at bytes \[{ends[0]}, {ends[1]}\)",
                check_crc=False)
    assert e.tensor == BIG and e.file.endswith(t["file"])
    data[at] ^= 0x03  # segment 0's tag 0x12 -> 0x11
    path.write_bytes(bytes(data))
    refused(d, rf"tensor '{BIG}': its rans codes: segment 0 .*tag is 0x11, expected 0x12",
            check_crc=False)


def rewrite_segments(d: Path, t: dict, new_ends: np.ndarray) -> None:
    """Replaces tensor t's segment index in its data file (a new, valid safetensors file whose
    size and CRC-32C the manifest then lists: only the index is wrong)."""
    path = d / t["file"]
    np_dtypes = dict(NP_DTYPES, U8="u1", U16="<u2", U32="<u4", U64="<u8")
    tensors = {k: (dt, np.frombuffer(raw, np_dtypes[dt]).reshape(shape))
               for k, (dt, shape, raw) in read_safetensors(path).items()}
    tensors[t["segments_key"]] = ("U64", new_ends.astype("<u8"))
    write_safetensors(path, tensors)
    m = json.loads((d / "manifest.json").read_text())
    f = next(f for f in m["files"] if f["name"] == t["file"])
    f["size"], f["crc32c"] = path.stat().st_size, f"{_crc32c.crc32c(path.read_bytes()):08x}"
    (d / "manifest.json").write_text(json.dumps(m))


@pytest.mark.parametrize("change,match", [
    (lambda e: e[:1], r"'{seg}' must be U64\[2\], found U64\[1\]"),
    (lambda e: e[::-1], r"segment 1 ends at byte {e0}, outside \[{e1}, {n}\]"),
    (lambda e: e - np.array([0, 1], "<u8"), r"its segments end at byte {last} but its codes hold {n} bytes"),
    (lambda e: e + np.array([0, 1], "<u8"), r"segment 1 ends at byte {over}, outside \[{e0}, {n}\]"),
    (lambda e: e + np.array([1, 0], "<u8"), r"its rans codes: segment 0 at bytes \[0, {e0p}\)"),
], ids=["truncated", "decreasing", "short", "past-the-end", "boundary-moved"])
def test_bad_segment_index(rans, tmp_path, change, match):
    m = json.loads((rans / "manifest.json").read_text())
    t = entry(m)
    d = copy_edited(rans, tmp_path)
    ends = np.frombuffer(read_safetensors(d / t["file"])[t["segments_key"]][2], "<u8").copy()
    n = tensor_bytes(d, t, t["key"])[2]
    rewrite_segments(d, t, change(ends))
    e = refused(d, f"tensor '{BIG}': " + match.format(
        seg=t["segments_key"], e0=ends[0], e1=ends[1], n=n, last=ends[1] - 1, over=ends[1] + 1,
        e0p=ends[0] + 1))
    assert e.tensor == BIG


def first_encoded(m):
    return next(t for t in m["tensors"] if t["encoding"] != "dense")


@pytest.mark.parametrize("edit,match", [
    (lambda m: entry(m).update(packing="zstd"),
     rf"tensor '{BIG}': unknown packing 'zstd' \(this reader knows lsb, huffman, rans\)"),
    (lambda m: entry(m).update(packing="lsb"),
     rf"tensor '{BIG}': packing 'lsb' does not match its group's entropy 'rans'"),
    (lambda m: entry(m).update(packing="huffman"),
     rf"tensor '{BIG}': packing 'huffman' does not match its group's entropy 'rans'"),
    (lambda m: entry(m).pop("segments_key"), rf"tensor '{BIG}': 'segments_key' must be a string"),
    (lambda m: entry(m).update(segments_key="nope"),
     rf"tensor '{BIG}': tensor 'nope' named by the manifest is not in the file"),
    (lambda m: [g.update(entropy="zstd") for g in m["groups"]],
     r"group '.*' has entropy 'zstd' that this reader does not know \(it knows huffman, rans\)"),
    (lambda m: [g.update(segment_codes=1 << 19) for g in m["groups"]],
     rf"tensor '{BIG}': '{BIG}::segments' must be U64\[3\], found U64\[2\]"),
    (lambda m: [g.update(segment_codes=0) for g in m["groups"]], r"'segment_codes' must be positive"),
    (lambda m: [g.pop("segment_codes") for g in m["groups"]], r"'segment_codes' must be an integer"),
    (lambda m: entry(m).pop("prune"), rf"tensor '{BIG}': 'prune' must be an object"),
    (lambda m: entry(m)["prune"].update(threshold="low"),
     rf"tensor '{BIG}': 'prune' must hold a non-negative integer 'count' and a finite 'threshold'"),
    (lambda m: entry(m)["prune"].update(count=-1),
     rf"tensor '{BIG}': 'prune' must hold a non-negative integer 'count'"),
    (lambda m: [g.update(prune=1.5) for g in m["groups"]],
     r"'prune' must be a fraction between 0 and 0.99"),
    (lambda m: [g.update(zero_code=99) for g in m["groups"]], r"zero_code 99 is not a code \(0..15\)"),
    (lambda m: [g.update(zero_code=(g["zero_code"] + 1) % 16) for g in m["groups"]],
     r"zero_code \d+ of group '.*' has centroid .*, not 0"),
], ids=["unknown-packing", "lsb-packing", "other-coder", "no-segments-key", "segments-key",
        "unknown-entropy", "segment-codes", "segment-codes-zero", "no-segment-codes", "no-prune",
        "prune-threshold", "prune-count", "prune-fraction", "zero-code-range", "zero-code-centroid"])
def test_entropy_and_prune_fields_are_checked(rans, tmp_path, edit, match):
    refused(copy_edited(rans, tmp_path, edit), match)


def both_dims(m):
    """vq 4 bits x dim 2 -> 2 bits x dim 4: the same k and codebook size, half the codes."""
    for g in m["groups"]:
        g.update(bits=2, dim=4)
    for t in m["tensors"]:
        if t["encoding"] != "dense":
            t["bits"] = 2


@pytest.mark.parametrize("edit,match", [
    (lambda m: [g.update(dim=3) for g in m["groups"]],
     r"group '.*' has bits 4, k 256, dim 3; this reader knows for vq dim 2, 4, 8"),
    (lambda m: [g.update(dim=4) for g in m["groups"]], r"group '.*' has bits 4, k 256, dim 4"),
    (lambda m: [g.update(dim=1) for g in m["groups"]], r"group '.*' has bits 4, k 256, dim 1"),
    (both_dims, r"tensor '.*': codes must be U8 \[\d+\] for \d+ codes at 8 bits"),
    (lambda m: first_encoded(m).update(axis=5), r"tensor '.*': vq axis 5 of a rank-2 tensor must be 0 or 1"),
    (lambda m: first_encoded(m).pop("axis"), r"tensor '.*': 'axis' must be an integer"),
    (lambda m: first_encoded(m).pop("scale"), r"tensor '.*': 'scale' must be a positive finite number"),
    (lambda m: first_encoded(m).update(shape=[1024, 255]),
     r"tensor '.*': vq axis 1 of shape \[1024, 255\] is not a multiple of dim 2"),
    (lambda m: [g.update(scope="channel") for g in m["groups"]],
     r"group '.*' has scope 'channel' that this reader does not know for method vq \(it knows group\)"),
    (lambda m: [g.update(prune=0.5) for g in m["groups"]], r"group '.*' prunes with vq scope group"),
    (lambda m: [g.update(codebook="group.99999") for g in m["groups"]],
     r"codebook of group '.*' must be a float tensor of shape \[256, 2\]"),
], ids=["dim-3", "dim-4", "dim-1", "dim-and-bits", "axis", "no-axis", "no-scale", "shape",
        "scope", "prune", "codebook"])
def test_vq_fields_are_checked(vq, tmp_path, edit, match):
    refused(copy_edited(vq, tmp_path, edit), match)


@pytest.fixture(scope="module")
def gmm(spark, model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gmm") / "c"
    sparticle.compress(spark, str(model), str(out), method="gmm", bits=2)
    return out


@pytest.mark.parametrize("edit,match", [
    (lambda m: m["groups"][0].pop("mixture"), r"group '.*': 'mixture' must be an object"),
    (lambda m: m["groups"][0]["mixture"].update(means="0"),
     r"group '.*': mixture.means must be an array of finite numbers"),
    (lambda m: m["groups"][0]["mixture"]["variances"].append(None),
     r"group '.*': mixture.variances must be an array of finite numbers"),
    (lambda m: m["groups"][0].update(scope="block", block_size=32),
     r"group '.*' has scope 'block' that this reader does not know for method gmm"),
    (lambda m: m["groups"][0].update(bits=9, k=512), r"group '.*' has bits 9, k 512, dim 1"),
], ids=["no-mixture", "means", "variances", "scope", "bits"])
def test_gmm_fields_are_checked(gmm, tmp_path, edit, match):
    assert sparticle.load(gmm)
    refused(copy_edited(gmm, tmp_path, edit), match)


def test_gmm_mixture_is_ignored(gmm, tmp_path):
    """Decoders ignore the mixture (FORMAT.md 2.9): other numbers decode the same weights."""
    def edit(m):
        for g in m["groups"]:
            g["mixture"] = {k: [1.0] * len(v) for k, v in g["mixture"].items()}
    d = copy_edited(gmm, tmp_path, edit)
    a, b = sparticle.load(gmm), sparticle.load(d)
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)


# ------------------------------------------------------------------ unpacking wide codes

@pytest.mark.parametrize("bits", range(1, 17))
def test_unpack_lsb_round_trip_up_to_16_bits(bits):
    rng = np.random.default_rng(bits)
    for numel in (0, 1, 7, 8, 9, 1000, 12345):
        codes = rng.integers(0, 1 << bits, numel)
        stream = np.zeros(numel * bits, np.uint8)
        for j in range(bits):  # the spec's definition, bit by bit
            stream[j::bits] = (codes >> j) & 1
        packed = np.packbits(stream, bitorder="little")
        assert packed.size == -(-numel * bits // 8)
        got = unpack_lsb(packed, numel, bits)
        assert got.dtype == (np.uint8 if bits <= 8 else np.uint16)
        assert got.tolist() == codes.tolist()


def test_unpack_lsb_refuses_wider_codes():
    with pytest.raises(ValueError, match="between 1 and 16"):
        unpack_lsb(np.zeros(4, np.uint8), 1, 17)
