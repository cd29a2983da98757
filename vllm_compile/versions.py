"""vLLM release strings ("0.8.5.post1", "0.10.1.1", "0.33.0") as comparable keys."""
from __future__ import annotations

import re

# The newest vLLM release the bundled data covers (flag history, memory rules): what an omitted
# engine.version means. tests/test_engine_version_default.py holds it to the flag history's last release.
NEWEST_RELEASE = "0.33.0"

_RELEASE = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:\.(\d+))?(?:\.?post(\d+))?$")


def release_key(version: str) -> tuple[int, int, int, int, int]:
    match = _RELEASE.match(version.strip().lstrip("v"))
    if not match:
        raise ValueError(f"not a vLLM release: {version!r}")
    major, minor, patch, fourth, post = match.groups()
    return int(major), int(minor), int(patch), int(fourth or 0), int(post or 0)


def at_least(version: str, floor: str) -> bool:
    return release_key(version) >= release_key(floor)
