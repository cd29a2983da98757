"""`vllm serve` flag manifests: which flags a vLLM release accepts, and an argv checker/parser.

The manifests were produced by importing each vLLM wheel and dumping its real `serve` argument
parser; `tools/vendor_vllm_flags.py` folds all of them into one flag-history file (package data
`vllm_compile/data/vllm-flags/history.jsonl`) that loses nothing. This module reads it (a compile
parses the index and one release's row; each flag's facts only when asked for) and
interprets an argv the way that parser would: `--a_b` is `--a-b`, `--flag=value` is split,
nargs/type/choices are applied, and the values vLLM only checks at engine start
(`--quantization`, `--kv-cache-dtype`, tool/reasoning parsers) are checked against the
release's own value tables. Nothing here knows about specs; callers map problems to keys.
"""
from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import field
from vllm_compile.fastclass import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

if TYPE_CHECKING:  # annotations only: the code table stays unloaded unless printed
    from vllm_compile.codes import Code
from vllm_compile.diagnostics import did_you_mean
from vllm_compile.units import human_readable_int
from vllm_compile.versions import release_key

DATA_DIR = os.path.join(os.path.dirname(os.path.realpath(__file__)), "data", "vllm-flags")
HISTORY = os.path.join(DATA_DIR, "history.jsonl")  # every vendored release's manifest: tools/vendor_vllm_flags.py
SECTIONS = ("flags", "positionals", "value_tables")

# argparse treats these as values, not options (the parser has no negative-number options).
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")
_LEVEL = re.compile(r"-O(\d)")
# Flags whose values vLLM checks against a table only when the engine starts.
_VALUE_TABLES = {
    "quantization": ("quantization_methods", None),
    "kv_cache_dtype": ("kv_cache_dtypes", None),
    "tool_call_parser": ("tool_call_parsers", "tool_parser_plugin"),
    "reasoning_parser": ("reasoning_parsers", "reasoning_parser_plugin"),
}


@functools.lru_cache(maxsize=1)
def _lines() -> list[bytes]:
    """The history's lines (JSON texts): the index, one row per release, then the values."""
    with open(HISTORY, "rb") as handle:
        return handle.read().split(b"\n")


@functools.lru_cache(maxsize=1)
def _index() -> dict:
    """Line 1: the releases, the names of each section's entries, the other top-level fields."""
    return json.loads(_lines()[0])


@functools.lru_cache(maxsize=1)
def versions() -> tuple[str, ...]:
    """Releases with a vendored manifest, oldest first."""
    return tuple(_index()["releases"])


@functools.lru_cache(maxsize=None)
def _row(release: str) -> dict:
    """A release's row: per section, the value line of each entry name (-1: the release lacks it)."""
    return json.loads(_lines()[1 + _order()[release]])


@functools.lru_cache(maxsize=None)
def _value(number: int):
    """The value on value line `number` (one object per distinct value: callers must not change it)."""
    return json.loads(_lines()[1 + len(versions()) + number])


class _Entries(Mapping[str, dict]):
    """One section of a release's manifest (name -> facts), each entry decoded on first access."""

    __slots__ = ("_numbers",)

    def __init__(self, numbers: dict[str, int]) -> None:
        self._numbers = numbers

    def __getitem__(self, name: str) -> dict:
        return _value(self._numbers[name])

    def __contains__(self, name: object) -> bool:
        return name in self._numbers

    def __iter__(self):
        return iter(self._numbers)

    def __len__(self) -> int:
        return len(self._numbers)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self)!r})"


@functools.lru_cache(maxsize=None)
def _section(release: str, section: str) -> _Entries | None:
    """The release's entries of `section` in the history's name order; None when it has no such section."""
    numbers = _row(release).get(section)
    if numbers is None:
        return None
    return _Entries({name: number for name, number in zip(_index()["names"][section], numbers) if number >= 0})


