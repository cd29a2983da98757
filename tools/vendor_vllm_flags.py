#!/usr/bin/env python3
"""Vendor vLLM's `serve` flag manifests into one flag-history file the package reads.

Usage:  python tools/vendor_vllm_flags.py SOURCE_DIR [--out vllm_compile/data/vllm-flags/history.jsonl]

SOURCE_DIR holds one manifest per vLLM release (`<release>.json`), each dumped from that
release's own argument parser (the project's shared folder `vllm-flags/`). The output keeps every
fact of every manifest, each distinct value stored once, in JSON Lines laid out so that a compile
parses only what its release needs (a few kilobytes, not the whole history):

    line 1          {"format": 2, "releases": ["0.6.6.post1", "0.7.3", ...],       # oldest first
                     "names": {"flags": ["--a", ...], "positionals": [...], "value_tables": [...]},
                     "sections_present": {"flags": [["0.6.6.post1", "0.33.0"]], ...},
                     "fields": {"build_notes": [{"in": [[first, last], ...], "value": [...]}], ...}}
    lines 2..R+1    one per release, in `releases` order: {"release": "0.7.3",
                     "flags": [v, ...], ...}: for each name of the section (in `names` order) the
                     number of the line holding its value, counted from the first value line, or
                     -1 when the release lacks it; a section the release lacks is left out
    lines R+2..     the distinct values, one compact JSON text per line

`fields` are the other top-level keys, each with the inclusive ranges of consecutive releases
holding each value. `read()` turns the file back into one structure, {"releases", "sections":
{section: {name: [{"in": ranges, "value": ...}]}}, "fields", "sections_present"}, and `rebuild()`
gives one release's manifest from it. After writing, the script rebuilds every release from the
output and checks it equals its source JSON; it exits 1 if any differs. Re-run it whenever
SOURCE_DIR gains a release.
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


def dump(history: dict) -> str:
    """The JSON Lines text of `history` (the structure `build` returns); see the module's docstring."""
    releases = history["releases"]
    order = {r: i for i, r in enumerate(releases)}
    values: dict[str, int] = {}
    rows: list[dict] = [{"release": r} for r in releases]
    for section in SECTIONS:
        names = history["sections"][section]
        for index, release in enumerate(releases):
            if _covers(history["sections_present"][section], release, order):
                rows[index][section] = [-1] * len(names)
        for position, variants in enumerate(names.values()):
            for variant in variants:
                text = json.dumps(variant["value"], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                number = values.setdefault(text, len(values))
                for first, last in variant["in"]:
                    for index in range(order[first], order[last] + 1):
                        rows[index][section][position] = number
    header = {"format": 2, "releases": releases, "names": {s: list(history["sections"][s]) for s in SECTIONS},
              "sections_present": history["sections_present"], "fields": history["fields"]}
    lines = [json.dumps(header, sort_keys=True, ensure_ascii=False, separators=(",", ":"))]
    lines += [json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in rows]
    return "\n".join(lines + list(values)) + "\n"


def read(path: Path) -> dict:
    """The structure `build` returns, from a file `dump` wrote."""
    lines = path.read_text(encoding="utf-8").split("\n")
    header = json.loads(lines[0])
    if header.get("format") != 2:
        raise SystemExit(f"{path}: not a format-2 flag history")
    releases = header["releases"]
    rows = [json.loads(line) for line in lines[1:1 + len(releases)]]
    values = lines[1 + len(releases):]
    sections: dict[str, dict[str, list[dict]]] = {}
    for section in SECTIONS:
        sections[section] = {}
        for position, name in enumerate(header["names"][section]):
            held: dict[int, list[int]] = {}
            for index, row in enumerate(rows):
                if section in row and row[section][position] >= 0:
                    held.setdefault(row[section][position], []).append(index)
            sections[section][name] = [{"in": _ranges(indices, releases), "value": json.loads(values[number])}
                                       for number, indices in sorted(held.items(), key=lambda kv: kv[1][0])]
    return {"format": 2, "releases": releases, "sections": sections, "fields": header["fields"],
            "sections_present": header["sections_present"]}


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
                        default=Path(__file__).resolve().parent.parent / "vllm_compile/data/vllm-flags/history.jsonl")
    args = parser.parse_args(argv)
    manifests = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(args.source.glob("*.json"))}
    if not manifests:
        print(f"no <release>.json manifests in {args.source}", file=sys.stderr)
        return 1
    history = build(manifests)
    text = dump(history)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.out)
    reread = read(args.out)
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
