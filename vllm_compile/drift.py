"""Compare what a spec would generate with the files on disk (for `diff` and `check`)."""
from __future__ import annotations

import difflib
import os
from dataclasses import field
from vllm_compile.fastclass import dataclass

from vllm_compile.codes import Code
from vllm_compile.freshness import without_seal
from vllm_compile.writer import artifact_path


@dataclass(frozen=True)
class Drift:
    path: str            # as shown to the user
    summary: str         # one line
    details: tuple[str, ...] = ()
    code: Code = field(kw_only=True)   # VC7xx (vllm_compile/codes.py)

    def as_json(self) -> dict:
        return {"path": self.path, "code": self.code, "summary": self.summary, "details": list(self.details)}


def drifts(result) -> list[Drift]:
    from vllm_compile.inputs import InputError, read_bytes

    out = []
    for artifact in result.artifacts:
        path = artifact_path(result.spec.directory, artifact.path)
        shown = os.path.relpath(path)
        try:
            # Artifacts are small: anything much larger than what we would write is drift already.
            current = read_bytes(path, max(len(artifact.content) * 4, 1 << 20))
        except InputError as exc:
            if exc.missing:
                out.append(Drift(shown, "missing (run `vllm-compile compile` to create it)", code="VC701"))
            else:
                out.append(Drift(shown, f"{exc.reason}: not what vllm-compile writes (remove it and recompile)",
                                 code="VC705"))
            continue
        if current == artifact.content or without_seal(current) == without_seal(artifact.content):
            if artifact.executable and not os.access(path, os.X_OK):
                out.append(Drift(shown, "is not executable (chmod +x, or recompile)", code="VC703"))
            continue
        if artifact.kind == "yaml":
            out.append(_yaml_drift(shown, current, artifact.content))
        else:
            out.append(_text_drift(shown, current, artifact.content))
    out += _lock_drift(result)
    return out


def _yaml_drift(shown: str, current: bytes, wanted: bytes) -> Drift:
    from deepdiff import DeepDiff
    from ruamel.yaml import YAML

    from vllm_compile.diagnostics import CompileError
    from vllm_compile.parse.yaml_source import refuse_unsafe_yaml

    yaml = YAML(typ="safe", pure=True)
    try:
        text = current.decode("utf-8")
    except UnicodeDecodeError:
        return Drift(shown, "is not UTF-8 text any more (hand-edited?)", tuple(_unified(current, wanted, shown)),
                     code="VC702")
    try:
        # The same refusals as for a spec: an alias bomb or a tag must not run the loader.
        refuse_unsafe_yaml(text, shown, "an artifact")
        old = _by_kind_and_name(list(yaml.load_all(text)))
    except CompileError as exc:
        first = exc.diagnostics[0]
        return Drift(shown, f"holds what vllm-compile never writes (line {first.line}: {first.message})",
                     code="VC705")
    except Exception:
        return Drift(shown, "is not valid YAML any more (hand-edited?)", code="VC702")
    new = _by_kind_and_name(list(yaml.load_all(wanted.decode())))
    diff = DeepDiff(old, new, verbose_level=2)
    lines = []
    for change, entries in sorted(diff.items()):
        for path, value in sorted(entries.items(), key=lambda kv: str(kv[0])):
            key = _key_path(path)
            if change == "values_changed" or change == "type_changes":
                lines.append(f"{key}: {value['old_value']!r} -> {value['new_value']!r}")
            elif "added" in change:
                lines.append(f"{key}: added {value!r}")
            elif "removed" in change:
                lines.append(f"{key}: removed (was {value!r})")
            else:
                lines.append(f"{key}: {change}")
    if not lines:
        return Drift(shown, "comments or formatting differ (the header's input digest shows a hand edit)",
                     tuple(_unified(current, wanted, shown)), code="VC702")
    return Drift(shown, f"{len(lines)} structural change(s)", tuple(lines), code="VC702")


def _by_kind_and_name(documents: list) -> object:
    """One document as it is; several (a Kubernetes manifest) keyed `Kind/name`, so that a
    reordered file is no drift and a change names the object it is in."""
    documents = [d for d in documents if d is not None]
    if len(documents) == 1:
        return documents[0]
    keyed: dict = {}
    for index, document in enumerate(documents):
        meta = document.get("metadata") if isinstance(document, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        key = f"{document.get('kind')}/{name}" if isinstance(document, dict) and name else f"document {index + 1}"
        keyed[key if key not in keyed else f"{key} (again, document {index + 1})"] = document
    return keyed


def _key_path(path: str) -> str:
    # deepdiff paths look like root['services']['llama']['command'][3]
    out = path.replace("root", "", 1)
    parts = []
    for token in out.replace("]", "").split("["):
        if not token:
            continue
        parts.append(token.strip("'\"") if token.startswith(("'", '"')) else f"[{token}]")
    text = ""
    for part in parts:
        text += part if part.startswith("[") else (f".{part}" if text else part)
    return text or "(document)"


def _text_drift(shown: str, current: bytes, wanted: bytes) -> Drift:
    lines = _unified(current, wanted, shown)
    return Drift(shown, f"differs ({sum(1 for l in lines if l[:1] in '+-' and l[:3] not in ('+++', '---'))} line(s))",
                 tuple(lines), code="VC702")


def _unified(current: bytes, wanted: bytes, shown: str) -> list[str]:
    return [line.rstrip("\n") for line in difflib.unified_diff(
        current.decode("utf-8", "replace").splitlines(True), wanted.decode().splitlines(True),
        fromfile=f"{shown} (on disk)", tofile=f"{shown} (generated)")]


def _lock_drift(result) -> list[Drift]:
    if not (result.lock or {}).get("models"):
        return []   # no lock, or one of the host's hardware only: no model can have moved away from it
    from vllm_compile.resolve.models import lock_matches

    lock_path = os.path.relpath(result.path + ".lock")
    return [Drift(lock_path, f"no longer matches deployment '{dep.spec.name}' (model id or revision changed): "
                             f"run `vllm-compile lock {os.path.relpath(result.path)}`", code="VC704")
            for dep in result.spec.deployments if not lock_matches(result.lock, dep.spec.model)]