@dataclass(frozen=True, slots=True)
class Manifest:
    version: str                                  # the release the manifest describes
    requested: str                                # the release that was asked for
    flags: Mapping[str, dict]                     # every option string -> argparse facts
    positionals: Mapping[str, dict]
    value_tables: Mapping[str, tuple[str, ...]]
    warning: str | None = None                    # set when `requested` is outside the vendored range


def nearest_version(version: str) -> str:
    """The vendored release to use for `version`: itself, else the nearest older, else the oldest."""
    known = versions()
    if version in known:
        return version
    key = release_key(version)
    older = [v for v in known if release_key(v) < key]
    return older[-1] if older else known[0]


@functools.lru_cache(maxsize=1)
def _order() -> dict[str, int]:
    return {release: i for i, release in enumerate(versions())}


@functools.lru_cache(maxsize=None)
def release_manifest(release: str) -> dict:
    """The manifest of one vendored release, exactly as its source JSON had it."""
    order = _order()
    index = order[release]
    out: dict = {}
    for key, variants in _index()["fields"].items():
        for variant in variants:
            if any(order[first] <= index <= order[last] for first, last in variant["in"]):
                out[key] = variant["value"]
    for section in SECTIONS:
        entries = _section(release, section)
        if entries is not None:
            out[section] = dict(entries)
    return out


@functools.lru_cache(maxsize=None)
def load_manifest(version: str) -> Manifest:
    """The manifest of `version`. A release inside the vendored range without a manifest of its
    own (a .post, a release not dumped) uses the nearest older one; outside the range, the
    nearest vendored release, with a warning saying so."""
    chosen = nearest_version(version)
    warning = None
    known = versions()
    key = release_key(version)
    if key < release_key(known[0]) or key > release_key(known[-1]):
        side = "older" if release_key(chosen) < key else "newer"
        warning = (f"no flag manifest for vLLM {version}; checking flags against the nearest {side} "
                   f"release with one, {chosen} (vendored: {known[0]} to {known[-1]})")
    flags, positionals, tables = (_section(chosen, section) for section in SECTIONS)
    if flags is None:  # pragma: no cover - every vendored release has its flags
        raise KeyError(f"the flag history has no flags for vLLM {chosen}")
    return Manifest(version=chosen, requested=version, flags=flags, positionals=positionals or {},
                    value_tables={name: tuple(values) for name, values in (tables or {}).items()}, warning=warning)


def flag_history(flag: str, version: str) -> str | None:
    """When a flag the release lacks exists in other vendored releases: where it appears."""
    known = versions()
    present = sorted((release for release in known if flag in (_section(release, "flags") or ())), key=release_key)
    if not present:
        return None
    here = release_key(version)
    notes = []
    newer = [v for v in present if release_key(v) > here]
    older = [v for v in present if release_key(v) < here]
    if older:
        last = older[-1]
        gone = next(v for v in known if release_key(v) > release_key(last))
        notes.append(f"{flag} was removed: present up to vLLM {last}, absent from {gone} on")
    if newer:
        first = newer[0]
        before = [v for v in known if release_key(v) < release_key(first)]
        since = f" (absent from {before[-1]})" if before else ""
        notes.append(f"{flag} was added: present from vLLM {first}{since}")
    return "; ".join(notes)


# vLLM's FlexibleArgumentParser rewrites `--json-arg.key value` into `--json-arg '{"key": value}'`
# before argparse sees it (vllm/utils.py, later vllm/utils/argparse_utils.py): from 0.9.0, with the
# value kept as text (0.9.0 also turns `_` into `-` after the dot); from 0.9.2 the value is read as
# JSON where it parses, `--json-arg.key+ a,b` appends to a list, and single-dash aliases take keys
# too (`-cc.mode 3`). Every dotted key of one flag merges into one object, which is appended after
# all other arguments: it replaces a JSON form of the same flag wherever that stands.
DOTTED_SINCE = "0.9.0"
DOTTED_JSON_SINCE = "0.9.2"


def dotted_keys(version: str) -> bool:
    """Whether the release's parser takes `--flag.key value`."""
    return release_key(version) >= release_key(DOTTED_SINCE)


