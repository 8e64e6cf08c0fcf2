"""sparticle.load: decode a compressed checkpoint (FORMAT.md) into numpy arrays, no Spark or JVM.

The decoder is a few tables, so that a new format version, encoding or method is one entry:

- ``FORMAT_VERSIONS``: format_version -> function parsing and checking the manifest;
- ``ENCODINGS``: a tensor's ``encoding`` -> function giving its values;
- ``METHODS``: a group's ``method`` -> function giving each weight's value before rounding;
- ``_Codes.PACKINGS``: a tensor's ``packing`` -> function reading its codes (bit-packed, or
  entropy-coded segments);
- ``KNOWN_FEATURES``: the ``required_features`` this reader implements.

Everything a reader must check (FORMAT.md, "Validation a reader performs") is checked, and what
this reader does not know (format_version, required_features, method, scope, precision,
encoding, packing, entropy coder) is refused with a ``CheckpointError`` naming the file, the
tensor and the value.

Methods: kmeans (scope group, channel or block), uniform (tensor, channel or block), gmm and vq
(scope group; vq codes of up to 16 bits, one per sub-vector of 2, 4 or 8 weights); any of them
with outliers, pruning (nothing to decode: the reserved code decodes to 0 by the method's own
rule) and, besides bit-packed (``lsb``) codes, Huffman or rANS coded ones (``_entropy``: numpy
and plain Python, roughly 1 M codes/s for rANS and 1.5 to 6 M codes/s for Huffman, against tens
of M/s for bit-packed codes; the JVM's decoder is far faster).
"""

from __future__ import annotations

import json
import math
import os
import posixpath
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from . import _crc32c, _entropy
from .errors import CheckpointError

SUCCESS = "_SUCCESS"
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 256 << 20
MAX_TENSORS = 500_000
MAX_HEADER_BYTES = 100_000_000
# required_features this reader implements (FORMAT.md 3): kmeans with scope block (2.5b) and
# outliers kept exact (2.7).
KNOWN_FEATURES: frozenset = frozenset({"block-scales", "outliers"})
# The largest outlier fraction a writer may use (FORMAT.md 2.7).
MAX_OUTLIERS = 0.1
# Scale precisions: of uniform scales, and of kmeans block scales (which add the Qn ladders).
UNIFORM_SCALE_PRECISIONS = ("F16", "F32")
BLOCK_SCALE_PRECISIONS = ("F16", "F32", "Q3", "Q4", "Q5", "Q6", "Q7", "Q8")
OUTLIER_SEGMENT = 1 << 16  # weights per segment of an outlier index (FORMAT.md 2.7)
# The largest pruned fraction a writer may use (FORMAT.md 2.11).
MAX_PRUNE = 0.99
VQ_DIMS = (2, 4, 8)  # weights per vq sub-vector (FORMAT.md 2.10)
MAX_CODE_BITS = 16  # bits of one code, vq's bits x dim included (FORMAT.md 2.2)
# Entropy coders of codes (FORMAT.md 2.12): a group's ``entropy`` is a tensor's ``packing``.
ENTROPY_CODERS = ("huffman", "rans")
_READ_BLOCK = 16 << 20

# Safetensors dtypes as numpy dtypes, little-endian. BF16 and the 8-bit floats have no numpy
# dtype: they come back as their raw bits (uint16, uint8) unless ``bf16="float32"``.
NUMPY_DTYPES = {
    "BOOL": np.dtype(np.bool_), "U8": np.dtype("u1"), "I8": np.dtype("i1"),
    "F8_E5M2": np.dtype("u1"), "F8_E4M3": np.dtype("u1"),
    "I16": np.dtype("<i2"), "U16": np.dtype("<u2"), "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"), "I32": np.dtype("<i4"), "U32": np.dtype("<u4"),
    "F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8"),
    "U64": np.dtype("<u8"),
}
FLOAT_DTYPES = ("F32", "F16", "BF16")


def _bad(file: str, detail: str, tensor: str | None = None) -> CheckpointError:
    msg = f"{file}: tensor '{tensor}': {detail}" if tensor is not None else f"{file}: {detail}"
    return CheckpointError(msg, reason="INVALID_COMPRESSED", file=file, tensor=tensor)


# ---------------------------------------------------------------- storage

class _Store:
    """A directory on the local disk, or on any fsspec file system."""

    def __init__(self, path: str):
        path = os.fspath(path)
        if "://" in path and not path.startswith("file://"):
            try:
                import fsspec
            except ImportError as e:
                raise ImportError(
                    f"Reading {path} needs fsspec (pip install fsspec, plus the file system's "
                    "package, e.g. s3fs or gcsfs); local paths need nothing") from e
            self.fs, self.root = fsspec.core.url_to_fs(path)
            self.join = posixpath.join
        else:
            self.fs = None
            self.root = path[len("file://"):] if path.startswith("file://") else path
            self.join = os.path.join
        self.display = path

    def path(self, name: str) -> str:
        return self.join(self.root, name)

    def exists(self, name: str | None = None) -> bool:
        p = self.root if name is None else self.path(name)
        return os.path.exists(p) if self.fs is None else self.fs.exists(p)

    def size(self, name: str) -> int | None:
        try:
            return os.path.getsize(self.path(name)) if self.fs is None else self.fs.size(self.path(name))
        except (FileNotFoundError, OSError):
            return None

    def open(self, name: str):
        p = self.path(name)
        return open(p, "rb") if self.fs is None else self.fs.open(p, "rb")


def _read_exact(f, offset: int, length: int, file: str) -> bytearray:
    buf = bytearray(length)
    f.seek(offset)
    view = memoryview(buf)
    got = 0
    while got < length:
        n = f.readinto(view[got:])
        if not n:
            raise _bad(file, f"ends at byte {offset + got}, before {offset + length}")
        got += n
    return buf


# ---------------------------------------------------------------- manifest, format versions 1 and 2

