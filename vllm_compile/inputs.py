"""The one bounded reader for every file vllm-compile reads: specs, lock files, a local model's
config.json / hf_quant_config.json / safetensors index, and artifacts under `check`/`diff`.

Only regular files are read (checked with `fstat` on the opened descriptor, so a symlink to
`/dev/zero` or a FIFO is refused; FIFOs are opened non-blocking so they never hang), at most
`limit` bytes (one more is read to notice a larger file, whatever size the file system reports),
and text is decoded as strict UTF-8. Failures are `InputError`s with a short reason; each caller
turns it into a located diagnostic.
"""
from __future__ import annotations

import os
import stat

MAX_BYTES = 16 << 20       # no file vllm-compile reads is anywhere near this
MAX_JSON_DEPTH = 64        # config.json and lock files nest a few levels


class InputError(Exception):
    """A file that is not something vllm-compile will read; `reason` is one short clause."""

    def __init__(self, reason: str, missing: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.missing = missing


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_bytes(path: str | os.PathLike, limit: int = MAX_BYTES) -> bytes:
    """The content of the regular file at `path`, refusing anything else or anything over `limit`."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputError("not found", missing=True) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a file") from None
    except ValueError:  # an embedded NUL byte in the path
        raise InputError("the path holds a NUL byte") from None
    except OSError as exc:
        raise InputError(f"cannot be opened ({exc.strerror or type(exc).__name__})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(f"is {_kind(mode)}, not a regular file")
        chunks, total = [], 0
        while total <= limit:
            try:
                chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            except BlockingIOError:  # pragma: no cover - regular files never block
                break
            except OSError as exc:
                raise InputError(f"cannot be read ({exc.strerror or type(exc).__name__})") from None
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise InputError(f"is larger than {_size(limit)}")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: str | os.PathLike, limit: int = MAX_BYTES) -> str:
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"is not UTF-8 text (byte {exc.start})") from None


def read_json(path: str | os.PathLike, limit: int = MAX_BYTES, max_depth: int = MAX_JSON_DEPTH):
    """Parsed JSON of a bounded regular file, nesting at most `max_depth` levels."""
    import json

    text = read_text(path, limit)
    check_json_depth(text, max_depth)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise InputError(f"nests deeper than {max_depth} levels") from None


def check_json_depth(text: str, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON text nesting deeper than `max_depth`, before a recursive parser sees it."""
    import re

    depth = 0
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        char = match.group()
        if char in "[{":
            depth += 1
            if depth > max_depth:
                raise InputError(f"nests deeper than {max_depth} levels")
        elif char in "]}":
            depth -= 1


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"