@dataclass(frozen=True, slots=True)
class Problem:
    index: int            # argv position of the offending token
    message: str
    found: str | None = None
    expected: str | None = None
    fix: str | None = None
    severity: str = "error"
    code: Code = field(kw_only=True)


@dataclass(frozen=True, slots=True)
class ParsedArg:
    index: int                  # argv position of the option token
    option: str                 # the option string as matched (after `_`->`-`)
    dest: str
    value: object               # converted; bool for switches; list for nargs +/*
    raw: tuple[str, ...]        # the value texts as given
    action: str = ""


@dataclass(frozen=True, slots=True)
class ParseResult:
    positionals: tuple[tuple[int, str], ...]
    args: tuple[ParsedArg, ...]
    problems: tuple[Problem, ...] = field(default=())


# ---------------------------------------------------------------------------------------------
# Value conversion: the converter names are those the manifests record for argparse's `type`.

def _json(text: str) -> object:
    return json.loads(text)


def _dataclass_json(text: str) -> object:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


def _level_or_json(text: str) -> object:
    # CompilationConfig.from_cli and friends: a bare optimisation level, or a JSON object.
    return int(text) if text.strip().isdigit() else _dataclass_json(text)


def _kvs(text: str) -> object:
    # nullable_kvs: "image=2,video=1" (ints), or JSON in newer releases.
    if text.lstrip().startswith("{"):
        return _json(text)
    out = {}
    for item in text.split(","):
        key, sep, number = item.partition("=")
        if not sep or not key:
            raise ValueError("expected key=value pairs like image=2,video=1")
        out[key.strip()] = int(number)
    return out


def _true_false(text: str) -> bool:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    raise ValueError("expected true or false")


_CONVERTERS = {
    "int": (int, "an integer"),
    "float": (float, "a number"),
    "bool": (bool, "a value"),   # argparse's type=bool: any text converts
    "human_readable_int": (human_readable_int, "an integer, optionally with a k/M/G suffix (e.g. 32k)"),
    "loads": (_json, "JSON"),
    "nullable_kvs": (_kvs, "key=value pairs or JSON"),
}


def _converter(type_desc: str | None, action: str):
    """(convert(text) -> value, description, optional) for a manifest `type` string."""
    optional = False
    desc = type_desc or ""
    while True:
        match = re.fullmatch(r"(optional_type|parse_type)\((.*)\)", desc)
        if not match:
            break
        optional = optional or match.group(1) == "optional_type"
        desc = match.group(2)
    if action == "StoreBoolean":
        return _true_false, "true or false", optional
    if desc == "nullable_str":
        return (lambda text: None if text in ("", "None") else text), "text", False
    if desc == "human_readable_int_or_auto":
        return (lambda text: -1 if text.strip() in ("auto", "-1") else human_readable_int(text),
                "an integer (k/M/G suffixes allowed) or auto", optional)
    if desc in _CONVERTERS:
        convert, what = _CONVERTERS[desc]
        return convert, what, optional
    if "parse_dataclass" in desc or desc.endswith(".from_json"):
        return _dataclass_json, "a JSON object", optional
    if desc.endswith(".from_cli"):
        return _level_or_json, "a level number or a JSON object", optional
    # str, union_dict_and_str, parser names, lambdas and untyped actions keep the text.
    return (lambda text: text), "text", optional


def _convert(entry: dict, text: str):
    convert, what, optional = _converter(entry.get("type"), entry.get("action", ""))
    if optional and text == "None":
        return None
    try:
        return convert(text)
    except (ValueError, TypeError) as exc:
        detail = f": {exc}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ValueError(f"expected {what}{detail}") from None


def _choice_ok(value: object, choices: Sequence) -> bool:
    if value in choices:
        return True
    # Choices given by lambda converters are compared case-insensitively by vLLM.
    return isinstance(value, str) and value.lower() in choices


def _show(value: object) -> str:
    return "None" if value is None else str(value)


# ---------------------------------------------------------------------------------------------

