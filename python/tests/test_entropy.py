"""sparticle._entropy against segments the Java EntropyCoder wrote (fixtures/entropy, regenerated
by EntropyCoderTest with -Dsparticle.entropy.fixtures=write), and every refusal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sparticle._entropy import decode_segment, decode_segments, segment_codes

FIXTURES = Path(__file__).parent / "fixtures" / "entropy"
CASES = json.loads((FIXTURES / "cases.json").read_text())


def _segments(case):
    """(bytes, expected codes) of each segment of a fixture case."""
    buf = (FIXTURES / case["segments"]).read_bytes()
    codes = np.fromfile(FIXTURES / case["codes"], dtype="<u2")
    out, start = [], 0
    for i, end in enumerate(case["ends"]):
        lo = i * case["segment_codes"]
        out.append((buf[start:end], codes[lo:lo + case["segment_codes"]]))
        start = end
    return out


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_decodes_what_java_encoded(case):
    buf = (FIXTURES / case["segments"]).read_bytes()
    expected = np.fromfile(FIXTURES / case["codes"], dtype="<u2")
    assert len(expected) == case["n"]
    if case["n"] == 0:
        got = decode_segment(case["kind"], case["bits"], buf, 0)
    else:
        got = decode_segments(case["kind"], case["bits"], memoryview(buf), case["ends"], case["n"],
                              case["segment_codes"])
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, expected)


def test_worked_examples_from_the_javadoc():
    example = [0, 0, 1, 2, 0, 3, 0, 1]
    huff = bytes.fromhex("11 01 02 03 03 02 34 17")
    rans = bytes.fromhex("12 80 80 02 80 80 01 80 40 80 40 00 00 01 10 e0 44 01 01 00")
    assert (FIXTURES / "example.huffman.bin").read_bytes() == huff
    assert (FIXTURES / "example.rans.bin").read_bytes() == rans
    assert decode_segment("huffman", 2, huff, 8).tolist() == example
    assert decode_segment("rans", 2, rans, 8).tolist() == example


def test_single_symbol_and_empty():
    assert decode_segment("rans", 4, bytes([0x12, 0x00, 0x06, 0x80, 0x80, 0x04, 0x00, 0x07]),
                          3).tolist() == [7, 7, 7]
    assert decode_segment("huffman", 4, bytes([0x11, 0x00, 0x06, 0x01, 0x00, 0x07]),
                          2).tolist() == [7, 7]
    assert decode_segment("huffman", 4, bytes([0x11, 0x00, 0x0F]), 0).tolist() == []
    assert segment_codes(4) == 1 << 20 and segment_codes(16) == 1 << 22


def _rejects(kind, bits, buf, n, message):
    with pytest.raises(ValueError) as e:
        decode_segment(kind, bits, buf, n)
    assert str(e.value) == message


def test_rejects_garbage_tables():
    _rejects("rans", 2, bytes([0x12, 1, 1, 1, 1, 0, 0, 0x80, 0, 0, 0, 0x80, 0]), 4,
             "Cannot decode rans segment of 4 codes: frequencies sum to 4, must sum to 65536")
    _rejects("huffman", 2, bytes([0x11, 1, 1, 1, 0, 0, 0xFF]), 4,
             "Cannot decode huffman segment of 4 codes: code lengths are not a complete prefix "
             "code: Kraft sum is 3072/2^11, must be 1")
    _rejects("huffman", 2, bytes([0x11, 2, 2, 2, 0, 0, 0xFF]), 4,
             "Cannot decode huffman segment of 4 codes: code lengths are not a complete prefix "
             "code: Kraft sum is 1536/2^11, must be 1")
    _rejects("huffman", 2, bytes([0x11, 1, 12, 0, 1]), 4,
             "Cannot decode huffman segment of 4 codes: table value 12 for symbol 1 exceeds the "
             "longest code length 11")
    _rejects("rans", 2, bytes([0x12, 0, 4]), 4,
             "Cannot decode rans segment of 4 codes: zero run of 5 symbols at symbol 0 passes the "
             "alphabet size 4")
    _rejects("rans", 2, bytes([0x12, 0x81, 0x00, 0, 2]), 4,
             "Cannot decode rans segment of 4 codes: table has an overlong varint at symbol 0")
    _rejects("rans", 2, bytes([0x12, 0x81, 0x81, 0x81, 0x01]), 4,
             "Cannot decode rans segment of 4 codes: table has a varint longer than 3 bytes at "
             "symbol 0")
    _rejects("rans", 1, bytes([0x12, 0x80, 0x80, 0x02, 0x80, 0x80, 0x02,
                               0, 0, 0x80, 0, 0, 0, 0, 0x80]), 2,
             "Cannot decode rans segment of 2 codes: initial states 8388608, 2147483648 are "
             "outside [2^23, 2^31)")


def test_rejects_wrong_tag_count_and_trailing_bytes():
    huff = (FIXTURES / "example.huffman.bin").read_bytes()
    rans = (FIXTURES / "example.rans.bin").read_bytes()
    _rejects("rans", 2, huff, 8,
             "Cannot decode rans segment of 8 codes: tag is 0x11, expected 0x12 (rans, format 1)")
    _rejects("huffman", 2, b"", 8,
             "Cannot decode huffman segment of 8 codes: it is empty, a segment has at least a tag "
             "and a table")
    _rejects("rans", 2, rans + b"\0", 8,
             "Cannot decode rans segment of 8 codes: 1 trailing bytes after the stream, expected "
             "none")
    _rejects("rans", 2, rans, 0,
             "Cannot decode rans segment of 0 codes: table lists 4 used symbols, but the segment "
             "has 0 codes (exactly one of them is 0)")
    for kind, seg in (("huffman", huff), ("rans", rans)):
        for n in (7, 9):
            with pytest.raises(ValueError):
                decode_segment(kind, 2, seg, n)
        with pytest.raises(ValueError):
            decode_segment(kind, 2, seg + b"\0", 8)
    with pytest.raises(ValueError, match="2 segment ends given, expected 1"):
        decode_segments("rans", 2, rans, [len(rans), len(rans)], 8, 8)
    with pytest.raises(ValueError, match="bytes after the last segment"):
        decode_segments("rans", 2, rans + b"\0", [len(rans)], 8, 8)
    with pytest.raises(ValueError, match="^segment 0 at bytes"):
        decode_segments("rans", 2, rans[:-1], [len(rans) - 1], 8, 8)


@pytest.mark.parametrize("name", ["gauss4.huffman", "gauss4.rans", "laplace8.huffman",
                                  "dense13.rans", "sparse16.huffman", "bits1.rans"])
def test_rejects_every_truncation(name):
    case = next(c for c in CASES if c["name"] == name)
    (seg, codes), = _segments(case)
    # every cut through the table and the stream's first bytes, then 150 more across the stream
    cuts = sorted(set(range(min(80, len(seg)))) | set(np.linspace(0, len(seg) - 1, 150, dtype=int)))
    for cut in cuts:
        with pytest.raises(ValueError):
            decode_segment(case["kind"], case["bits"], seg[:cut], len(codes))


def test_mutations_decode_or_raise_value_error():
    rng = np.random.default_rng(5)
    picked = [c for c in CASES if c["n"] and len(c["ends"]) == 1 and c["n"] <= 5000]
    rejected = decoded = 0
    for trial in range(600):
        case = picked[trial % len(picked)]
        (seg, codes), = _segments(case)
        bad = bytearray(seg)
        how = trial % 4
        if how == 0:
            i = int(rng.integers(len(bad)))
            bad[i] ^= 1 << int(rng.integers(8))
        elif how == 1:
            for i in rng.integers(len(bad), size=3):
                bad[int(i)] = int(rng.integers(256))
        elif how == 2:
            bad = bad[:int(rng.integers(len(bad) + 1))]
        else:
            bad[1 + int(rng.integers(min(6, len(bad) - 1)))] = int(rng.integers(256))
        try:
            decode_segment(case["kind"], case["bits"], bytes(bad), len(codes))
            decoded += 1
        except ValueError as e:
            assert str(e).startswith(f"Cannot decode {case['kind']} segment of ")
            rejected += 1
    assert rejected > decoded


@pytest.mark.parametrize("window", [8, 64, 1024])
def test_huffman_windows_join_exactly(monkeypatch, window):
    # Real segments span several 2**22-bit windows; small windows test the joins on the fixtures.
    from sparticle import _entropy
    monkeypatch.setattr(_entropy, "_WINDOW_BITS", window)
    for case in CASES:
        if case["kind"] == "huffman" and case["n"]:
            for seg, codes in _segments(case):
                np.testing.assert_array_equal(
                    decode_segment("huffman", case["bits"], seg, len(codes)), codes)
