#!/usr/bin/env python3
"""bench/model_kind.py IN OUT HOP [TSTAR]: a copy of a twotime model file
with another window kind (HOP -1: sliding window, 0: no window, H: hopping
window of hop H; model/tt_model_int.h) and optionally another t*, its
XXH64 checksum recomputed.  The parameters do not change: for scoring the
same trained model under each kind (`twotime backtest --model OUT`)."""
import struct, sys
M = (1 << 64) - 1
P1, P2, P3, P4, P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F,
                      0x165667B19E3779F9, 0x85EBCA77C2B2AE63,
                      0x27D4EB2F165667C5)
def rotl(x, r): return ((x << r) | (x >> (64 - r))) & M
def rnd(acc, v):
    acc = (acc + v * P2) & M
    return (rotl(acc, 31) * P1) & M
def merge(acc, v):
    acc ^= rnd(0, v)
    return (acc * P1 + P4) & M
def xxh64(b, seed=0):
    n = len(b); i = 0
    if n >= 32:
        v = [(seed + P1 + P2) & M, (seed + P2) & M, seed, (seed - P1) & M]
        lanes = struct.unpack_from('<%dQ' % ((n // 32) * 4), b)
        for j in range(0, len(lanes), 4):
            v[0] = rnd(v[0], lanes[j]); v[1] = rnd(v[1], lanes[j + 1])
            v[2] = rnd(v[2], lanes[j + 2]); v[3] = rnd(v[3], lanes[j + 3])
        i = (n // 32) * 32
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & M
        for x in v: h = merge(h, x)
    else:
        h = (seed + P5) & M
    h = (h + n) & M
    while i + 8 <= n:
        k = rnd(0, struct.unpack_from('<Q', b, i)[0])
        h = ((rotl(h ^ k, 27) * P1) + P4) & M; i += 8
    if i + 4 <= n:
        h = ((rotl(h ^ ((struct.unpack_from('<I', b, i)[0] * P1) & M), 23) * P2) + P3) & M
        i += 4
    while i < n:
        h = (rotl(h ^ ((b[i] * P5) & M), 11) * P1) & M; i += 1
    h ^= h >> 33; h = (h * P2) & M; h ^= h >> 29; h = (h * P3) & M; h ^= h >> 32
    return h
src, dst, hop = sys.argv[1], sys.argv[2], int(sys.argv[3])
b = bytearray(open(src, 'rb').read())
assert struct.unpack_from('<Q', b, len(b) - 8)[0] == xxh64(bytes(b[:-8])), 'checksum'
flags = struct.unpack_from('<I', b, 20)[0] & 0x7  # plus, gru_all, features
if hop == -1: flags |= 0x8
elif hop > 0: flags |= 0x8 | 0x10 | (hop << 8)
struct.pack_into('<I', b, 20, flags)
if len(sys.argv) > 4:  # optional: a different t* (routing) for the same parameters
    struct.pack_into('<I', b, 28, int(sys.argv[4]))
struct.pack_into('<Q', b, len(b) - 8, xxh64(bytes(b[:-8])))
open(dst, 'wb').write(b)
