"""CRC-32C (Castagnoli), as FORMAT.md's manifest ``files[].crc32c``.

Uses ``google_crc32c`` or ``crc32c`` when installed (hardware-accelerated C), else a numpy
implementation: the data is cut into equal lanes whose CRC registers advance together, one byte
of every lane per vectorized table step, and the lanes are then chained with the linear map
"advance the register over one lane of zero bytes" (CRC is linear over GF(2)). About 60 MB/s
on the 2-core development machine, against under 2 MB/s for a byte loop in Python.
"""

from __future__ import annotations

import functools

import numpy as np

_POLY = 0x82F63B78  # Castagnoli, bit-reflected
_LANE = 4096  # bytes per lane in the numpy path


def _make_table() -> np.ndarray:
    t = np.zeros(256, dtype=np.uint32)
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        t[n] = c
    return t


_TABLE = _make_table()
_TABLE_LIST = [int(x) for x in _TABLE]


def _advance_bytes(reg: int, data) -> int:
    """The raw register (no pre/post inversion) after ``data``, byte by byte."""
    t = _TABLE_LIST
    for b in data:
        reg = t[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return reg


@functools.lru_cache(maxsize=4)
def _zeros_operator(n: int) -> tuple:
    """Byte tables of the linear map reg -> register after n zero bytes."""
    cols = []
    for bit in range(32):
        cols.append(_advance_bytes(1 << bit, bytes(n)))
    tables = []
    for k in range(4):
        tab = [0] * 256
        for b in range(256):
            v = 0
            for j in range(8):
                if b >> j & 1:
                    v ^= cols[8 * k + j]
            tab[b] = v
        tables.append(tab)
    return tuple(tables)


def _numpy_extend(reg: int, data: np.ndarray) -> int:
    n = data.size
    lanes = n // _LANE
    if lanes < 16:
        return _advance_bytes(reg, data.tobytes())
    body = lanes * _LANE
    # Row j holds byte j of every lane: each step reads one contiguous row.
    cols = np.ascontiguousarray(data[:body].reshape(lanes, _LANE).T)
    regs = np.zeros(lanes, dtype=np.uint32)
    table = _TABLE
    for j in range(_LANE):
        regs = table[(regs ^ cols[j]) & 0xFF] ^ (regs >> 8)
    t0, t1, t2, t3 = _zeros_operator(_LANE)
    for r in regs.tolist():
        reg = (t0[reg & 0xFF] ^ t1[(reg >> 8) & 0xFF] ^ t2[(reg >> 16) & 0xFF]
               ^ t3[reg >> 24]) ^ r
    return _advance_bytes(reg, data[body:].tobytes())


class _NumpyCrc:
    name = "numpy"

    def __init__(self):
        self._reg = 0xFFFFFFFF

    def update(self, data) -> None:
        arr = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
        self._reg = _numpy_extend(self._reg, arr)

    def value(self) -> int:
        return self._reg ^ 0xFFFFFFFF


class _GoogleCrc:
    name = "google-crc32c"

    def __init__(self):
        import google_crc32c
        self._mod = google_crc32c
        self._crc = 0

    def update(self, data) -> None:
        self._crc = self._mod.extend(self._crc, bytes(data) if not isinstance(data, bytes) else data)

    def value(self) -> int:
        return self._crc


class _Crc32cPackage:
    name = "crc32c"

    def __init__(self):
        import crc32c
        self._mod = crc32c
        self._crc = 0

    def update(self, data) -> None:
        self._crc = self._mod.crc32c(data, self._crc)

    def value(self) -> int:
        return self._crc


def _available():
    found = []
    for cls in (_GoogleCrc, _Crc32cPackage):
        try:
            cls()
        except Exception:  # not installed, or a build without its extension
            continue
        found.append(cls)
    return found + [_NumpyCrc]


IMPLEMENTATIONS = {cls.name: cls for cls in _available()}
"""Usable implementations by name, fastest first; ``numpy`` is always there."""

DEFAULT = next(iter(IMPLEMENTATIONS))


def crc32c(data, implementation: str | None = None) -> int:
    c = IMPLEMENTATIONS[implementation or DEFAULT]()
    c.update(data)
    return c.value()


def hasher(implementation: str | None = None):
    """An incremental CRC-32C: ``update(bytes)``, then ``value()``."""
    return IMPLEMENTATIONS[implementation or DEFAULT]()
