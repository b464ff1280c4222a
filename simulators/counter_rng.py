"""Counter-based random numbers for Numba kernels: Philox4x32-10 bits, exact normal variates.

Why not NumPy/Numba generators: Numba's parallel RNG is seeded per thread and not
reproducible under ``prange`` (numba#4452), and one NumPy ``Generator`` per trajectory costs
~80 µs to set up — ten times a whole Duffing trajectory. Philox (Salmon et al., SC'11; the
generator behind cuRAND, JAX and PyTorch) maps ``(counter, key)`` to random bits without
state: keyed by a trajectory's 64-bit seed and counted by step, each draw is the same whichever
thread computes it. Verified against the Random123 known-answer vectors in the tests.

Normals come from a 128-layer ziggurat (Marsaglia & Tsang 2000) with the index, sign and
24-bit magnitude taken from disjoint bits of one 32-bit word (avoiding the index/value
correlation of the original; Doornik 2005). Its fast path is branch-free, so kernels evaluate
it on lanes of trajectories in SIMD; the ~1 % of words it rejects go through the exact slow
path with fresh words from a separate stream of the same key. ``normal_pair`` (Box–Muller)
serves one-off draws such as initial conditions.

Words are 32-bit values held in uint64 so that Numba keeps the arithmetic unsigned.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_TWO_PI = 2.0 * math.pi
_INV_2_32 = 1.0 / 4294967296.0
_INV_2_53 = 1.0 / 9007199254740992.0

# Streams within one key: independent sequences for different purposes.
STREAM_SLOW_PATH = 0xFFFF  # fresh words for ziggurat rejections


def _ziggurat_tables(
    layers: int = 128, r: float = 3.442619855899, area: float = 9.91256303526217e-3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Marsaglia–Tsang tables for a 24-bit magnitude: accept bound ``k``, widths ``w``, f(x_i)."""
    scale = float(1 << 24)
    k = np.zeros(layers, dtype=np.uint64)
    w = np.zeros(layers)
    f = np.zeros(layers)
    q = area / math.exp(-0.5 * r * r)
    k[0] = int(r / q * scale)
    w[0] = q / scale
    w[-1] = r / scale
    f[0] = 1.0
    f[-1] = math.exp(-0.5 * r * r)
    x_outer = x_inner = r
    for i in range(layers - 2, 0, -1):
        x_inner = math.sqrt(-2.0 * math.log(area / x_outer + math.exp(-0.5 * x_outer * x_outer)))
        k[i + 1] = int(x_inner / x_outer * scale)
        x_outer = x_inner
        f[i] = math.exp(-0.5 * x_inner * x_inner)
        w[i] = x_inner / scale
    return k, w, f


_ZIG_K, _ZIG_W, _ZIG_F = _ziggurat_tables()
_ZIG_K_SIGNED = _ZIG_K.astype(np.int64)
_ZIG_R = 3.442619855899
_ZIG_MASK = np.uint64(127)


