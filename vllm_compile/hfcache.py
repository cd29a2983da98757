"""Where the Hugging Face hub cache is and which snapshot of a repo it holds, strictly offline.

The resolve stage reads model configs from it; `check` asks it (without loading the resolver)
whether a model compiled from the bundled catalog would now resolve from the cache instead.
"""
from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

COMMIT = re.compile(r"^[0-9a-f]{40}$")


def _hub_cache() -> str:
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return os.path.expanduser(os.environ[var])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    return os.path.join(os.path.expanduser(home), "hub")


def hub_cache_dir() -> Path:
    """The HF hub cache as huggingface_hub resolves it, read from the environment now (the
    library reads it once at import)."""
    from pathlib import Path

    return Path(_hub_cache())


def cached_snapshot(model_id: str, revision: str | None, marker: str = "config.json") -> tuple[Path, str] | None:
    """(snapshot folder, commit) of a cached repo at `revision` holding `marker`, without any network
    access. Plain os.path until there is a snapshot: a compile from the catalog leaves pathlib
    unimported."""
    repo = os.path.join(_hub_cache(), "models--" + model_id.replace("/", "--"))
    revision = revision or "main"
    if COMMIT.match(revision):
        commit = revision
    else:
        ref = os.path.join(repo, "refs", revision)
        if not os.path.isfile(ref):
            return None
        with open(ref, encoding="utf-8") as handle:
            commit = handle.read().strip()
    snapshot = os.path.join(repo, "snapshots", commit)
    if not os.path.isfile(os.path.join(snapshot, marker)):
        return None
    from pathlib import Path

    return Path(snapshot), commit
