"""Writing artifacts: all or nothing, only after every spec compiled.

`write_set` stages every file as a temp file beside its target, then renames them into place;
if anything fails, the files already renamed get their previous contents back (or are removed
when they did not exist), so a set is never half old and half new. Each output folder is locked
(`flock` on the folder itself) while its files are replaced, so concurrent compiles into one
folder write one complete set after the other.
"""
from __future__ import annotations

import os
from contextlib import ExitStack
from vllm_compile.fastclass import dataclass


def artifact_path(spec_dir: str, relative: str) -> str:
    return os.path.normpath(os.path.join(spec_dir, *relative.split("/")))


class WriteError(Exception):
    """A file of the set could not be written; nothing of the set changed."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Target:
    path: str
    content: bytes
    executable: bool = False


def _mode(target: Target) -> int:
    return 0o755 if target.executable else 0o644


def _unchanged(target: Target) -> bool:
    from vllm_compile.inputs import InputError, read_bytes

    try:
        current = read_bytes(target.path, max(len(target.content), 1))
    except InputError:
        return False
    return current == target.content and (os.stat(target.path).st_mode & 0o777) == _mode(target)


def write_set(targets: list[Target]) -> list[tuple[str, bool]]:
    """Write every target or none; returns (path, changed) per target, in order."""
    for target in targets:
        if "\0" in target.path:
            raise WriteError(target.path.replace("\0", "\\0"), "the path holds a NUL byte")
    folders = sorted({os.path.dirname(os.path.abspath(t.path)) for t in targets})
    for folder in folders:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise WriteError(folder, f"cannot create the folder ({exc.strerror or exc})") from None
    with ExitStack() as locks:
        for folder in folders:
            locks.enter_context(_locked(folder))
        for target in targets:
            if os.path.lexists(target.path) and not os.path.isfile(target.path):
                raise WriteError(target.path, "exists and is not a regular file; move it away")
        changed = [not _unchanged(t) for t in targets]
        staged: list[tuple[Target, str]] = []
        try:
            for target, change in zip(targets, changed):
                if change:
                    staged.append((target, _stage(target)))
            _commit(staged)
        finally:
            for _, temp in staged:
                _remove(temp)
    return [(t.path, c) for t, c in zip(targets, changed)]


def write_atomic(path: str, content: bytes, executable: bool = False) -> bool:
    """One file through `write_set`; False when it already held exactly these bytes (and mode)."""
    return write_set([Target(path, content, executable)])[0][1]


class _locked:
    """flock on the folder: one writer of a set at a time."""

    def __init__(self, folder: str):
        self.folder = folder
        self.fd = -1

    def __enter__(self):
        import fcntl

        try:
            self.fd = os.open(self.folder, os.O_RDONLY)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as exc:
            if self.fd >= 0:
                os.close(self.fd)
            raise WriteError(self.folder, f"cannot lock the folder ({exc.strerror or exc})") from None
        return self

    def __exit__(self, *exc_info):
        os.close(self.fd)  # closing releases the lock


# The staging file: a new name beside the target, created exclusively (as tempfile.mkstemp does:
# O_EXCL, not following a link, mode 0600 until it is complete), without importing tempfile and the
# shutil, random and bz2/lzma it brings into a compile that changes a file.
_STAGE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) \
    | getattr(os, "O_BINARY", 0)
_STAGE_ATTEMPTS = 100


def _stage(target: Target) -> str:
    folder = os.path.dirname(os.path.abspath(target.path))
    for _ in range(_STAGE_ATTEMPTS):
        temp = os.path.join(folder, f".vllm-compile-{os.urandom(6).hex()}")
        try:
            fd = os.open(temp, _STAGE_FLAGS, 0o600)
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise WriteError(target.path, f"cannot write ({exc.strerror or exc})") from None
    else:  # pragma: no cover - 100 collisions of 48 random bits
        raise WriteError(target.path, "cannot write (no free staging file name)")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(target.content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, _mode(target))
    except OSError as exc:
        _remove(temp)
        raise WriteError(target.path, f"cannot write ({exc.strerror or exc})") from None
    return temp


def _commit(staged: list[tuple[Target, str]]) -> None:
    """Rename every staged file into place; on a failure put back what was there before."""
    done: list[tuple[str, str | None]] = []   # (path, backup of its previous content or None)
    try:
        for target, temp in staged:
            backup = None
            if os.path.lexists(target.path):
                backup = os.path.join(os.path.dirname(os.path.abspath(target.path)),
                                      f".vllm-compile-old-{os.getpid()}-{os.urandom(6).hex()}")
                os.link(target.path, backup)
            try:
                os.replace(temp, target.path)
            except BaseException:
                if backup:
                    _remove(backup)
                raise
            done.append((target.path, backup))
    except OSError as exc:
        _roll_back(done)
        failed = staged[len(done)][0].path if len(done) < len(staged) else "the output folder"
        raise WriteError(failed, f"cannot write ({exc.strerror or exc}); no file was changed") from None
    except BaseException:
        _roll_back(done)
        raise
    for _, backup in done:
        if backup:
            _remove(backup)


def _roll_back(done: list[tuple[str, str | None]]) -> None:
    for path, backup in reversed(done):
        try:
            if backup:
                os.replace(backup, path)
            else:
                os.unlink(path)
        except OSError:  # pragma: no cover - best effort: the error reported names the set
            pass


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
