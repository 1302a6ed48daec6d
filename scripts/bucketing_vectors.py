#!/usr/bin/env python3
"""Writes tests/fixtures/bucketing_v1.json from an independent implementation of the
bucketing spec in docs/request-path.md (Python's hashlib and math, not the Rust code), so the Rust tests prove
that the spec, not just our code, yields these assignments.

    python3 scripts/bucketing_vectors.py > tests/fixtures/bucketing_v1.json
"""
import hashlib
import json
import math

M64 = (1 << 64) - 1


def h(salt: str, unit: str) -> int:
    d = hashlib.sha256(b"sy1\x1f" + salt.encode() + b"\x1f" + unit.encode()).digest()
    return int.from_bytes(d[:8], "big")


def bucket(x: int) -> int:
    return (x * 1_000_000) >> 64


def arm_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")


def mix(x: int, key: int) -> int:
    z = ((x ^ key) + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def unit_interval(x: int) -> float:
    return ((x >> 12) + 0.5) / float(1 << 52)


def choose(x: int, arms):
    best, best_score = None, 0.0
    for name, weight in arms:
        if weight <= 0:
            continue
        s = -weight / math.log(unit_interval(mix(x, arm_key(name))))
        if s > best_score:
            best, best_score = name, s
    return best


ARM_SETS = [
    [["control", 50], ["treatment", 50]],
    [["a", 1], ["b", 2], ["c", 7]],
    [["v1", 90], ["v2", 10], ["v3", 0]],
]

vectors = []
salts = ["fraud:split", "fraud:flag:explain", "fraud:shadow:fraud-v3", "ab:split:exp-7", "", "üñí:split"]
units = ["user-1", "user-42", "", "alice@example.com", "0", "ζ-unit", "a" * 300]
for si, salt in enumerate(salts):
    for ui, unit in enumerate(units):
        x = h(salt, unit)
        arms = ARM_SETS[(si + ui) % len(ARM_SETS)]
        vectors.append({
            "salt": salt,
            "unit": unit,
            "h": f"{x:016x}",
            "bucket": bucket(x),
            "arms": arms,
            "chosen": choose(x, arms),
        })

print(json.dumps({
    "spec": "Switchyard sticky bucketing v1 (docs/request-path.md)",
    "h": "first 8 bytes big-endian of SHA-256('sy1' 0x1F salt 0x1F unit), hex",
    "bucket": "(h * 1_000_000) >> 64, parts per million",
    "chosen": "weighted rendezvous: max over arms with weight > 0 of -weight / ln(u), "
              "u = ((mix(h, key) >> 12) + 0.5) / 2^52, key = first 8 bytes BE of SHA-256(arm name), "
              "mix = SplitMix64 finaliser of (h xor key) + 0x9E3779B97F4A7C15",
    "vectors": vectors,
}, indent=1, ensure_ascii=False))
