"""Where the Hugging Face hub cache is and which snapshot of a repo it holds, strictly offline.

The resolve stage reads model configs from it; `check` asks it (without loading the resolver)
whether a model compiled from the bundled catalog would now resolve from the cache instead.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

COMMIT = re.compile(r"^[0-9a-f]{40}$")


def hub_cache_dir() -> Path:
    """The HF hub cache as huggingface_hub resolves it, read from the environment now (the
    library reads it once at import)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def cached_snapshot(model_id: str, revision: str | None, marker: str = "config.json") -> tuple[Path, str] | None:
    """(snapshot folder, commit) of a cached repo at `revision` holding `marker`, without any network access."""
    repo = hub_cache_dir() / ("models--" + model_id.replace("/", "--"))
    revision = revision or "main"
    if COMMIT.match(revision):
        commit = revision
    else:
        ref = repo / "refs" / revision
        if not ref.is_file():
            return None
        commit = ref.read_text(encoding="utf-8").strip()
    snapshot = repo / "snapshots" / commit
    return (snapshot, commit) if (snapshot / marker).is_file() else None
