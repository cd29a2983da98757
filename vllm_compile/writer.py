"""Writing artifacts: atomically (temp file + rename), only after every spec compiled."""
from __future__ import annotations

import os
import tempfile


def artifact_path(spec_dir: str, relative: str) -> str:
    return os.path.normpath(os.path.join(spec_dir, *relative.split("/")))


def write_atomic(path: str, content: bytes, executable: bool = False) -> bool:
    """Write `content` to `path` through a temp file in the same folder; returns False when the
    file already held exactly these bytes (and mode), so unchanged files keep their mtime."""
    mode = 0o755 if executable else 0o644
    try:
        with open(path, "rb") as existing:
            if existing.read() == content and (os.stat(path).st_mode & 0o777) == mode:
                return False
    except FileNotFoundError:
        pass
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".vllm-compile-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    return True