@dataclass(frozen=True)
class Group:
    name: str
    method: str
    bits: int
    k: int
    codebook_precision: str | None  # kmeans, gmm, vq: F32, F16, BF16 or step
    codebook: str | None  # kmeans scope group or block, gmm, vq: the tensor in codebooks_file
    raw: dict
    scope: str = "group"
    block_size: int = 0
    codebook_step: float = 0.0
    scale_precision: str | None = None  # uniform: F16 or F32; kmeans block: also Q3..Q8
    outliers: float = 0.0  # the fraction of each tensor's weights kept exact (2.7); 0: none
    dim: int = 1  # weights per code: 1, or vq's sub-vector length 2, 4 or 8 (2.10)
    prune: float = 0.0  # the fraction of each tensor's weights pruned to 0 (2.11); 0: none
    zero_code: int = -1  # with pruning, a shared codebook's reserved zero code; else -1
    entropy: str | None = None  # huffman or rans (2.12), else None (packing lsb)
    segment_codes: int = 0  # with entropy coding, codes per segment

    @property
    def code_bits(self) -> int:
        """Bits of one code: bits, or bits x dim for vq."""
        return self.bits * self.dim

    @property
    def packing(self) -> str:
        """The packing its tensors' codes have: lsb, or the group's entropy coder."""
        return self.entropy or "lsb"

    @property
    def shared_codebook(self) -> bool:
        """Whether the group has a codebook in codebooks_file (2.8)."""
        return self.codebook is not None

    @property
    def ladder_bits(self) -> int:
        """n of a Qn block-scale precision (codes into a ladder), else 0."""
        p = self.scale_precision
        return int(p[1:]) if p is not None and p.startswith("Q") else 0


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: str
    shape: tuple
    encoding: str
    file: str
    key: str
    raw: dict

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Manifest:
    version: int
    files: dict  # name -> (size, crc32c hex)
    codebooks_file: str
    groups: list
    tensors: list
    raw: dict


def _field(obj: dict, key: str, kind, where: str, file: str, tensor: str | None = None):
    v = obj.get(key)
    ok = isinstance(v, kind) and not (kind is int and isinstance(v, bool))
    if not ok:
        names = {str: "a string", int: "an integer", list: "an array", dict: "an object"}
        raise _bad(file, f"{where}'{key}' must be {names.get(kind, kind)}", tensor)
    return v


def _plain_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")