def _is_option(token: str) -> bool:
    if not token.startswith("-") or token == "-" or " " in token:
        return False
    return not _NEGATIVE_NUMBER.match(token)


def _normalise(token: str) -> tuple[str, str | None]:
    """Split `--flag=value` and turn `_` into `-` in long flag names (not in values)."""
    name, sep, value = token.partition("=")
    if name.startswith("--"):
        name = "--" + name[2:].replace("_", "-")
    return name, (value if sep else None)


def _switch_value(entry: dict, option: str) -> object:
    action = entry.get("action")
    if action in ("_StoreTrueAction", "_StoreFalseAction", "_StoreConstAction") and "const" in entry:
        return entry["const"]
    if action == "_StoreFalseAction":
        return False
    name = option.lstrip("-").replace("-", "_")
    # `--no-X`, and the `--enable-X`/`--disable-X` twin of the opposite polarity, clear the dest;
    # the flag itself and short aliases like `-ep` set it.
    opposite = {"enable_": "disable_", "disable_": "enable_"}
    for prefix, other in opposite.items():
        if entry["dest"].startswith(prefix) and name == other + entry["dest"][len(prefix):]:
            return False
    return not name.startswith("no_")


def _lookup(manifest: Manifest, name: str, index: int, allow_abbrev: bool):
    """(entry, matched option, problems) for an option token's name."""
    if name in manifest.flags:
        return manifest.flags[name], name, []
    if name.startswith("--") and len(name) > 3 and "." not in name:
        hits = sorted({manifest.flags[f]["dest"]: f for f in manifest.flags if f.startswith(name)}.values())
        if len(hits) == 1:
            full = hits[0]
            problem = Problem(index, f"abbreviated flag {name} stands for {full}", found=name,
                              expected="the full flag name", fix=f"write {full}",
                              severity="warning" if allow_abbrev else "error", code="VC502")
            return (manifest.flags[full] if allow_abbrev else None), full, [problem]
    suggestions = did_you_mean(name, [f for f in manifest.flags if f.startswith("--")])
    history = flag_history(name, manifest.version)
    fix = f"did you mean {' or '.join(suggestions)}?" if suggestions else None
    base = name.split(".", 1)[0]
    if "." in name and base in manifest.flags:
        key = name.split(".", 1)[1]
        whole = (f"{base} {key}=N" if "nullable_kvs" in (manifest.flags[base].get("type") or "")
                 else f"{base} '{{\"{key}\": ...}}'")
        fix = (f"`--flag.key value` came in vLLM {DOTTED_SINCE}; vLLM {manifest.version} takes the whole "
               f"value: write {whole}")
    if history:
        fix = f"{history}; " + (fix or "remove it or pin an engine.version that has it")
    return None, name, [Problem(index, f"vLLM {manifest.version} has no flag {name}", found=name,
                                expected=f"a flag of vLLM {manifest.version}'s `vllm serve`",
                                fix=fix or "remove it; `vllm serve --help=all` lists the flags", code="VC501")]


