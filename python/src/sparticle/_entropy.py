"""Decoder of entropy-coded code segments (``io.sparticle.packing.EntropyCoder``, format 1).

A segment is one tag byte, a symbol table and a stream; it holds ``n`` codes of ``bits`` bits,
and ``n`` is not stored (the caller knows it). The layout, as the Java class documents it:

- tag: ``0x11`` Huffman, ``0x12`` rANS;
- symbol table: for the k = 2**bits symbols in order, unsigned LEB128 varints (minimal, at most
  3 bytes): ``v > 0`` gives the next symbol the value v; ``0`` is followed by a varint r and gives
  the next r + 1 symbols the value 0; exactly k symbols are covered. The value is the quantized
  frequency (rANS) or the code length (Huffman); u = number of symbols with a value;
- u = 0: n must be 0, no stream; u = 1: every code is that symbol (its value is 2**scale_bits for
  rANS, 1 for Huffman), no stream; u >= 2: the stream follows;
- rANS stream: scale_bits = 16 for bits <= 12 else 20; frequencies sum to 2**scale_bits; states
  x0, x1 (little-endian U32 in [2**23, 2**31)), then renormalization bytes; code i is decoded from
  state i % 2 (``slot = x & (M - 1)``, ``x = f[s] * (x >> scale) + slot - c[s]``, then bytes are
  shifted in while ``x < 2**23``); both states end at 2**23 with every byte used;
- Huffman stream: lengths <= max(11, bits + 3) forming a complete canonical code (deflate's
  rule); one byte P (0..7) of zero padding bits, then the codes LSB-first (each code from its
  most significant bit into the lowest free bit), padded with P zero bits.

Speed (one core of the development machine, numpy 2.4, 2**20-code segments written by the Java
encoder): Huffman about 4-5 M codes/s for 4- and 8-bit codes and 2 M/s for 16-bit (numpy looks up
every bit position at once, then follows the chain of code starts 16 codes per Python step);
rANS about 2 M codes/s for 4-bit, 1.6 M/s for 8-bit and 0.6 M/s for 16-bit, in a plain Python
loop, because a rANS state cannot be split. The Java decoder is 30-100 times faster; this one is
for reading checkpoints without a JVM. Corrupt input raises ``ValueError`` naming what is wrong.
"""

from __future__ import annotations

import numpy as np

TAGS = {"huffman": 0x11, "rans": 0x12}
RANS_L = 1 << 23
_JUMP_LOG = 4  # the Huffman chain is followed 2**4 codes per Python step
_WINDOW_BITS = 1 << 22  # bit positions looked up at once (bounds the memory to ~100 MB)


def segment_codes(bits: int) -> int:
    """Codes per segment Sparticle uses for 2**bits symbols: max(2**20, 64 * 2**bits)."""
    _check_bits(bits)
    return max(1 << 20, 64 << bits)


def rans_scale_bits(bits: int) -> int:
    _check_bits(bits)
    return 16 if bits <= 12 else 20


def huffman_max_length(bits: int) -> int:
    _check_bits(bits)
    return max(11, bits + 3)


def _check_bits(bits: int) -> None:
    if not isinstance(bits, int) or not 1 <= bits <= 16:
        raise ValueError(f"Cannot decode with bits {bits}: must be between 1 and 16")


def decode_segment(kind: str, bits: int, buf, n: int) -> np.ndarray:
    """Decodes one segment of exactly ``n`` codes from all of ``buf`` into a uint16 array.

    ``buf`` (bytes, bytearray, memoryview or a uint8 array) must hold the segment and nothing
    else. Raises ``ValueError`` on a bad argument or a corrupt, truncated or oversized segment.
    """
    if kind not in TAGS:
        raise ValueError(f"Cannot decode entropy kind {kind!r}: must be one of huffman, rans")
    _check_bits(bits)
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"Cannot decode {n} codes: n must be a non-negative integer")
    n = int(n)
    data = np.frombuffer(buf, dtype=np.uint8) if not isinstance(buf, np.ndarray) else buf
    if data.dtype != np.uint8 or data.ndim != 1:
        raise ValueError("Cannot decode a segment: buf must be bytes or a 1-D uint8 array")

    def bad(detail: str) -> ValueError:
        return ValueError(f"Cannot decode {kind} segment of {n} codes: {detail}")

    if len(data) == 0:
        raise bad("it is empty, a segment has at least a tag and a table")
    tag = int(data[0])
    if tag != TAGS[kind]:
        raise bad(f"tag is 0x{tag:02x}, expected 0x{TAGS[kind]:02x} ({kind}, format 1)")
    max_value = (1 << rans_scale_bits(bits)) if kind == "rans" else huffman_max_length(bits)
    values, p = _read_table(kind, bits, data, max_value, bad)
    used = np.flatnonzero(values)
    out = np.empty(n, dtype=np.uint16)
    if len(used) == 0 or n == 0:
        if len(used) != 0 or n != 0:
            raise bad(f"table lists {len(used)} used symbols, but the segment has {n} codes "
                      "(exactly one of them is 0)")
        _check_end(len(data) - p, bad)
        return out
    if len(used) == 1:
        s = int(used[0])
        want = max_value if kind == "rans" else 1
        if int(values[s]) != want:
            what = "frequency" if kind == "rans" else "length"
            raise bad(f"the only used symbol {s} has {what} {int(values[s])}, must be {want}")
        _check_end(len(data) - p, bad)
        out.fill(s)
        return out
    if kind == "rans":
        _decode_rans(bits, values, data, p, n, out, bad)
    else:
        _decode_huffman(bits, values, data, p, n, out, bad)
    return out