def _parse(m: dict, file: str, version: int) -> Manifest:
    files = {}
    for f in _field(m, "files", list, "", file):
        if not isinstance(f, dict):
            raise _bad(file, "'files' entries must be objects")
        name = _field(f, "name", str, "file entry ", file)
        if not _plain_name(name):
            raise _bad(file, f"file name '{name}' is not a plain file name")
        if name in files:
            raise _bad(file, f"file '{name}' is listed twice")
        size = _field(f, "size", int, f"file '{name}': ", file)
        crc = _field(f, "crc32c", str, f"file '{name}': ", file)
        if size < 0 or len(crc) != 8 or any(c not in "0123456789abcdef" for c in crc):
            raise _bad(file, f"file '{name}' has an invalid size or crc32c")
        files[name] = (size, crc)
    codebooks_file = _field(m, "codebooks_file", str, "", file)
    if codebooks_file not in files:
        raise _bad(file, f"codebooks_file '{codebooks_file}' is not among the files")

    groups = []
    for g in _field(m, "groups", list, "", file):
        if not isinstance(g, dict):
            raise _bad(file, "'groups' entries must be objects")
        name = _field(g, "name", str, "group ", file)
        method = _field(g, "method", str, f"group '{name}': ", file)
        known = METHODS_BY_VERSION[version]
        if method not in known:
            raise _bad(file, f"group '{name}' uses method '{method}' that this reader does not know "
                             f"(it knows {', '.join(known)} in format version {version}); "
                             "use a newer Sparticle")
        bits = _field(g, "bits", int, f"group '{name}': ", file)
        k = _field(g, "k", int, f"group '{name}': ", file)
        dim = _field(g, "dim", int, f"group '{name}': ", file)
        if method == "vq":
            if dim not in VQ_DIMS or not 1 <= bits <= MAX_CODE_BITS // dim or k != 1 << (bits * dim):
                raise _bad(file, f"group '{name}' has bits {bits}, k {k}, dim {dim}; this reader "
                                 f"knows for vq dim {', '.join(map(str, VQ_DIMS))}, bits 1.."
                                 f"{MAX_CODE_BITS} / dim, k = 2^(bits x dim)")
        else:
            lowest = 2 if method == "uniform" else 1
            if not lowest <= bits <= 8 or k != 1 << bits or dim != 1:
                raise _bad(file, f"group '{name}' has bits {bits}, k {k}, dim {dim}; this reader "
                                 f"knows bits {lowest}..8 for {method}, k = 2^bits, dim 1")
        scope, block_size = "group", 0
        if version >= 2:
            scope = _field(g, "scope", str, f"group '{name}': ", file)
            if scope not in SCOPES[method]:
                raise _bad(file, f"group '{name}' has scope '{scope}' that this reader does not know "
                                 f"for method {method} (it knows {', '.join(SCOPES[method])}); "
                                 "use a newer Sparticle")
            if scope == "block":
                block_size = _field(g, "block_size", int, f"group '{name}': ", file)
                if not (8 <= block_size <= 1 << 20 and block_size % 8 == 0):
                    raise _bad(file, f"group '{name}' has block_size {block_size}: must be a "
                                     "multiple of 8 between 8 and 1048576")
        precision, codebook, step, scale_precision = None, None, 0.0, None
        if method != "uniform":  # kmeans, gmm, vq: centroids (FORMAT.md 2.8)
            precision = _field(g, "codebook_precision", str, f"group '{name}': ", file)
            if precision == "step" and version >= 2:
                step = g.get("codebook_step")
                if (not isinstance(step, (int, float)) or isinstance(step, bool)
                        or not math.isfinite(step) or np.float32(step) <= 0):
                    raise _bad(file, f"group '{name}': 'codebook_step' must be a positive number")
                step = float(np.float32(step))
            elif precision not in FLOAT_DTYPES:
                raise _bad(file, f"group '{name}' has codebook_precision '{precision}' that this "
                                 "reader does not know; use a newer Sparticle")
            if scope in ("group", "block"):
                codebook = _field(g, "codebook", str, f"group '{name}': ", file)
        if method == "uniform" or scope == "block":
            known_scales = UNIFORM_SCALE_PRECISIONS if method == "uniform" else BLOCK_SCALE_PRECISIONS
            scale_precision = _field(g, "scale_precision", str, f"group '{name}': ", file)
            if scale_precision not in known_scales:
                raise _bad(file, f"group '{name}' has scale_precision '{scale_precision}' that "
                                 f"this reader does not know for {method} with scope {scope} (it "
                                 f"knows {', '.join(known_scales)}); use a newer Sparticle")
        outliers = 0.0
        if version >= 2 and "outliers" in g:
            outliers = g["outliers"]
            if (not isinstance(outliers, (int, float)) or isinstance(outliers, bool)
                    or not 0 <= outliers <= MAX_OUTLIERS):
                raise _bad(file, f"group '{name}': 'outliers' must be a fraction between 0 and "
                                 f"{MAX_OUTLIERS}")
            outliers = float(outliers)
        prune, zero_code = _group_prune(g, name, method, scope, bits, k, version, file)
        entropy, segment_codes = None, 0
        if version >= 2 and "entropy" in g:
            entropy = _field(g, "entropy", str, f"group '{name}': ", file)
            if entropy not in ENTROPY_CODERS:
                raise _bad(file, f"group '{name}' has entropy '{entropy}' that this reader does not "
                                 f"know (it knows {', '.join(ENTROPY_CODERS)}); use a newer Sparticle")
            segment_codes = _field(g, "segment_codes", int, f"group '{name}': ", file)
            if segment_codes < 1:
                raise _bad(file, f"group '{name}': 'segment_codes' must be positive, not "
                                 f"{segment_codes}")
        if method == "gmm":
            _check_mixture(g, name, file)
        groups.append(Group(name, method, bits, k, precision, codebook, g, scope, block_size,
                            step, scale_precision, outliers, dim if method == "vq" else 1,
                            prune, zero_code, entropy, segment_codes))
    # A reader that predates a feature would decode a checkpoint that uses it wrongly, so a
    # manifest must list what its groups use (FORMAT.md 3, validation).
    features = m.get("required_features", [])
    for needed, used in (("block-scales", any(g.method == "kmeans" and g.scope == "block"
                                               for g in groups)),
                         ("outliers", any(g.outliers > 0 for g in groups))):
        if used and needed not in features:
            raise _bad(file, f"its groups use '{needed}' but required_features does not list it")

    tensor_list = _field(m, "tensors", list, "", file)
    if len(tensor_list) > MAX_TENSORS:
        raise _bad(file, f"lists {len(tensor_list)} tensors, more than the {MAX_TENSORS} "
                         "a checkpoint may hold")
    tensors, seen = [], set()
    for t in tensor_list:
        if not isinstance(t, dict):
            raise _bad(file, "'tensors' entries must be objects")
        name = _field(t, "name", str, "tensor ", file)
        if name in seen:
            raise _bad(file, "listed twice", name)
        seen.add(name)
        dtype = _field(t, "dtype", str, "", file, name)
        if dtype not in NUMPY_DTYPES:
            raise _bad(file, f"unknown dtype '{dtype}'", name)
        shape = _field(t, "shape", list, "", file, name)
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise _bad(file, f"shape has an invalid dimension: {shape}", name)
        encoding = _field(t, "encoding", str, "", file, name)
        if encoding not in ENCODINGS_BY_VERSION[version]:
            raise _bad(file, f"unknown encoding '{encoding}' (this reader knows "
                             f"{', '.join(ENCODINGS_BY_VERSION[version])} in format version "
                             f"{version}); use a newer Sparticle", name)
        data_file = _field(t, "file", str, "", file, name)
        if data_file not in files:
            raise _bad(file, f"file '{data_file}' is not among the manifest's files", name)
        key = _field(t, "key", str, "", file, name)
        tensor = Tensor(name, dtype, tuple(shape), encoding, data_file, key, t)
        ENCODINGS[encoding].check(tensor, groups, file)
        tensors.append(tensor)
    return Manifest(version, files, codebooks_file, groups, tensors, m)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _group_prune(g: dict, name: str, method: str, scope: str, bits: int, k: int, version: int,
                 file: str) -> tuple:
    """A group's ``prune`` fraction and ``zero_code`` (FORMAT.md 2.11): (0.0, -1) when absent."""
    if version < 2 or "prune" not in g:
        return 0.0, -1
    prune = g["prune"]
    if not _number(prune) or not 0 <= prune <= MAX_PRUNE:
        raise _bad(file, f"group '{name}': 'prune' must be a fraction between 0 and {MAX_PRUNE}")
    if prune > 0:
        # The writer's rules: every method but vq and kmeans blocks, a code besides the zero.
        if method == "vq" or (method == "kmeans" and scope == "block"):
            raise _bad(file, f"group '{name}' prunes with {method} scope {scope}, which has no "
                             "reserved zero code (prune applies to kmeans scope group or channel, "
                             "gmm and uniform)")
        if method in ("kmeans", "gmm") and bits < 2:
            raise _bad(file, f"group '{name}' prunes at 1 bit, which leaves no code besides the "
                             "reserved zero")
    zero_code = -1
    if "zero_code" in g:
        zero_code = _field(g, "zero_code", int, f"group '{name}': ", file)
        if not 0 <= zero_code < k:
            raise _bad(file, f"group '{name}': zero_code {zero_code} is not a code (0..{k - 1})")
    return float(prune), zero_code


def _check_mixture(g: dict, name: str, file: str) -> None:
    """A gmm group's ``mixture``: decoders ignore it (FORMAT.md 2.9), so only its shape is
    checked: an object of three arrays of finite numbers, weights, means and variances."""
    m = _field(g, "mixture", dict, f"group '{name}': ", file)
    for key in ("weights", "means", "variances"):
        a = m.get(key)
        if not isinstance(a, list) or not all(_number(v) and math.isfinite(v) for v in a):
            raise _bad(file, f"group '{name}': mixture.{key} must be an array of finite numbers")


