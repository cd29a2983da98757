"""Model facts: any Hugging Face checkpoint, offline, exact to the parameter.

`resolve_model` finds a config (hand-stated facts, local folder, lock file, HF cache, bundled
catalog — in that order) and `facts_from_config` turns it into a frozen `ModelFacts`.
"""
from __future__ import annotations

from .config import FactsError
from .facts import facts_from_config
from .lockfile import load_lock, lock_matches
from .sources import catalog_ids, resolve_model

__all__ = ["FactsError", "facts_from_config", "resolve_model", "load_lock", "lock_matches", "catalog_ids"]
