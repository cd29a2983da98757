"""The digest of the bundled data (GPU catalog, model configs, per-release flag manifests).

`check` proves artifacts up to date from their inputs, and the bundled data is one of them; the
digest is computed once here, when the data changes (`make data-digest`), so that `check` does not
read the whole data folder on every run nor get slower as the catalog or the releases grow.
tests/test_freshness.py recomputes it and fails when it is stale.
"""
from __future__ import annotations

DATA_DIGEST = "4ce2589a7ccd9a8d89142a2820700220658dd9a8f9fb2f70c8c31ee355718731"


def compute(root=None) -> str:
    """sha256 over every file under `root` (default vllm_compile/data): its relative path and its
    bytes, in path order."""
    from vllm_compile.sha import sha256
    from pathlib import Path

    root = Path(root) if root is not None else Path(__file__).resolve().parent / "data"
    digest = sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        name = path.relative_to(root).as_posix().encode()
        content = path.read_bytes()
        digest.update(b"%d:%s%d:" % (len(name), name, len(content)))
        digest.update(content)
    return digest.hexdigest()


def write() -> None:
    """Rewrite DATA_DIGEST in this file (`make data-digest`)."""
    import re
    from pathlib import Path

    path = Path(__file__)
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r'(?m)^DATA_DIGEST = "[0-9a-f]{64}"$', f'DATA_DIGEST = "{compute()}"', text, count=1),
                    encoding="utf-8")


if __name__ == "__main__":
    write()