FORMAT_VERSIONS: dict[int, Callable[[dict, str], Manifest]] = {
    1: lambda m, file: _parse(m, file, 1),
    2: lambda m, file: _parse(m, file, 2),
}
METHODS_BY_VERSION = {1: ("kmeans",), 2: ("kmeans", "uniform", "gmm", "vq")}
SCOPES = {"kmeans": ("group", "channel", "block"), "uniform": ("tensor", "channel", "block"),
          "gmm": ("group",), "vq": ("group",)}
ENCODINGS_BY_VERSION = {1: ("codebook", "dense"), 2: ("codebook", "codes", "dense")}


def read_manifest(store: _Store) -> Manifest:
    if not store.exists():
        raise FileNotFoundError(f"{store.display}: no such compressed checkpoint directory")
    if not store.exists(SUCCESS):
        raise _bad(store.display, f"no {SUCCESS} marker: the compressed checkpoint is incomplete "
                                  "or is not one")
    file = store.path(MANIFEST)
    size = store.size(MANIFEST)
    if size is None:
        raise _bad(file, "missing")
    if size > MAX_MANIFEST_BYTES:
        raise _bad(file, f"manifest is {size} bytes, over the limit of {MAX_MANIFEST_BYTES}")
    with store.open(MANIFEST) as f:
        text = f.read()
    try:
        m = json.loads(text)
    except ValueError as e:
        raise _bad(file, f"not valid JSON: {e}") from None
    if not isinstance(m, dict):
        raise _bad(file, "not a JSON object")
    if m.get("format") != "sparticle":
        raise _bad(file, "'format' is not \"sparticle\"")
    version = _field(m, "format_version", int, "", file)
    if version not in FORMAT_VERSIONS:
        known = sorted(FORMAT_VERSIONS)
        raise _bad(file, f"format_version {version} is not supported (this reader knows "
                         f"{known[0]}..{known[-1]}); use a newer Sparticle")
    for feature in _field(m, "required_features", list, "", file):
        if not isinstance(feature, str) or feature not in KNOWN_FEATURES:
            raise _bad(file, f"requires feature '{feature}' that this reader does not know (it "
                             f"knows {', '.join(sorted(KNOWN_FEATURES))}); use a newer Sparticle")
    return FORMAT_VERSIONS[version](m, file)


# ---------------------------------------------------------------- data files

@dataclass(frozen=True)
class Stored:
    """A tensor as a data file's safetensors header lists it."""
    dtype: str
    shape: tuple
    offset: int  # absolute, in the file
    length: int


def _read_header(f, file: str, size: int) -> dict:
    if size < 8:
        raise _bad(file, f"file is {size} bytes, too short for the 8-byte header length")
    n = int.from_bytes(_read_exact(f, 0, 8, file), "little")
    if n > MAX_HEADER_BYTES:
        raise _bad(file, f"header length {n} exceeds the limit of {MAX_HEADER_BYTES} bytes")
    if 8 + n > size:
        raise _bad(file, f"header length {n} runs past the end of the file: 8 + {n} > {size} bytes")
    try:
        header = json.loads(bytes(_read_exact(f, 8, n, file)).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise _bad(file, f"header is not valid UTF-8 JSON: {e}") from None
    if not isinstance(header, dict):
        raise _bad(file, "header is not a JSON object")
    out = {}
    for key, e in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = e["dtype"], tuple(e["shape"]), e["data_offsets"]
            if dtype not in NUMPY_DTYPES or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise ValueError
            if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end):
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise _bad(file, "invalid tensor entry in the header", key) from None
        if end - begin != math.prod(shape) * NUMPY_DTYPES[dtype].itemsize:
            raise _bad(file, f"data_offsets [{begin}, {end}] do not hold {dtype}{list(shape)}", key)
        if 8 + n + end > size:
            raise _bad(file, f"data_offsets [{begin}, {end}] end past the data section, "
                             f"which holds {size - 8 - n} bytes", key)
        out[key] = Stored(dtype, shape, 8 + n + begin, end - begin)
    return out


class _Reader:
    """Opens the checkpoint's data files on demand: size and CRC-32C checked once per file,
    then headers and tensor bytes."""

    def __init__(self, store: _Store, manifest: Manifest, check_crc: bool, crc: str | None):
        self.store, self.manifest = store, manifest
        self.check_crc, self.crc = check_crc, crc
        self._headers: dict = {}
        self._handles: dict = {}
        self._codebooks: dict = {}

    def close(self):
        for f in self._handles.values():
            f.close()

    def check_sizes(self):
        for name, (size, _) in self.manifest.files.items():
            actual = self.store.size(name)
            if actual is None:
                raise _bad(self.store.path(name), "listed in the manifest but missing")
            if actual != size:
                raise _bad(self.store.path(name), f"is {actual} bytes but the manifest says {size}")

    def _open(self, name: str):
        if name not in self._handles:
            f = self.store.open(name)
            self._handles[name] = f
            size, crc = self.manifest.files[name]
            if self.check_crc:
                h = _crc32c.hasher(self.crc)
                f.seek(0)
                left = size
                while left > 0:
                    block = f.read(min(_READ_BLOCK, left))
                    if not block:
                        raise _bad(self.store.path(name), f"ends before its {size} bytes")
                    h.update(block)
                    left -= len(block)
                actual = f"{h.value():08x}"
                if actual != crc:
                    raise _bad(self.store.display,
                               f"{name} has CRC-32C {actual} but the manifest says {crc}")
            self._headers[name] = _read_header(f, self.store.path(name), size)
        return self._handles[name]

    def stored(self, name: str, key: str, tensor: str | None = None) -> Stored:
        self._open(name)
        s = self._headers[name].get(key)
        if s is None:
            raise _bad(self.store.path(name), f"tensor '{key}' named by the manifest is not in the file",
                       tensor)
        return s

    def read(self, name: str, s: Stored) -> bytearray:
        return _read_exact(self._open(name), s.offset, s.length, self.store.path(name))

    def codebook(self, g: int) -> np.ndarray:
        """Group g's centroids, widened exactly to float32: shape [k], or vq's [k, dim]."""
        if g not in self._codebooks:
            group = self.manifest.groups[g]
            name = self.manifest.codebooks_file
            s = self._headers_of(name).get(group.codebook)
            kinds = ("I16",) if group.codebook_precision == "step" else FLOAT_DTYPES
            shape = (group.k,) if group.dim == 1 else (group.k, group.dim)
            if s is None or s.shape != shape or s.dtype not in kinds:
                raise _bad(self.store.path(name), f"codebook of group '{group.name}' must be a "
                                                  f"{'I16' if kinds == ('I16',) else 'float'} "
                                                  f"tensor of shape {list(shape)}", group.codebook)
            values = _centroids(np.frombuffer(self.read(name, s), NUMPY_DTYPES[s.dtype]), s.dtype,
                                group)
            if not np.all(np.isfinite(values)):
                raise _bad(self.store.path(name), "codebook entry is not finite", group.codebook)
            if group.zero_code >= 0 and values[group.zero_code] != 0:
                raise _bad(self.store.path(name), f"zero_code {group.zero_code} of group "
                                                  f"'{group.name}' has centroid "
                                                  f"{values[group.zero_code]}, not 0", group.codebook)
            self._codebooks[g] = values.reshape(shape)
        return self._codebooks[g]

    def _headers_of(self, name: str) -> dict:
        self._open(name)
        return self._headers[name]