def parse_args(argv: Sequence[str], manifest: Manifest, *, allow_abbrev: bool = False) -> ParseResult:
    """Interpret `argv` (what follows `vllm serve`) as the release's argument parser would."""
    positionals: list[tuple[int, str]] = []
    parsed: list[ParsedArg] = []
    problems: list[Problem] = []
    dotted: dict[str, _Dotted] = {}
    argv = list(argv)
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            positionals += [(j, argv[j]) for j in range(i + 1, len(argv))]
            break
        if not _is_option(token):
            positionals.append((i, token))
            i += 1
            continue
        if _is_dotted(token, manifest.version):
            i = _take_dotted(argv, i, manifest.version, dotted, problems)
            continue
        name, inline = _normalise(token)
        level = _LEVEL.fullmatch(name)
        if level and inline is None:
            # `-O3` is shorthand for an optimisation (older: compilation) level of 3.
            newer = "--optimization-level" in manifest.flags
            name, inline = ("--optimization-level" if newer else "-O"), level.group(1)
        entry, option, found = _lookup(manifest, name, i, allow_abbrev)
        problems += found
        if level and entry is not None and "parse_dataclass" in (entry.get("type") or ""):
            inline = json.dumps({"level": int(level.group(1))})
        start, i = i, i + 1
        if entry is None:
            # Skip what looks like its values so that one unknown flag gives one problem.
            while inline is None and i < len(argv) and not _is_option(argv[i]):
                i += 1
            continue
        if entry.get("action") == "_HelpAction":
            problems.append(Problem(start, f"{option} prints help and exits", found=option,
                                    expected="a server flag", fix=f"remove {option}", code="VC503"))
            continue
        nargs = entry.get("nargs")
        if inline is not None:
            values = [inline]
        else:
            values = []
            while nargs != 0 and i < len(argv) and not _is_option(argv[i]) and argv[i] != "--":
                values.append(argv[i])
                i += 1
                if nargs in (None, "?"):
                    break
        value, problem = _values(entry, option, token, values, start, manifest.version)
        if problem:
            problems.append(problem)
        else:
            parsed.append(ParsedArg(start, option, entry["dest"], value, tuple(values), entry.get("action", "")))
    for base, held in dotted.items():
        # Appended after every other argument, as vLLM does: the last occurrence of the flag.
        entry, option, found = _lookup(manifest, base, held.index, allow_abbrev)
        problems += found
        if entry is None:
            continue
        text = json.dumps(held.value)
        if entry.get("nargs") == 0:
            problems.append(Problem(held.index, f"{option} is a switch and takes no keys", found=held.option,
                                    expected=option, fix=f"write {option} alone", code="VC504"))
            continue
        value, problem = _values(entry, option, held.option, [text], held.index, manifest.version)
        if problem:
            problems.append(problem)
        else:
            parsed.append(ParsedArg(held.index, option, entry["dest"], value, (text,), entry.get("action", "")))
    problems += _check_value_tables(parsed, manifest)
    return ParseResult(tuple(positionals), tuple(parsed), tuple(problems))


@dataclass(slots=True)
class _Dotted:
    index: int          # the first `--flag.key` token of the flag
    option: str         # as written there
    value: dict


def _is_dotted(token: str, version: str) -> bool:
    name = token.partition("=")[0]
    if "." not in name or not dotted_keys(version):
        return False
    return name.startswith("--") or (release_key(version) >= release_key(DOTTED_JSON_SINCE) and len(name) > 1)


def _take_dotted(argv: Sequence[str], i: int, version: str, dotted: dict[str, _Dotted],
                 problems: list[Problem]) -> int:
    """Read one `--flag.key[.key...] value` (or `=value`) into `dotted`; the index after it.
    vLLM takes the next token as the value whatever it looks like."""
    token = argv[i]
    name, sep, text = token.partition("=")
    nxt = i + 1
    if not sep:
        if nxt >= len(argv):
            problems.append(Problem(i, f"{name} expects a value", found=token, expected=f"{name} VALUE",
                                    fix=f"give {name} a value", code="VC505"))
            return nxt
        text, nxt = argv[nxt], nxt + 1
    base, _, rest = name.partition(".")
    json_era = release_key(version) >= release_key(DOTTED_JSON_SINCE)
    if base.startswith("--"):
        base = "--" + base[2:].replace("_", "-")
        if release_key(version) < release_key("0.9.1"):
            rest = rest.replace("_", "-")   # 0.9.0 replaced `_` in the whole option
    keys = rest.split(".")
    value: object = text
    if json_era and keys[-1].endswith("+"):
        keys[-1] = keys[-1][:-1]
        value = text.split(",")
    elif json_era:
        try:
            value = json.loads(text)
        except ValueError:
            value = text
    if any(not k for k in keys):
        problems.append(Problem(i, f"{name}: empty key", found=token, expected=f"{base}.KEY VALUE",
                                fix=f"name the key, e.g. {base}.image", code="VC506"))
        return nxt
    nested: object = value
    for key in reversed(keys):
        nested = {key: nested}
    held = dotted.setdefault(base, _Dotted(i, name, {}))
    assert isinstance(nested, dict)
    for twice in _merge(held.value, nested):
        problems.append(Problem(i, f"{base}.{twice} is given twice (vLLM keeps the last)", found=token,
                                expected="each key once", fix=f"keep one {base}.{twice}", severity="warning",
                                code="VC514"))
    return nxt


