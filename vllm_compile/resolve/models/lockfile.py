"""`<spec>.lock`: the resolved model(s) of a spec, so `compile` never needs the network.

JSON with sorted keys and no timestamps. Layout:
    {"version": 1,
     "models": {"<repo id>": {"revision": "main", "commit": "<sha>", "gated": false,
                              "files": {"config.json": "sha256:…"}, "config": {…},
                              "quant_config": {…}, "safetensors_dtypes": {"BF16": n}}},
     "adapters": {"<repo id>": {"revision": "main", "commit": "<sha>",
                                "files": {"adapter_config.json": "sha256:…"}, "adapter_config": {…}}},
     …other sections (e.g. "hardware") are kept as they are when `lock` rewrites the file}
"""
from __future__ import annotations

import json
import os

from vllm_compile.diagnostics import CompileError, Diagnostic
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vllm_compile.ir.spec import ModelSpec

LOCK_VERSION = 1


def lock_path(spec_path: str) -> str:
    return spec_path + ".lock"


def load_lock(spec_path: str) -> dict | None:
    """The lock beside `spec_path`, or None when there is none."""
    path = lock_path(spec_path)
    if not os.path.exists(path):
        return None
    name = os.path.basename(path)
    from vllm_compile.inputs import InputError, read_json

    try:
        data = read_json(path)
    except InputError as exc:
        raise CompileError([Diagnostic(f"the lock file {exc.reason}", file=name, line=1, column=1,
                                       fix="delete it and run `vllm-compile lock` again")]) from None
    if not isinstance(data, dict) or not isinstance(data.get("models", {}), dict):
        raise CompileError([Diagnostic("the lock file is not a vllm-compile lock", file=name, line=1, column=1,
                                       fix="delete it and run `vllm-compile lock` again")])
    return data


def lock_entry(lock: dict | None, model_id: str | None) -> dict | None:
    if not lock or not model_id:
        return None
    entry = (lock.get("models") or {}).get(model_id)
    return entry if isinstance(entry, dict) else None


def requested_revision(model: ModelSpec) -> str:
    return model.revision or "main"


def lock_matches(lock: dict, model: ModelSpec) -> bool:
    """The lock still describes `model`: it has an entry for the repo id, locked at the same
    requested revision."""
    entry = lock_entry(lock, model.id)
    return entry is not None and entry.get("revision") == requested_revision(model)


def dump_lock(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def adapter_entry(lock: dict | None, repo_id: str) -> dict | None:
    """The lock's entry of a LoRA adapter served by repo id."""
    entry = ((lock or {}).get("adapters") or {}).get(repo_id)
    return entry if isinstance(entry, dict) else None


def write_lock(spec_path: str, models: dict[str, dict], adapters: dict[str, dict] | None = None) -> str:
    """Write the model (and LoRA adapter) entries of one spec into its lock, keeping other
    sections as they are. Returns the lock's path."""
    path = lock_path(spec_path)
    data: dict = {}
    if os.path.exists(path):
        from vllm_compile.inputs import InputError, read_json

        try:
            loaded = read_json(path)
            data = loaded if isinstance(loaded, dict) else {}
        except InputError:
            data = {}
    data["version"] = LOCK_VERSION
    data["models"] = dict(sorted(models.items()))
    if adapters:
        data["adapters"] = dict(sorted(adapters.items()))
    else:
        data.pop("adapters", None)
    text = dump_lock(data)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return path