# ---------------------------------------------------------------- values

def _to_float32(a: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "BF16":
        return (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float32)


def _centroids(raw: np.ndarray, dtype: str, group: Group) -> np.ndarray:
    """Stored centroids as float32 (FORMAT.md 2.8): a float dtype widened exactly, or for a step
    precision the I16 integer m as float32(m) * float32(codebook_step)."""
    if dtype == "I16":
        return raw.astype(np.float32) * np.float32(group.codebook_step)
    return _to_float32(raw, dtype)


def _round_to(values: np.ndarray, dtype: str) -> np.ndarray:
    """float32 values rounded to nearest, ties to even, into the dtype's storage (BF16: bits)."""
    if dtype == "F32":
        return values.astype(np.float32)
    if dtype == "F16":
        return values.astype(np.float16)
    f = values.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((f + 0x7FFF + ((f >> 16) & 1)) >> 16) & 0xFFFF
    nan = (f & 0x7FFFFFFF) > 0x7F800000
    rounded[nan] = ((f[nan] >> 16) | 0x0040) & 0xFFFF
    return rounded.astype(np.uint16)


def unpack_lsb(packed: np.ndarray, numel: int, bits: int) -> np.ndarray:
    """Codes of FORMAT.md's ``lsb`` packing: one little-endian bit stream, code i at bits
    [i*bits, (i+1)*bits), ``bits`` 1 to 16. Up to 8 bits (uint8 codes), eight codes take
    ``bits`` bytes, read as one little-endian word; above (uint16 codes), see _unpack_wide."""
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= MAX_CODE_BITS:
        raise ValueError(f"Cannot unpack codes of {bits} bits: must be between 1 and "
                         f"{MAX_CODE_BITS}")
    if bits > 8:
        return _unpack_wide(packed, numel, int(bits))
    out = np.empty(numel, dtype=np.uint8)
    mask = np.uint64((1 << bits) - 1)
    step = 1 << 20  # words (8 codes each) per round, to bound temporaries
    words = -(-numel // 8)
    for w0 in range(0, words, step):
        w1 = min(words, w0 + step)
        chunk = packed[w0 * bits:w1 * bits]
        if chunk.size < (w1 - w0) * bits:  # the last word's missing bytes are zero padding
            chunk = np.concatenate([chunk, np.zeros((w1 - w0) * bits - chunk.size, np.uint8)])
        rows = chunk.reshape(w1 - w0, bits)
        word = np.zeros(w1 - w0, dtype=np.uint64)
        for i in range(bits):
            word |= rows[:, i].astype(np.uint64) << np.uint64(8 * i)
        codes = np.empty((w1 - w0, 8), dtype=np.uint8)
        for j in range(8):
            codes[:, j] = (word >> np.uint64(j * bits)) & mask
        n = min(numel, w1 * 8) - w0 * 8
        out[w0 * 8:w0 * 8 + n] = codes.reshape(-1)[:n]
    return out


def _unpack_wide(packed: np.ndarray, numel: int, bits: int) -> np.ndarray:
    """unpack_lsb for 9 to 16 bits: code i starts at bit (i*bits) % 8 of byte (i*bits) / 8 and
    lies within the 3 bytes from there (at most 7 + 16 bits), read as one little-endian word."""
    if bits == 16:
        return np.frombuffer(packed[:2 * numel].tobytes(), "<u2").astype(np.uint16)
    out = np.empty(numel, dtype=np.uint16)
    need = -(-numel * bits // 8)
    data = np.zeros(need + 3, dtype=np.uint32)  # the last code's missing bytes are zero padding
    data[:min(need, packed.size)] = packed[:need]
    mask = np.uint32((1 << bits) - 1)
    step = 1 << 22  # codes per round, to bound temporaries
    for i0 in range(0, numel, step):
        pos = np.arange(i0, min(numel, i0 + step), dtype=np.int64) * bits
        at = pos >> 3
        word = data[at] | (data[at + 1] << np.uint32(8)) | (data[at + 2] << np.uint32(16))
        out[i0:i0 + pos.size] = (word >> (pos & 7).astype(np.uint32)) & mask
    return out


# ---------------------------------------------------------------- encodings and methods

def _units(group: Group, t: Tensor) -> tuple:
    """(number of units, each weight's unit or None for one unit): FORMAT.md 2.2, "Units"."""
    numel, shape = t.numel, t.shape
    if group.scope in ("group", "tensor") or (group.scope == "channel" and len(shape) < 2):
        return 1, None
    e = np.arange(numel, dtype=np.int64)
    if group.scope == "block":
        return -(-numel // group.block_size), e // group.block_size
    if t.raw["axis"] == 0:
        return shape[0], e // max(1, numel // shape[0]) if shape[0] else e
    return shape[-1], e % max(1, shape[-1])


def _aux(reader, t: Tensor, key_field: str, dtypes: tuple, shape: tuple,
         entry: dict | None = None) -> np.ndarray:
    """The per-tensor parameter tensor named by ``entry[key_field]`` (default: the tensor
    entry's), checked to have one of ``dtypes`` and ``shape``."""
    key = (t.raw if entry is None else entry)[key_field]
    s = reader.stored(t.file, key, t.name)
    if s.dtype not in dtypes or s.shape != shape:
        raise _bad(reader.store.path(t.file), f"'{key}' must be {dtypes[0]}{list(shape)}, found "
                                              f"{s.dtype}{list(s.shape)}", t.name)
    return np.frombuffer(reader.read(t.file, s), NUMPY_DTYPES[s.dtype])


def _block_scales(group: Group, t: Tensor, reader, units: int) -> np.ndarray:
    """Each block's signed float32 scale s[unit] (FORMAT.md 2.6): stored as F16 or F32, or for
    Qn one n-bit code per block into the tensor's ladder of magnitudes, the top bit the sign."""
    path = reader.store.path(t.file)
    n = group.ladder_bits
    if n == 0:
        s = _to_float32(_aux(reader, t, "scale_key", (group.scale_precision,), (units,)),
                        group.scale_precision)
        if not np.all(np.isfinite(s)):
            raise _bad(path, f"'{t.raw['scale_key']}' has a block scale that is not finite", t.name)
        return s
    ladder = _aux(reader, t, "ladder_key", ("F32",), (1 << (n - 1),))
    if not (np.all(np.isfinite(ladder) & (ladder >= 0)) and np.all(np.diff(ladder) >= 0)):
        raise _bad(path, f"'{t.raw['ladder_key']}' must hold finite, non-negative magnitudes in "
                         "ascending order", t.name)
    c = unpack_lsb(_aux(reader, t, "scale_key", ("U8",), (-(-units * n // 8),)), units, n)
    magnitude = ladder[c & ((1 << (n - 1)) - 1)]
    return np.where((c >> (n - 1)) & 1 != 0, -magnitude, magnitude).astype(np.float32)


def _kmeans(group: Group, t: Tensor, reader, g: int, codes: np.ndarray) -> np.ndarray:
    """kmeans: scope group, float32(centroid[code]) * float32(scale) (2.3); scope channel,
    float32(centroid[unit][code]) (2.4); scope block, float32(centroid[code]) *
    float32(s[unit]) (2.5b)."""
    if group.scope == "group":
        table = reader.codebook(g) * np.float32(t.raw["scale"])
        return table[codes]
    if group.scope == "block":
        units = -(-t.numel // group.block_size)
        s = _block_scales(group, t, reader, units)
        # Blocks are consecutive runs of block_size weights: s repeated gives each weight's scale.
        return reader.codebook(g)[codes] * np.repeat(s, group.block_size)[:t.numel]
    units, unit = _units(group, t)
    kind = "I16" if group.codebook_precision == "step" else group.codebook_precision
    raw = _aux(reader, t, "codebook_key", (kind,), (units, group.k))
    books = _centroids(raw, kind, group).reshape(units, group.k)
    if not np.all(np.isfinite(books)):
        raise _bad(reader.store.path(t.file), f"'{t.raw['codebook_key']}' has a centroid that is "
                                              "not finite", t.name)
    return books[0 if unit is None else unit, codes]


def _uniform(group: Group, t: Tensor, reader, g: int, codes: np.ndarray) -> np.ndarray:
    """uniform: float32(scale[unit]) * float32(code - zero[unit]) (2.5)."""
    units, unit = _units(group, t)
    scales = _to_float32(_aux(reader, t, "scale_key", (group.scale_precision,), (units,)),
                         group.scale_precision)
    zeros = _aux(reader, t, "zero_key", ("U8",), (units,)).astype(np.int32)
    if not np.all(np.isfinite(scales) & (scales > 0)):
        raise _bad(reader.store.path(t.file), "uniform scales must be positive and finite", t.name)
    if np.any(zeros > group.k - 1):
        raise _bad(reader.store.path(t.file), f"uniform zero point beyond {group.k - 1} for "
                                              f"{group.bits} bits", t.name)
    u = 0 if unit is None else unit
    return scales[u] * (codes.astype(np.int32) - zeros[u]).astype(np.float32)


def _vq(group: Group, t: Tensor, reader, g: int, codes: np.ndarray) -> np.ndarray:
    """vq (FORMAT.md 2.10): sub-vector v's element j is float32(codebook[code(v)][j]) *
    float32(scale). Along the last axis sub-vector v is weights [v*d, v*d + d); along axis 0 of
    a tensor with rows of R weights, sub-vector i*R + c is weights (i*d + j)*R + c."""
    d = group.dim
    table = reader.codebook(g) * np.float32(t.raw["scale"])  # [k, d], one multiply each
    values = table[codes]  # [numel / d, d], in code order
    shape = t.shape
    if t.raw["axis"] == 0 and len(shape) >= 2 and t.numel:
        rows = t.numel // shape[0]
        values = values.reshape(shape[0] // d, rows, d).transpose(0, 2, 1)
    return values.reshape(-1)


METHODS: dict[str, Callable] = {"kmeans": _kmeans, "uniform": _uniform, "gmm": _kmeans,
                                "vq": _vq}
"""A group's ``method`` -> ``(group, tensor, reader, g, codes)`` giving each weight's float32
value before rounding to the tensor's dtype (FORMAT.md 2.3 to 2.6, 2.9, 2.10; gmm decodes as
kmeans with scope group, its only scope); outliers (2.7) are patched in after rounding.
``codes`` holds one code per weight, or per sub-vector of ``group.dim`` weights (vq)."""


class _Dense:
    @staticmethod
    def check(t: Tensor, groups: list, file: str) -> None:
        pass

    @staticmethod
    def decode(t: Tensor, reader) -> np.ndarray:
        s = reader.stored(t.file, t.key, t.name)
        if s.dtype != t.dtype or s.shape != t.shape:
            raise _bad(reader.store.path(t.file), f"stored as {s.dtype}{list(s.shape)} but the "
                                                  f"manifest says {t.dtype}{list(t.shape)}", t.name)
        return np.frombuffer(reader.read(t.file, s), NUMPY_DTYPES[t.dtype])


def _lsb_codes(t: Tensor, reader, group: Group, count: int) -> np.ndarray:
    """Bit-packed codes (FORMAT.md 2.2): U8 [ceil(count * code_bits / 8)]."""
    bits = group.code_bits
    packed_len = -(-count * bits // 8)
    s = reader.stored(t.file, t.key, t.name)
    if s.dtype != "U8" or s.shape != (packed_len,):
        raise _bad(reader.store.path(t.file), f"codes must be U8 [{packed_len}] for {count} codes "
                                              f"at {bits} bits, found {s.dtype}{list(s.shape)}",
                   t.name)
    return unpack_lsb(np.frombuffer(reader.read(t.file, s), np.uint8), count, bits)


def _entropy_codes(t: Tensor, reader, group: Group, count: int) -> np.ndarray:
    """Entropy-coded codes (FORMAT.md 2.12): U8 [coded bytes], segments of the group's
    segment_codes codes, each segment's end offset in U64 [ceil(count / segment_codes)]
    ``segments_key``; the index is checked as the Java CodeReader does before decoding."""
    path = reader.store.path(t.file)
    s = reader.stored(t.file, t.key, t.name)
    if s.dtype != "U8" or len(s.shape) != 1:
        raise _bad(path, f"entropy-coded codes must be a U8 vector, found "
                         f"{s.dtype}{list(s.shape)}", t.name)
    segments = -(-count // group.segment_codes)
    ends = _aux(reader, t, "segments_key", ("U64",), (segments,))
    length = s.shape[0]
    prev = 0
    for i, end in enumerate(ends.tolist()):
        if not prev <= end <= length:
            raise _bad(path, f"segment {i} ends at byte {end}, outside [{prev}, {length}] "
                             f"('{t.raw['segments_key']}')", t.name)
        prev = end
    if segments and prev != length:
        raise _bad(path, f"its segments end at byte {prev} but its codes hold {length} bytes "
                         f"('{t.raw['segments_key']}')", t.name)
    try:
        return _entropy.decode_segments(group.entropy, group.code_bits,
                                        np.frombuffer(reader.read(t.file, s), np.uint8), ends,
                                        count, group.segment_codes)
    except ValueError as e:
        raise _bad(path, f"its {group.entropy} codes: {e}", t.name) from None


class _Codes:
    """``codes`` (version 2) and ``codebook`` (version 1: kmeans with a shared codebook)."""
    PACKINGS = {"lsb": _lsb_codes, "huffman": _entropy_codes, "rans": _entropy_codes}
    """A tensor's ``packing`` -> ``(tensor, reader, group, count)`` giving its ``count`` codes."""

    @staticmethod
    def check(t: Tensor, groups: list, file: str) -> None:
        g = _field(t.raw, "group", int, "", file, t.name)
        bits = _field(t.raw, "bits", int, "", file, t.name)
        if not 0 <= g < len(groups) or groups[g].bits != bits:
            raise _bad(file, f"group {g} with bits {bits} does not match the manifest's groups", t.name)
        group = groups[g]
        if t.encoding == "codebook" and not (group.method == "kmeans" and group.scope == "group"):
            raise _bad(file, "encoding 'codebook' needs a kmeans group with a shared codebook", t.name)
        if t.dtype not in FLOAT_DTYPES:
            raise _bad(file, f"encoding '{t.encoding}' needs dtype F32, F16 or BF16, not {t.dtype}",
                       t.name)
        if group.shared_codebook and group.scope == "group":  # kmeans scope group, gmm, vq
            scale = t.raw.get("scale")
            if (not _number(scale) or not math.isfinite(float(np.float32(scale)))
                    or np.float32(scale) <= 0):
                raise _bad(file, "'scale' must be a positive finite number", t.name)
        packing = _field(t.raw, "packing", str, "", file, t.name)
        if packing not in _Codes.PACKINGS:
            raise _bad(file, f"unknown packing '{packing}' (this reader knows "
                             f"{', '.join(_Codes.PACKINGS)}); use a newer Sparticle", t.name)
        if packing != group.packing:
            raise _bad(file, f"packing '{packing}' does not match its group's "
                             f"{'entropy ' + repr(group.entropy) if group.entropy else 'packing lsb'}",
                       t.name)
        if group.entropy:
            _field(t.raw, "segments_key", str, "", file, t.name)
        if group.method == "vq":
            axis = _field(t.raw, "axis", int, "", file, t.name)
            rank = len(t.shape)
            if rank == 0 or axis not in (0, rank - 1):
                raise _bad(file, f"vq axis {axis} of a rank-{rank} tensor must be 0 or {rank - 1}",
                           t.name)
            if t.shape[axis] % group.dim:
                raise _bad(file, f"vq axis {axis} of shape {list(t.shape)} is not a multiple of "
                                 f"dim {group.dim}", t.name)
        if group.prune > 0:
            p = _field(t.raw, "prune", dict, "", file, t.name)
            count, threshold = p.get("count"), p.get("threshold")
            if (not isinstance(count, int) or isinstance(count, bool) or count < 0
                    or not _number(threshold) or not math.isfinite(threshold)):
                raise _bad(file, "'prune' must hold a non-negative integer 'count' and a finite "
                                 "'threshold' (negative: nothing pruned)", t.name)
            if count > t.numel:
                raise _bad(file, f"{count} pruned weights in a tensor of {t.numel}", t.name)
        if group.scope == "channel":
            axis = _field(t.raw, "axis", int, "", file, t.name)
            if len(t.shape) >= 2 and axis not in (0, len(t.shape) - 1):
                raise _bad(file, f"channel axis {axis} of a rank-{len(t.shape)} tensor must be 0 "
                                 f"or {len(t.shape) - 1}", t.name)
        if group.method == "kmeans" and group.scope == "channel":
            _field(t.raw, "codebook_key", str, "", file, t.name)
        if group.method == "uniform":
            _field(t.raw, "scale_key", str, "", file, t.name)
            _field(t.raw, "zero_key", str, "", file, t.name)
        if group.method == "kmeans" and group.scope == "block":
            _field(t.raw, "scale_key", str, "", file, t.name)
            if group.ladder_bits:
                _field(t.raw, "ladder_key", str, "", file, t.name)
        if group.outliers > 0:
            o = _field(t.raw, "outliers", dict, "", file, t.name)
            count = _field(o, "count", int, "'outliers' object: ", file, t.name)
            threshold = o.get("threshold")
            if (count < 0 or not isinstance(threshold, (int, float)) or isinstance(threshold, bool)
                    or not threshold >= 0):
                raise _bad(file, "'outliers' must hold a non-negative integer 'count' and a "
                                 "non-negative 'threshold'", t.name)
            if count > t.numel:
                raise _bad(file, f"{count} outliers in a tensor of {t.numel} weights", t.name)
            for key in ("counts_key", "index_key", "values_key"):
                _field(o, key, str, "'outliers' object: ", file, t.name)

    @staticmethod
    def decode(t: Tensor, reader) -> np.ndarray:
        g = t.raw["group"]
        group = reader.manifest.groups[g]
        codes = _Codes.PACKINGS[t.raw["packing"]](t, reader, group, t.numel // group.dim)
        values = METHODS[group.method](group, t, reader, g, codes)
        out = _round_to(values.astype(np.float32, copy=False), t.dtype)
        if group.outliers > 0:
            _patch_outliers(out, t, reader)
        return out


def _patch_outliers(out: np.ndarray, t: Tensor, reader) -> None:
    """Overwrites the outliers of FORMAT.md 2.7 with their stored values, bit for bit: outlier i
    of segment g is weight g * 65536 + index[i], segments in order, ascending within each."""
    o = t.raw["outliers"]
    count, numel = o["count"], t.numel
    path = reader.store.path(t.file)
    segments = -(-numel // OUTLIER_SEGMENT)
    counts = _aux(reader, t, "counts_key", ("U32",), (segments,), o).astype(np.int64)
    index = _aux(reader, t, "index_key", ("U16",), (count,), o).astype(np.int64)
    values = _aux(reader, t, "values_key", (t.dtype,), (count,), o)
    if int(counts.sum()) != count:
        raise _bad(path, f"outlier counts sum to {int(counts.sum())} but {count} outliers are "
                         "stored", t.name)
    pos = np.repeat(np.arange(segments, dtype=np.int64) * OUTLIER_SEGMENT, counts) + index
    # Ascending within each segment, segments in order: positions strictly ascending overall.
    wrong = np.flatnonzero(np.append(np.diff(pos) <= 0, pos[-1:] >= numel))
    if wrong.size:
        i = int(wrong[0]) + (1 if wrong[0] < count - 1 else 0)
        raise _bad(path, f"outlier {i} at element {int(pos[i])} is out of order or past the "
                         f"tensor's {numel} elements", t.name)
    bits = np.dtype(f"<u{out.itemsize}")
    out.view(bits)[pos] = values.view(bits)


ENCODINGS = {"dense": _Dense, "codebook": _Codes, "codes": _Codes}
"""A tensor's ``encoding`` -> ``check(tensor, groups, file)`` at manifest time and
``decode(tensor, reader)`` giving its flat values in the dtype's storage."""


# ---------------------------------------------------------------- load

def load(path, tensors: Iterable[str] | None = None, *, bf16: str = "uint16",
         check_crc: bool = True, crc32c: str | None = None) -> dict:
    """Decodes a compressed Sparticle checkpoint into ``{name: numpy array}``.

    The arrays hold exactly the values ``sparticle decompress`` writes, with the manifest's
    shapes, in the manifest's order. F32 and F16 come back as float32 and float16; other dense
    dtypes as their numpy dtype. BF16 has no numpy dtype: with ``bf16="uint16"`` (default) a
    BF16 tensor is its raw bits, byte for byte what decompress writes (view them as bfloat16,
    e.g. ``torch.from_numpy(a).view(torch.bfloat16)``); with ``bf16="float32"`` it is widened
    to float32, which is exact (``a.view(np.uint32) >> 16`` gives the bits back). The 8-bit
    float dtypes (kept dense) come back as their uint8 bits.

    Args:
      path: the compressed checkpoint directory: a local path, or any URL fsspec can open
        (``s3://``, ``gs://``, ``abfs://``, ... with fsspec and its file-system package).
      tensors: names to decode (default: all). Only the files holding them are read.
      check_crc: check every file read against the manifest's size and CRC-32C first (default).
      crc32c: ``"google-crc32c"``, ``"crc32c"`` or ``"numpy"``; default: the fastest installed.

    Raises:
      CheckpointError (``reason`` ``INVALID_COMPRESSED``): no ``_SUCCESS``, a bad or unknown
        manifest (format_version, required_features, method, encoding, packing), a missing,
        truncated or corrupt file, a tensor that does not match the manifest.
      FileNotFoundError: no such directory. KeyError: a requested tensor is not in the checkpoint.
    """
    if bf16 not in ("uint16", "float32"):
        raise ValueError(f"bf16 must be 'uint16' or 'float32', not {bf16!r}")
    if crc32c is not None and crc32c not in _crc32c.IMPLEMENTATIONS:
        raise ValueError(f"crc32c implementation {crc32c!r} is not available; "
                         f"installed: {', '.join(_crc32c.IMPLEMENTATIONS)}")
    store = _Store(path)
    manifest = read_manifest(store)
    selected = manifest.tensors
    if tensors is not None:
        wanted = list(tensors) if not isinstance(tensors, str) else [tensors]
        by_name = {t.name: t for t in manifest.tensors}
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise KeyError(f"{store.display}: no tensor named {', '.join(map(repr, missing))} "
                           f"(the checkpoint holds {len(by_name)} tensors)")
        keep = set(wanted)
        selected = [t for t in manifest.tensors if t.name in keep]
    reader = _Reader(store, manifest, check_crc, crc32c)
    try:
        reader.check_sizes()
        out = {}
        for t in selected:
            flat = ENCODINGS[t.encoding].decode(t, reader)
            if t.dtype == "BF16" and bf16 == "float32":
                flat = _to_float32(flat, "BF16")
            out[t.name] = flat.reshape(t.shape)
        return out
    finally:
        reader.close()


def manifest(path) -> dict:
    """The checked manifest of a compressed checkpoint, as a dict (no data file is read)."""
    return read_manifest(_Store(path)).raw
