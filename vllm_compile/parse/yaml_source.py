"""Load a spec file into plain Python data plus a map of where every key stands.

ruamel.yaml's round-trip loader keeps line/column information. It does not defend against
alias bombs, so anchors, aliases and merge keys are refused from the event stream before any
node is built; duplicate keys, multi-document files and non-mapping documents are refused too.
"""
from __future__ import annotations

import functools
import re
from typing import Any

from vllm_compile.diagnostics import CompileError, Diagnostic

MAX_BYTES = 1024 * 1024


def load_yaml(data: bytes, display_path: str) -> tuple[dict, dict[str, tuple[int, int]]]:
    """Return (document, positions) where positions maps key paths to 1-based (line, column)."""
    if len(data) > MAX_BYTES:
        raise CompileError([Diagnostic(
            f"spec file is {len(data):,} bytes, over the 1 MiB limit", file=display_path, line=1, column=1,
            fix="a deployment spec is a few hundred bytes; check that this is the right file", code="VC104")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CompileError([Diagnostic(
            f"spec file is not UTF-8 text (byte {exc.start})", file=display_path, line=1, column=1,
            fix="save the file as UTF-8", code="VC105")]) from None

    control = control_characters(text, display_path)
    if control:
        raise CompileError(control)

    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        try:
            # One parse: the events are checked as the composer takes them (_GuardedParser).
            documents = _load_checked(yaml, text, display_path, guarded=True)
        except _Refused:
            # Something is refused: the full event pass reports every refusal (before any node).
            yaml = YAML(typ="rt")
            yaml.allow_duplicate_keys = False
            _refuse_aliases(yaml, text, display_path)
            documents = _load_checked(yaml, text, display_path)  # pragma: no cover - the pass raised
    except CompileError:
        raise
    except MarkedYAMLError as exc:
        raise CompileError([_yaml_diagnostic(exc, display_path)]) from None
    except YAMLError as exc:  # pragma: no cover - ruamel raises marked errors for syntax problems
        raise CompileError([Diagnostic(f"malformed YAML: {exc}", file=display_path, line=1, column=1,
                                       fix="fix the YAML syntax", code="VC106")]) from None

    if len(documents) != 1:
        raise CompileError([Diagnostic(
            f"expected exactly one YAML document, found {len(documents)}", file=display_path, line=1, column=1,
            fix="keep one deployment file per spec; remove extra '---' separators" if documents else
                "write the spec: see `vllm-compile schema` or specs/llama.yaml", code="VC110")])
    root = documents[0]
    from ruamel.yaml.comments import CommentedMap

    if not isinstance(root, CommentedMap):
        from ruamel.yaml.comments import CommentedSeq

        kind = "an empty document" if root is None else "a list" if isinstance(root, CommentedSeq) \
            else f"a single value ({str(root)[:40]!r})"
        raise CompileError([Diagnostic(
            f"the spec must be a mapping of keys (version, name, model, hardware, ...), found {kind}",
            file=display_path, line=1, column=1, fix="start the file with `version: 1`", code="VC111")])
    positions: dict[str, tuple[int, int]] = {"": (1, 1)}
    return _plain(root, "", positions), positions


MAX_DEPTH = 24  # a spec nests five or six levels; refusing deeper documents early bounds the work
# C0 controls but tab, newline and carriage return; DEL; C1 controls (U+0085 NEL among them).
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def control_characters(text: str, display_path: str, limit: int = 10) -> list[Diagnostic]:
    """A located error for each control character in `text` (at most `limit`)."""
    out = []
    for match in CONTROL.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
        out.append(Diagnostic(
            f"control character U+{ord(match.group()):04X} is not allowed", file=display_path, line=line,
            column=column, fix="delete it: Compose, docker and the shell would each read it differently", code="VC113"))
        if len(out) == limit:
            break
    return out


def refuse_unsafe_yaml(text: str, display_path: str, what_file: str) -> None:
    """The checks of `load_yaml` for any YAML text (artifacts under `check`/`diff` too): control
    characters, anchors, aliases, merge keys, tags and deep nesting are `CompileError`s."""
    control = control_characters(text, display_path, limit=1)
    if control:
        raise CompileError(control)
    from ruamel.yaml import YAML

    _refuse_aliases(YAML(typ="rt"), text, display_path, what_file)


class _Refused(Exception):
    """An event `_refuse_aliases` refuses, met while composing: redo the checks as a full pass."""


def _refused(event, depth: int) -> tuple[bool, int]:
    """(whether `_refuse_aliases` refuses this event, the nesting depth after it)."""
    from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, ScalarEvent

    anchor = getattr(event, "anchor", None)
    refused = isinstance(event, AliasEvent) or bool(anchor and isinstance(event, (ScalarEvent, CollectionStartEvent)))
    refused = refused or (isinstance(event, ScalarEvent) and event.value == "<<" and event.style is None)
    tag = getattr(event, "tag", None)
    refused = refused or (tag is not None and isinstance(event, (ScalarEvent, CollectionStartEvent))
                          and not _implicit(event))
    if isinstance(event, CollectionStartEvent):
        depth += 1
        refused = refused or depth > MAX_DEPTH
    elif isinstance(event, CollectionEndEvent):
        depth -= 1
    return refused, depth


@functools.cache
def _guarded_parser() -> type:
    """ruamel's round-trip parser, raising `_Refused` at the first event `_refuse_aliases` would
    refuse: a clean spec is parsed once, by the composer, instead of once more beforehand."""
    from ruamel.yaml.parser import RoundTripParser

    class _GuardedParser(RoundTripParser):
        _depth = 0

        def get_event(self):
            event = super().get_event()
            refused, self._depth = _refused(event, self._depth)
            if refused:
                raise _Refused
            return event

    return _GuardedParser


def _refuse_aliases(yaml, text: str, display_path: str, what_file: str = "a spec") -> None:
    """Walk the event stream before any node is built: refuse anchors, aliases, merge keys and
    explicit tags, and stop at `MAX_DEPTH` levels of nesting (each a located error)."""
    from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, ScalarEvent

    problems = []
    depth = 0
    for event in yaml.parse(text):
        anchor = getattr(event, "anchor", None)
        mark = event.start_mark
        where = dict(file=display_path, line=mark.line + 1, column=mark.column + 1)
        if isinstance(event, AliasEvent) or (anchor and isinstance(event, (ScalarEvent, CollectionStartEvent))):
            what = "alias" if isinstance(event, AliasEvent) else "anchor"
            problems.append(Diagnostic(
                f"YAML {what} '{anchor}' is not allowed in {what_file}", **where,
                found=f"&{anchor}" if what == "anchor" else f"*{anchor}", expected="plain values",
                fix="write the value out in full (anchors, aliases and merge keys are refused to rule out alias bombs)", code="VC108"))
        elif isinstance(event, ScalarEvent) and event.value == "<<" and event.style is None:
            problems.append(Diagnostic(f"YAML merge key '<<' is not allowed in {what_file}", **where,
                                       fix="write the merged keys out in full", code="VC109"))
        tag = getattr(event, "tag", None)
        if tag is not None and isinstance(event, (ScalarEvent, CollectionStartEvent)) and not _implicit(event):
            problems.append(Diagnostic(
                f"YAML tag '{_short_tag(tag)}' is not allowed in {what_file}", **where,
                expected="plain values", fix="remove the tag (a '!' or '!!' word before the value)", code="VC114"))
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                problems.append(Diagnostic(
                    f"nesting deeper than {MAX_DEPTH} levels", **where,
                    fix="a deployment spec nests a few levels; check that this is the right file", code="VC115"))
                break
        elif isinstance(event, CollectionEndEvent):
            depth -= 1
    if problems:
        raise CompileError(problems)


def _load_checked(yaml, text: str, display_path: str, guarded: bool = False) -> list:
    """The documents of `text`, composed once: every node tree is checked for duplicate keys
    (`_duplicate_keys`) before any is constructed, as `YAML.load_all` would construct them.
    `guarded`: raise `_Refused` at the first event `_refuse_aliases` refuses."""
    from ruamel.yaml.docinfo import DocInfo, version

    if guarded:
        yaml.Parser = _guarded_parser()
    yaml.doc_infos.append(DocInfo(requested_version=version(yaml.version)))
    yaml.tags = {}
    constructor, parser = yaml.get_constructor_parser(text)
    try:
        nodes = []
        while constructor.composer.check_node():
            nodes.append(constructor.composer.get_node())
        problems = [problem for node in nodes for problem in _duplicate_keys(node, display_path)]
        if problems:
            raise CompileError(problems)
        documents = []
        for node in nodes:
            documents.append(constructor.construct_document(node))
            yaml.doc_infos.append(DocInfo(requested_version=version(yaml.version)))
        return documents
    finally:
        parser.dispose()
        for part in ("reader", "scanner"):
            reset = getattr(getattr(yaml, "_" + part, None), f"reset_{part}", None)
            if reset is not None:
                reset()


def _duplicate_keys(document, display_path: str) -> list[Diagnostic]:
    """Every key given twice in one mapping of a composed node tree: each at the position of its
    repetition, named by its key path, with the line of its first occurrence."""
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    problems = []

    def walk(node, path: str) -> None:
        if isinstance(node, MappingNode):
            first: dict[str, int] = {}
            for key_node, value_node in node.value:
                name = str(key_node.value) if isinstance(key_node, ScalarNode) else None
                child = f"{path}.{name}" if path else (name or "")
                if name is not None and name in first:
                    mark = key_node.start_mark
                    problems.append(Diagnostic(
                        f"duplicate key '{name}' (first given on line {first[name]})", file=display_path,
                        line=mark.line + 1, column=mark.column + 1, key=child,
                        fix="keep one occurrence of the key; YAML would silently use the last", code="VC107"))
                elif name is not None:
                    first[name] = key_node.start_mark.line + 1
                walk(value_node, child)
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, f"{path}[{index}]")

    walk(document, "")
    return problems


def _short_tag(tag) -> str:
    text = str(getattr(tag, "value", tag))
    return "!!" + text[len("tag:yaml.org,2002:"):] if text.startswith("tag:yaml.org,2002:") else text


def _implicit(event) -> bool:
    from ruamel.yaml.events import ScalarEvent

    if isinstance(event, ScalarEvent):
        # Plain scalars resolved by their look carry the tag with implicit[0] set.
        return bool(event.implicit and event.implicit[0])
    return bool(getattr(event, "implicit", False))


def _yaml_diagnostic(exc, display_path: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 1
    column = mark.column + 1 if mark else 1
    problem = exc.problem or "malformed YAML"
    context = f" {exc.context}" if exc.context else ""
    return Diagnostic(f"malformed YAML: {problem}{context}".strip(), file=display_path, line=line, column=column,
                      fix="fix the YAML syntax at this position (indentation, a missing ':' or quote)", code="VC106")


def _plain(node: Any, path: str, positions: dict[str, tuple[int, int]]) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap):
        out = {}
        for key in node:
            child = f"{path}.{key}" if path else str(key)
            line, column = node.lc.key(key)
            positions[child] = (line + 1, column + 1)
            out[str(key) if not isinstance(key, (int, float, bool)) or isinstance(key, bool) else key] = \
                _plain(node[key], child, positions)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            child = f"{path}[{index}]"
            line, column = node.lc.item(index)
            positions[child] = (line + 1, column + 1)
            items.append(_plain(value, child, positions))
        return items
    # ruamel scalar subclasses (ScalarFloat, ScalarBoolean, TaggedScalar...) -> builtin types
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if node is None:
        return None
    return str(node)
