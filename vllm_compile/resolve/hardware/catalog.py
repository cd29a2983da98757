"""The GPU catalog (`vllm_compile/data/gpus.json`) and name matching.

Names match case-insensitively, ignoring spaces, dashes and underscores and a leading
"NVIDIA"/"GeForce"/"Tesla"/"AMD Instinct", so a pasted `nvidia-smi` name, the catalog name and
short forms all land on the same entry. Every key belongs to exactly one entry; ambiguous short
forms ("H100") are aliases of one documented default (see the catalog's "defaults").
"""
from __future__ import annotations

import functools
import json
import os
import re
from vllm_compile.fastclass import dataclass

from vllm_compile.ir.facts import GpuFacts

_NOISE = re.compile(r"[\s_\-]+")
_PREFIXES = ("nvidia", "geforce", "tesla", "amd", "instinct")


class UnknownGpuError(Exception):
    def __init__(self, name: str, suggestions: list[str]):
        self.name = name
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown GPU {name!r}{hint}")


@dataclass(frozen=True, slots=True)
class _Entry:
    gpu: GpuFacts
    memory_note: str
    memory_variant_of: str | None
    default_for: tuple[str, ...]


def normalize(name: str) -> str:
    words = [w for w in _NOISE.split(name.strip().lower()) if w]
    while len(words) > 1 and words[0] in _PREFIXES:
        words.pop(0)
    return "".join(words)


@functools.cache
def _load() -> tuple[dict[str, _Entry], dict[str, str], str]:
    package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
    with open(os.path.join(package, "data", "gpus.json"), encoding="utf-8") as handle:
        raw = json.loads(handle.read())
    entries: dict[str, _Entry] = {}
    keys: dict[str, str] = {}
    for item in raw["gpus"]:
        gpu = GpuFacts(
            name=item["name"],
            memory_bytes=int(item["memory_bytes"]),
            compute_capability=tuple(item["compute_capability"]),
            bf16=bool(item["bf16"]),
            fp8=bool(item["fp8"]),
            vendor=item["vendor"],
            bandwidth_gbps=float(item["bandwidth_gbps"]),
            interconnect=item["interconnect"],
            aliases=tuple(item["aliases"]),
            nvidia_smi_names=tuple(item["nvidia_smi_names"]),
        )
        entries[gpu.name] = _Entry(gpu, item["memory_note"], item.get("memory_variant_of"),
                                   tuple(item.get("default_for", ())))
        for spelling in (gpu.name, *gpu.aliases, *gpu.nvidia_smi_names):
            key = normalize(spelling)
            owner = keys.setdefault(key, gpu.name)
            if owner != gpu.name:  # a data bug, caught by the catalog tests
                raise ValueError(f"gpus.json: {spelling!r} names both {owner} and {gpu.name}")
    return entries, keys, raw.get("defaults", "")


def catalog() -> tuple[GpuFacts, ...]:
    """Every catalog GPU, sorted by name (case-insensitive)."""
    entries, _, _ = _load()
    return tuple(sorted((e.gpu for e in entries.values()), key=lambda g: (g.name.lower(), g.name)))


def find_gpu(name: str) -> GpuFacts | None:
    entries, keys, _ = _load()
    owner = keys.get(normalize(name))
    return entries[owner].gpu if owner else None


def lookup_gpu(name: str) -> GpuFacts:
    """The catalog entry for a catalog name, alias or nvidia-smi name; UnknownGpuError otherwise."""
    gpu = find_gpu(name)
    if gpu is None:
        raise UnknownGpuError(name, suggest(name))
    return gpu


def suggest(name: str, n: int = 3) -> list[str]:
    """Catalog names whose spellings are nearest to `name`."""
    import difflib

    entries, keys, _ = _load()
    probe = normalize(name)
    hits = difflib.get_close_matches(probe, list(keys), n=12, cutoff=0.5)
    # Prefix matches catch "h10" or "rtx40" that edit distance ranks poorly.
    hits += sorted(k for k in keys if probe and k.startswith(probe))
    out: list[str] = []
    for key in hits:
        if keys[key] not in out:
            out.append(keys[key])
    return out[:n]


def memory_note(name: str) -> str:
    return _load()[0][name].memory_note


def defaults_note() -> str:
    return _load()[2]


def memory_variants(name: str) -> tuple[GpuFacts, ...]:
    """The entry and the variants that share its nvidia-smi name but differ in memory."""
    entries, _, _ = _load()
    return (entries[name].gpu,) + tuple(
        e.gpu for e in entries.values() if e.memory_variant_of == name)