def decode_segments(kind: str, bits: int, buf, ends, total_codes: int,
                    segment_codes: int) -> np.ndarray:
    """Decodes ``total_codes`` codes stored as consecutive segments of ``segment_codes`` codes
    (the last one shorter) into one uint16 array.

    ``ends[i]`` is the end offset of segment i in ``buf`` (segment i spans ``ends[i-1]`` to
    ``ends[i]``, the first starting at 0); there must be ceil(total_codes / segment_codes) of them,
    non-decreasing, the last equal to ``len(buf)``.
    """
    if segment_codes <= 0:
        raise ValueError(f"Cannot decode segments of {segment_codes} codes: must be positive")
    if total_codes < 0:
        raise ValueError(f"Cannot decode {total_codes} codes: must not be negative")
    data = np.frombuffer(buf, dtype=np.uint8) if not isinstance(buf, np.ndarray) else buf
    ends = [int(e) for e in ends]
    count = -(-total_codes // segment_codes)
    if len(ends) != count:
        raise ValueError(f"Cannot decode {total_codes} codes in segments of {segment_codes}: "
                         f"{len(ends)} segment ends given, expected {count}")
    out = np.empty(total_codes, dtype=np.uint16)
    start = 0
    for i, end in enumerate(ends):
        if end < start or end > len(data):
            raise ValueError(f"Cannot decode segment {i}: its range [{start}, {end}) is not "
                             f"within [{start}, {len(data)}]")
        lo = i * segment_codes
        hi = min(total_codes, lo + segment_codes)
        try:
            out[lo:hi] = decode_segment(kind, bits, data[start:end], hi - lo)
        except ValueError as e:
            raise ValueError(f"segment {i} at bytes [{start}, {end}): {e}") from None
        start = end
    if start != len(data):
        raise ValueError(f"Cannot decode segments: {len(data) - start} bytes after the last "
                         "segment, expected none")
    return out


def _check_end(left: int, bad) -> None:
    if left != 0:
        raise bad(f"{left} trailing bytes after the table, expected none")


def _read_table(kind, bits, data, max_value, bad):
    k = 1 << bits
    values = np.zeros(k, dtype=np.int64)
    raw = data.tobytes() if len(data) < 6 * k + 16 else data[:6 * k + 16].tobytes()
    end = len(raw)
    p = 1
    s = 0

    def varint(what):
        nonlocal p
        v = 0
        shift = 0
        while True:
            if p >= end:
                raise bad(f"table is truncated at {what}")
            b = raw[p]
            p += 1
            v |= (b & 0x7F) << shift
            if b < 0x80:
                if b == 0 and shift > 0:
                    raise bad(f"table has an overlong varint at {what}")
                return v
            if shift == 14:
                raise bad(f"table has a varint longer than 3 bytes at {what}")
            shift += 7

    while s < k:
        v = varint(f"symbol {s}")
        if v > max_value:
            limit = "the total frequency" if kind == "rans" else "the longest code length"
            raise bad(f"table value {v} for symbol {s} exceeds {limit} {max_value}")
        if v:
            values[s] = v
            s += 1
        else:
            r = varint(f"the zero run at symbol {s}")
            if r >= k - s:
                raise bad(f"zero run of {r + 1} symbols at symbol {s} passes the alphabet size {k}")
            s += r + 1
    return values, p


def _decode_rans(bits, freq, data, p, n, out, bad):
    scale = rans_scale_bits(bits)
    m = 1 << scale
    total = int(freq.sum())
    if total != m:
        raise bad(f"frequencies sum to {total}, must sum to {m}")
    if len(data) - p < 8:
        raise bad(f"stream is truncated: {len(data) - p} bytes, the two initial states need 8")
    x0 = int.from_bytes(data[p:p + 4].tobytes(), "little")
    x1 = int.from_bytes(data[p + 4:p + 8].tobytes(), "little")
    if not (RANS_L <= x0 < 1 << 31 and RANS_L <= x1 < 1 << 31):
        raise bad(f"initial states {x0}, {x1} are outside [2^23, 2^31)")
    # Per slot: the symbol, its frequency and slot - start, as Python lists (fastest to index).
    used = np.flatnonzero(freq)
    f_used = freq[used]
    sym = np.repeat(used, f_used)
    start = np.repeat(np.cumsum(f_used) - f_used, f_used)
    sym_l = sym.tolist()
    f_l = freq[sym].tolist()
    bias_l = (np.arange(m) - start).tolist()
    stream = data[p + 8:].tobytes()
    q = 0
    mask = m - 1
    lower = RANS_L
    codes = [0] * n
    i = 0
    try:
        while i + 1 < n:
            slot = x0 & mask
            codes[i] = sym_l[slot]
            x0 = f_l[slot] * (x0 >> scale) + bias_l[slot]
            while x0 < lower:
                x0 = (x0 << 8) | stream[q]
                q += 1
            slot = x1 & mask
            codes[i + 1] = sym_l[slot]
            x1 = f_l[slot] * (x1 >> scale) + bias_l[slot]
            while x1 < lower:
                x1 = (x1 << 8) | stream[q]
                q += 1
            i += 2
        if i < n:
            slot = x0 & mask
            codes[i] = sym_l[slot]
            x0 = f_l[slot] * (x0 >> scale) + bias_l[slot]
            while x0 < lower:
                x0 = (x0 << 8) | stream[q]
                q += 1
    except IndexError:
        raise bad(f"stream is truncated: it ends while decoding code {i}") from None
    if x0 != RANS_L or x1 != RANS_L:
        raise bad(f"final states are {x0}, {x1}, must both be 2^23 = {RANS_L} "
                  "(corrupt stream or wrong code count)")
    if q != len(stream):
        raise bad(f"{len(stream) - q} trailing bytes after the stream, expected none")
    out[:] = codes


def _decode_huffman(bits, lengths, data, p, n, out, bad):
    max_len = huffman_max_length(bits)
    used = np.flatnonzero(lengths)
    lens = lengths[used]
    kraft = sum(1 << (max_len - int(l)) for l in lens)
    if kraft != 1 << max_len:
        raise bad(f"code lengths are not a complete prefix code: Kraft sum is {kraft}/2^{max_len}, "
                  "must be 1")
    table_bits = int(lens.max())
    # Canonical codes (deflate): by (length, symbol), counting up, bit-reversed for LSB-first.
    order = np.lexsort((used, lens))
    size = 1 << table_bits
    tsym = np.zeros(size, dtype=np.uint16)
    tlen = np.zeros(size, dtype=np.int32)
    code = 0
    prev = 0
    for j in order.tolist():
        l = int(lens[j])
        code <<= l - prev
        prev = l
        rev = int(format(code, f"0{l}b")[::-1], 2)
        tsym[rev::1 << l] = used[j]
        tlen[rev::1 << l] = l
        code += 1
    if p >= len(data):
        raise bad("stream is truncated: the padding byte is missing")
    pad = int(data[p])
    if pad > 7:
        raise bad(f"padding byte is {pad}, must be 0..7")
    stream = data[p + 1:]
    nbits = 8 * len(stream) - pad
    if nbits < n:
        raise bad(f"stream is truncated: {max(nbits, 0)} bits cannot hold {n} codes")
    if pad and int(stream[-1]) >> (8 - pad):
        raise bad("padding bits of the last byte are not zero")
    # The 32 stream bits from every byte: enough for any shift 0..7 plus a 19-bit lookup.
    b = np.zeros(len(stream) + 4, dtype=np.uint32)
    b[:len(stream)] = stream
    words = b[:-3] | (b[1:-2] << 8) | (b[2:-1] << 16) | (b[3:] << 24)
    mask = np.uint32(size - 1)
    steps = 1 << _JUMP_LOG
    got = 0
    pos = 0  # the next code's start, a true code boundary
    for a in range(0, nbits, _WINDOW_BITS):
        w = min(_WINDOW_BITS, nbits - a)  # positions a .. a + w - 1 of this window
        if pos >= a + w:
            continue
        local = np.arange(w, dtype=np.int32)
        idx = (words[(a >> 3) + (local >> 3)] >> (local & 7).astype(np.uint32)) & mask
        nxt = local + tlen[idx]  # local position after the code starting there (may be >= w)
        # jump[q] = local position 2**k codes on from q, or w once the chain leaves the window
        jump = np.append(np.minimum(nxt, w), np.int32(w))
        for _ in range(_JUMP_LOG):
            jump = jump[jump]
        q = pos - a
        anchors = []
        while True:
            t = int(jump[q])
            if t >= w:
                break
            anchors.append(q)
            q = t
        if anchors:
            cur = np.asarray(anchors, dtype=np.int64)
            starts = np.empty((len(anchors), steps), dtype=np.int64)
            for j in range(steps):
                starts[:, j] = cur
                cur = nxt[cur]
            starts = starts.ravel()
        else:
            starts = np.empty(0, dtype=np.int64)
        tail = []
        while q < w:
            tail.append(q)
            q = int(nxt[q])
        count = len(starts) + len(tail)
        if got + count > n:
            raise bad(f"stream holds more than {n} codes (corrupt stream or wrong code count)")
        out[got:got + len(starts)] = tsym[idx[starts]]
        got += len(starts)
        out[got:got + len(tail)] = tsym[idx[tail]]
        got += len(tail)
        pos = a + q
    if got != n or pos != nbits:
        if got < n or pos > nbits:
            raise bad(f"stream is truncated: it ends while decoding code {got - (pos > nbits)}")
        raise bad(f"stream has {nbits - pos} bits after the last code, the padding byte says "
                  f"{pad} (corrupt stream or wrong code count)")
