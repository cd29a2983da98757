"""vLLM's human-readable integers ("32k", "8K", "4G"), shared by the flag checker (lower) and
the planner's reading of engine.extra_args (plan)."""
from __future__ import annotations

import re

_HUMAN_INT = re.compile(r"(\d+(?:\.\d+)?)([kKmMgGtT])")
_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_BINARY = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def human_readable_int(text: str) -> int:
    """argparse type of `--max-model-len`, `--kv-cache-memory-bytes`, …: lowercase suffixes
    are powers of 1000, uppercase powers of 1024 (no decimals with those)."""
    text = text.strip()
    match = _HUMAN_INT.fullmatch(text)
    if not match:
        return int(text)
    number, suffix = match.groups()
    if suffix in _DECIMAL:
        return int(float(number) * _DECIMAL[suffix])
    if "." in number:
        raise ValueError("decimals are not allowed with binary (K/M/G/T) suffixes")
    return int(number) * _BINARY[suffix]
