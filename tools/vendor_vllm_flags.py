#!/usr/bin/env python3
"""Vendor vLLM's `serve` flag manifests into one flag-history file the package reads.

Usage:  python tools/vendor_vllm_flags.py SOURCE_DIR [--out vllm_compile/data/vllm-flags/history.json]

SOURCE_DIR holds one manifest per vLLM release (`<release>.json`), each dumped from that
release's own argument parser (the project's shared folder `vllm-flags/`). The output keeps every
fact of every manifest, stored once per distinct value with the releases that have it:

    {"format": 1,
     "releases": ["0.6.6.post1", "0.7.3", ...],          # oldest first
     "sections": {"flags": {"--block-size": [{"in": [["0.6.6.post1", "0.8.4"]], "value": {...}},
                                             {"in": [["0.8.5", "0.33.0"]], "value": {...}}], ...},
                  "positionals": {...}, "value_tables": {...}},
     "fields": {"build_notes": [{"in": [...], "value": [...]}], ...}}   # the other top-level keys

`in` lists inclusive ranges of consecutive releases (in `releases` order). After writing, the
script rebuilds every release from the output and checks it equals its source JSON; it exits 1
if any differs. Re-run it whenever SOURCE_DIR gains a release.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

SECTIONS = ("flags", "positionals", "value_tables")
_RELEASE = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:\.(\d+))?(?:\.?post(\d+))?$")


def release_key(version: str) -> tuple[int, ...]:
    match = _RELEASE.match(version)
    if not match:
        raise SystemExit(f"not a vLLM release file name: {version}.json")
    return tuple(int(g or 0) for g in match.groups())


def _ranges(indices: list[int], releases: list[str]) -> list[list[str]]:
    out: list[list[str]] = []
    start = prev = indices[0]
    for i in indices[1:] + [None]:  # type: ignore[list-item]
        if i is not None and i == prev + 1:
            prev = i
            continue
        out.append([releases[start], releases[prev]])
        if i is not None:
            start = prev = i
    return out


def _variants(values_by_release: dict[int, object], releases: list[str]) -> list[dict]:
    """Distinct values in order of first appearance, each with the release ranges holding it."""
    seen: list[tuple[str, object, list[int]]] = []
    for index in sorted(values_by_release):
        value = values_by_release[index]
        text = json.dumps(value, sort_keys=True)
        for known_text, _, indices in seen:
            if known_text == text:
                indices.append(index)
                break
        else:
            seen.append((text, value, [index]))
    return [{"in": _ranges(indices, releases), "value": value} for _, value, indices in seen]


def build(manifests: dict[str, dict]) -> dict:
    releases = sorted(manifests, key=release_key)
    sections: dict[str, dict[str, list[dict]]] = {}
    for section in SECTIONS:
        names = sorted({name for m in manifests.values() for name in m.get(section, {})})
        sections[section] = {
            name: _variants({i: manifests[r][section][name] for i, r in enumerate(releases)
                             if name in manifests[r].get(section, {})}, releases)
            for name in names}
    others = sorted({k for m in manifests.values() for k in m if k not in SECTIONS})
    fields = {key: _variants({i: manifests[r][key] for i, r in enumerate(releases) if key in manifests[r]}, releases)
              for key in others}
    present = {section: [r for r in releases if section in manifests[r]] for section in SECTIONS}
    return {"format": 1, "releases": releases, "sections": sections, "fields": fields,
            "sections_present": {s: _ranges([releases.index(r) for r in rs], releases) if rs else []
                                 for s, rs in present.items()}}


def _covers(ranges: list[list[str]], release: str, order: dict[str, int]) -> bool:
    return any(order[a] <= order[release] <= order[b] for a, b in ranges)


def rebuild(history: dict, release: str) -> dict:
    """The manifest of one vendored release, as its source JSON had it."""
    order = {r: i for i, r in enumerate(history["releases"])}
    out: dict = {}
    for key, variants in history["fields"].items():
        for variant in variants:
            if _covers(variant["in"], release, order):
                out[key] = variant["value"]
    for section, names in history["sections"].items():
        if not _covers(history["sections_present"][section], release, order):
            continue
        out[section] = {name: v["value"] for name, variants in names.items()
                        for v in variants if _covers(v["in"], release, order)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder of <release>.json manifests")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent.parent / "vllm_compile/data/vllm-flags/history.json")
    args = parser.parse_args(argv)
    manifests = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(args.source.glob("*.json"))}
    if not manifests:
        print(f"no <release>.json manifests in {args.source}", file=sys.stderr)
        return 1
    history = build(manifests)
    text = json.dumps(history, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.out)
    reread = json.loads(args.out.read_text(encoding="utf-8"))
    bad = [r for r, m in manifests.items() if rebuild(reread, r) != m]
    if bad:
        print(f"round trip FAILED for {', '.join(bad)}", file=sys.stderr)
        return 1
    size = args.out.stat().st_size
    print(f"{args.out}: {len(manifests)} releases ({history['releases'][0]} .. {history['releases'][-1]}), "
          f"{len(history['sections']['flags'])} flag spellings, {size:,} bytes; every release round-trips")
    return 0


if __name__ == "__main__":
    sys.exit(main())