@nb.njit(cache=True, inline="always")
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Ten Philox rounds on a 4×32-bit counter with a 2×32-bit key."""
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = (
            (p1 >> _SHIFT32) ^ c1 ^ k0,
            p1 & _MASK32,
            (p0 >> _SHIFT32) ^ c3 ^ k1,
            p0 & _MASK32,
        )
        k0 = (k0 + _W0) & _MASK32
        k1 = (k1 + _W1) & _MASK32
    return c0, c1, c2, c3


@nb.njit(cache=True, inline="always")
def split_key(seed):
    """A 64-bit seed as the two 32-bit Philox key words."""
    s = np.uint64(seed)
    return s & _MASK32, s >> _SHIFT32


@nb.njit(cache=True, inline="always")
def philox_word(k0, k1, stream, index):
    """Word ``index`` of ``stream`` (four words per Philox block)."""
    i = np.uint64(index)
    block = i >> np.uint64(2)
    r = philox4x32_10(block & _MASK32, block >> _SHIFT32, np.uint64(stream), np.uint64(0), k0, k1)
    lane = i & np.uint64(3)
    if lane == 0:
        return r[0]
    if lane == 1:
        return r[1]
    if lane == 2:
        return r[2]
    return r[3]


@nb.njit(cache=True, inline="always")
def normal_pair(k0, k1, stream, block):
    """Two independent N(0, 1) draws (Box–Muller on two 53-bit uniforms) for one counter."""
    b = np.uint64(block)
    r0, r1, r2, r3 = philox4x32_10(
        b & _MASK32, b >> _SHIFT32, np.uint64(stream), np.uint64(0), k0, k1
    )
    u1 = 1.0 - float((r0 >> np.uint64(5)) * np.uint64(67108864) + (r1 >> np.uint64(6))) * _INV_2_53
    u2 = float((r2 >> np.uint64(5)) * np.uint64(67108864) + (r3 >> np.uint64(6))) * _INV_2_53
    radius = math.sqrt(-2.0 * math.log(u1))
    return radius * math.cos(_TWO_PI * u2), radius * math.sin(_TWO_PI * u2)


@nb.njit(cache=True)
def lane_scratch(lanes):
    """Work arrays for :func:`philox_lanes` / :func:`normals_lanes`."""
    return (
        np.empty(lanes, dtype=np.uint64),
        np.empty(lanes, dtype=np.uint64),
        np.empty(lanes, dtype=np.uint64),
        np.empty(lanes, dtype=np.uint64),
        np.empty(lanes, dtype=np.uint64),
        np.empty(lanes, dtype=np.uint64),
    )


@nb.njit(cache=True, inline="always")
def philox_lanes(block, stream, k0, k1, scratch):
    """One Philox block per lane: ``scratch[0..3][j]`` get the words of counter
    ``(block, stream)`` under key ``(k0[j], k1[j])``; ``scratch[4..5]`` hold the key schedule.

    ``scratch`` is a tuple of six separately allocated arrays (:func:`lane_scratch`).
    """
    c0, c1, c2, c3, kk0, kk1 = scratch
    b = np.uint64(block)
    s = np.uint64(stream)
    for j in range(k0.shape[0]):
        c0[j] = b & _MASK32
        c1[j] = b >> _SHIFT32
        c2[j] = s
        c3[j] = np.uint64(0)
        kk0[j] = k0[j]
        kk1[j] = k1[j]
    for _ in range(10):
        for j in range(k0.shape[0]):
            p0 = _M0 * c0[j]
            p1 = _M1 * c2[j]
            hi1 = (p1 >> _SHIFT32) ^ c1[j] ^ kk0[j]
            hi0 = (p0 >> _SHIFT32) ^ c3[j] ^ kk1[j]
            c1[j] = p1 & _MASK32
            c3[j] = p0 & _MASK32
            c0[j] = hi1
            c2[j] = hi0
            kk0[j] = (kk0[j] + _W0) & _MASK32
            kk1[j] = (kk1[j] + _W1) & _MASK32


@nb.njit(cache=True, inline="always")
def _ziggurat_fast_row(words, out, offset):
    """Fast-path normals of a row of words into ``out[offset:]``; returns the rejection count."""
    rejected = 0
    for j in range(words.shape[0]):
        word = words[j]
        idx = np.int64(word & _ZIG_MASK)
        magnitude = np.int64(word >> np.uint64(8))
        negative = np.int64((word >> np.uint64(7)) & np.uint64(1))
        out[offset + j] = float(magnitude - 2 * negative * magnitude) * _ZIG_W[idx]
        rejected += magnitude >= _ZIG_K_SIGNED[idx]
    return rejected


@nb.njit(cache=True)
def ziggurat_slow(word, k0, k1, counter):
    """Exact ziggurat for a word the fast test rejected; draws fresh words from the slow stream.

    Returns the normal and the updated count of slow-stream words used by this key.
    """
    one = np.uint64(1)
    while True:
        idx = word & _ZIG_MASK
        magnitude = word >> np.uint64(8)
        sign = 1.0 - 2.0 * float((word >> np.uint64(7)) & one)
        x = sign * float(magnitude) * _ZIG_W[idx]
        if magnitude < _ZIG_K[idx]:
            return x, counter
        if idx == 0:  # base strip: sample the tail beyond r (Marsaglia 1964)
            while True:
                u1 = (float(philox_word(k0, k1, STREAM_SLOW_PATH, counter)) + 0.5) * _INV_2_32
                u2 = (float(philox_word(k0, k1, STREAM_SLOW_PATH, counter + one)) + 0.5) * _INV_2_32
                counter += np.uint64(2)
                tail = -math.log(u1) / _ZIG_R
                if -2.0 * math.log(u2) >= tail * tail:
                    return sign * (_ZIG_R + tail), counter
        u = (float(philox_word(k0, k1, STREAM_SLOW_PATH, counter)) + 0.5) * _INV_2_32
        counter += one
        if _ZIG_F[idx] + u * (_ZIG_F[idx - one] - _ZIG_F[idx]) < math.exp(-0.5 * x * x):
            return x, counter
        word = philox_word(k0, k1, STREAM_SLOW_PATH, counter)
        counter += one


@nb.njit(cache=True, inline="always")
def normals_lanes(block, stream, k0, k1, slow_counter, scratch, out):
    """Four normals per lane for counter ``(block, stream)`` of key j: ``out[q * lanes + j]``.

    ``scratch`` comes from :func:`lane_scratch`; ``slow_counter[j]`` counts the slow-stream
    words lane j has used (updated in place).
    """
    lanes = k0.shape[0]
    philox_lanes(block, stream, k0, k1, scratch)
    rejected = 0
    for q in range(4):
        rejected += _ziggurat_fast_row(scratch[q], out, q * lanes)
    if rejected:
        for q in range(4):
            words = scratch[q]
            for j in range(lanes):
                if (words[j] >> np.uint64(8)) >= _ZIG_K[words[j] & _ZIG_MASK]:
                    out[q * lanes + j], slow_counter[j] = ziggurat_slow(
                        words[j], k0[j], k1[j], slow_counter[j]
                    )


@nb.njit(cache=True)
def philox_block(counter, key):
    """Python-callable Philox4x32-10 on arrays ``counter[4]``, ``key[2]`` (for tests)."""
    r = philox4x32_10(
        np.uint64(counter[0]),
        np.uint64(counter[1]),
        np.uint64(counter[2]),
        np.uint64(counter[3]),
        np.uint64(key[0]),
        np.uint64(key[1]),
    )
    return np.array([r[0], r[1], r[2], r[3]], dtype=np.uint64)


@nb.njit(cache=True)
def ziggurat_normals(seeds, stream, n_blocks):
    """``(len(seeds), 4 * n_blocks)`` normals, exactly as kernels draw them (for tests)."""
    n = seeds.shape[0]
    k0 = np.empty(n, dtype=np.uint64)
    k1 = np.empty(n, dtype=np.uint64)
    for j in range(n):
        k0[j], k1[j] = split_key(seeds[j])
    slow = np.zeros(n, dtype=np.uint64)
    scratch = lane_scratch(n)
    block_out = np.empty(4 * n)
    out = np.empty((n, 4 * n_blocks))
    for b in range(n_blocks):
        normals_lanes(b, stream, k0, k1, slow, scratch, block_out)
        for q in range(4):
            for j in range(n):
                out[j, 4 * b + q] = block_out[q * n + j]
    return out