def _merge(into: dict, update: dict) -> list[str]:
    """vLLM's merge of dotted keys: objects merge, lists extend, anything else replaces; the keys
    given twice."""
    twice = []
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            twice += [f"{key}.{k}" for k in _merge(into[key], value)]
        elif isinstance(value, list) and isinstance(into.get(key), list):
            into[key] += value
        else:
            if key in into:
                twice.append(key)
            into[key] = value
    return twice


def _values(entry: dict, option: str, token: str, values: list[str], index: int, version: str):
    """(converted value, None) or (None, Problem) for one option and the value texts it took."""
    nargs = entry.get("nargs")
    if nargs == 0:
        if values:
            return None, Problem(index, f"{option} is a switch and takes no value", found=token,
                                 expected=option, fix=f"write {option} alone", code="VC504")
        return _switch_value(entry, option), None
    if not values:
        if nargs in ("?", "*"):
            return (entry.get("const") if nargs == "?" else []), None
        return None, Problem(index, f"{option} expects {'a value' if nargs is None else 'one or more values'}",
                             found=token, expected=f"{option} VALUE", fix=f"give {option} a value", code="VC505")
    converted = []
    for text in values:
        try:
            converted.append(_convert(entry, text))
        except ValueError as exc:
            return None, Problem(index, f"invalid value {text!r} for {option}", found=text,
                                 expected=str(exc).removeprefix("expected "), fix=f"give {option} a valid value", code="VC506")
    choices = entry.get("choices")
    for value in converted:
        if choices is not None and not _choice_ok(value, choices):
            listed = ", ".join(_show(c) for c in choices)
            suggestions = did_you_mean(_show(value), [_show(c) for c in choices])
            if value is None:
                # The README's subtlety: the converter turns the text None into null first, and
                # this release lists only the string "None" (or nothing) among the choices.
                fix = f"vLLM {version} reads None as null, which {option} does not accept; leave {option} out"
            elif suggestions:
                fix = f"did you mean {' or '.join(suggestions)}?"
            else:
                fix = f"use one of {listed}"
            return None, Problem(index, f"invalid choice {_show(value)} for {option} in vLLM {version}",
                                 found=_show(value), expected=f"one of {listed}", fix=fix, code="VC507")
    return (converted if nargs in ("+", "*") else converted[0]), None


def _check_value_tables(parsed: Sequence[ParsedArg], manifest: Manifest) -> list[Problem]:
    problems = []
    dests = {arg.dest for arg in parsed}
    for arg in parsed:
        table_name, plugin_dest = _VALUE_TABLES.get(arg.dest, (None, None))
        table = manifest.value_tables.get(table_name or "")
        if not table or plugin_dest in dests or manifest.flags[arg.option].get("choices") is not None:
            continue
        for value in (arg.value if isinstance(arg.value, list) else [arg.value]):
            if value is None or value == "" or value in table:
                continue
            suggestions = did_you_mean(str(value), table)
            problems.append(Problem(arg.index, f"{arg.option} {value} is not known to vLLM {manifest.version}",
                                    found=str(value), expected=f"one of {', '.join(table)}",
                                    fix=(f"did you mean {' or '.join(suggestions)}?" if suggestions
                                         else f"use one of {', '.join(table)}"), code="VC508"))
    return problems


def validate_args(argv: Sequence[str], manifest: Manifest) -> tuple[Problem, ...]:
    """Problems vLLM's parser (or its engine-start value checks) would raise for `argv`."""
    result = parse_args(argv, manifest)
    return result.problems
