"""Checks 5-8 on the host itself: the port, the tokens, the Hugging Face cache and /dev/shm."""
from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
from pathlib import Path

from vllm_compile.doctor.base import DEFAULT_PORT, GIB, Context, Finding, Status, combine, gib

# NCCL's troubleshooting guide asks containers for `--shm-size=1g`; Docker's 64 MiB default is
# the classic cause of "Error while creating shared memory segment" at TP > 1.
SHM_NEEDED = 1 * GIB
LISTEN = "0A"   # TCP_LISTEN in /proc/net/tcp{,6}


# ---------------------------------------------------------------------------------------------
# 5. Port


def bind_error(port: int, host: str = "0.0.0.0") -> OSError | None:
    """Try to bind the port on `host` (default every interface), as Docker's port publishing and
    `vllm serve` do."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like the servers themselves: TIME_WAIT leftovers must not count as "in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc
    return None


def _fd_links(fd_dir: str) -> set[str]:
    """What a process's descriptors point at; unreadable ones (gone, or another user's) are skipped."""
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return set()
    links = set()
    for name in names:
        try:
            links.add(os.readlink(os.path.join(fd_dir, name)))
        except OSError:  # closed meanwhile (e.g. the descriptor listdir itself used)
            continue
    return links


def port_holders(port: int, proc_root: str = "/proc") -> list[tuple[int, str]]:
    """(pid, command) of the processes holding a listening TCP socket on `port`, as far as /proc shows."""
    inodes = set()
    for table in ("net/tcp", "net/tcp6"):
        try:
            with open(os.path.join(proc_root, table), encoding="ascii") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == LISTEN and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{cols[9]}]")
    holders: list[tuple[int, str]] = []
    if not inodes:
        return holders
    for pid in sorted(int(p) for p in os.listdir(proc_root) if p.isdigit()):
        if _fd_links(os.path.join(proc_root, str(pid), "fd")) & inodes:
            try:
                with open(os.path.join(proc_root, str(pid), "comm"), encoding="utf-8", errors="replace") as f:
                    command = f.read().strip()
            except OSError:
                command = "?"
            holders.append((pid, command))
    return holders


def bind_host(server) -> str:
    """Where the artifacts publish the port: server.host, else the loopback address without an
    API key, every interface with one."""
    return server.host or ("0.0.0.0" if server.api_key_env else "127.0.0.1")


def _port_part(ctx: Context, port: int, owner: str, host: str = "0.0.0.0") -> tuple[Status, str, str]:
    error = bind_error(port, host)
    if error is None:
        return "ok", f"port {port} is free{owner}", ""
    if error.errno == errno.EACCES:
        if ctx.containers and not ctx.bare_metal:
            return "ok", f"port {port}{owner} needs root to bind; the Docker daemon binds it", ""
        return "fail", f"port {port}{owner} is privileged and this user cannot bind it", (
            "run vllm serve as root or set server.port to 1024 or higher")
    if error.errno != errno.EADDRINUSE:
        return "warn", f"cannot bind port {port}{owner}: {error.strerror}", "check the host's network setup"
    holders = port_holders(port, ctx.proc_root)
    if holders:
        who = ", ".join(f"{command} (pid {pid})" for pid, command in holders)
        docker = any(command.startswith("docker") for _, command in holders)
        hint = f" (an old deployment? `docker ps --filter publish={port}`)" if docker else ""
        return "fail", f"port {port}{owner} is in use by {who}", f"stop {who}{hint}, or set server.port to a free port"
    return "fail", f"port {port}{owner} is in use (holder not visible to this user)", (
        f"find it with `sudo ss -ltnp 'sport = :{port}'`, stop it, or set server.port to a free port")


def check_port(ctx: Context) -> Finding:
    """5. Each deployment's host port can be bound now on the address it is published on (8000 on
    every interface without a spec)."""
    if not ctx.deployments:
        return combine("port", [_port_part(ctx, DEFAULT_PORT, " (vLLM's default)")])
    many = len(ctx.deployments) > 1
    return combine("port", [_port_part(ctx, d.spec.server.port, f" ({d.name})" if many else "", bind_host(d.spec.server))
                            for d in ctx.deployments])


# ---------------------------------------------------------------------------------------------
# 6. Tokens


def check_tokens(ctx: Context) -> Finding | None:
    """6. The Hugging Face token variable is set for gated models (and the API key variable when the
    artifacts require one). Values are never shown."""
    if not ctx.has_spec:
        return None
    parts: list[tuple[Status, str, str]] = []
    for dep in ctx.deployments:
        spec, model = dep.spec, dep.model
        var = spec.server.hf_token_env
        value = ctx.environ.get(var, "")
        repo = spec.model.id or model.model_id
        needs = model.gated and not spec.model.path
        if value:
            looks_right = value == value.strip() and value.startswith("hf_")
            parts.append(("ok", f"{var} is set (value not shown)", "") if looks_right else (
                "warn", f"{var} is set but does not look like a Hugging Face token (value not shown)",
                f"Hugging Face tokens start with hf_ and have no spaces: check {var}"))
        elif needs:
            parts.append(("fail", f"{repo} is gated and {var} is not set",
                          f"export {var}=<a token with access to {repo}> (accept its license on https://huggingface.co/{repo})"))
        else:
            why = "a local folder" if spec.model.path else "not known to be gated"
            parts.append(("ok", f"no token needed: {repo} is {why} ({var} unset)", ""))
        if spec.server.api_key_env and not ctx.environ.get(spec.server.api_key_env):
            parts.append(("fail", f"{spec.server.api_key_env} (the API key) is not set; the artifacts refuse to start",
                          f"export {spec.server.api_key_env}=<the key clients will send>"))
    return combine("tokens", parts)


# ---------------------------------------------------------------------------------------------
# 7. Hugging Face cache


def hf_home(ctx: Context) -> Path:
    """The host folder the artifacts mount as the cache: ${HF_HOME:-~/.cache/huggingface}."""
    home = ctx.home or os.path.expanduser("~")
    raw = ctx.environ.get("HF_HOME") or os.path.join(home, ".cache", "huggingface")
    return Path(raw.replace("~", home, 1) if raw.startswith("~") else raw)


def cached_bytes(cache: Path, repo: str) -> int:
    """Bytes of `repo` already downloaded (its blobs), so a warm cache needs no more disk."""
    blobs = cache / "hub" / ("models--" + repo.replace("/", "--")) / "blobs"
    try:
        return sum(p.stat().st_size for p in blobs.iterdir() if p.is_file() and not p.name.endswith(".incomplete"))
    except OSError:
        return 0


def _writable(folder: Path) -> str | None:
    """Why nothing can be created in `folder`, found by creating (and removing) a temporary file:
    permission bits alone say nothing for root, a read-only mount or an immutable folder."""
    try:
        fd, path = tempfile.mkstemp(prefix=".vllm-compile-doctor-", dir=folder)
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    os.unlink(path)
    return None


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor or "/")


def check_cache(ctx: Context) -> Finding:
    """7. The Hugging Face cache folder exists or can be created, is writable, and its disk holds
    the weights still to download."""
    name = "hf-cache"
    cache = hf_home(ctx)
    base = _existing_ancestor(cache)
    fix_place = "set HF_HOME to a writable folder on a disk with room (the artifacts mount ${HF_HOME:-~/.cache/huggingface})"
    if not base.is_dir():
        return Finding(name, "fail", f"{cache} cannot be created: {base} is not a folder", fix_place)
    problem = _writable(base)
    if problem:
        what = "is not writable" if base == cache else f"cannot be created in {base}"
        return Finding(name, "fail", f"{cache} {what} ({problem})",
                       f"make it writable (e.g. sudo chown -R $USER {base}), or {fix_place}")
    where = f"{cache} is writable" if base == cache else f"{cache} does not exist yet and can be created"
    if not ctx.deployments:
        return Finding(name, "ok", where)
    needed = sum(max(0, d.model.weight_bytes - cached_bytes(cache, d.spec.model.id))
                 for d in ctx.deployments if d.spec.model.id and not d.spec.model.path)
    free = shutil.disk_usage(base).free
    if free < needed:
        return Finding(name, "fail", f"{where}, but its disk has {gib(free)} free and the weights need {gib(needed)} more",
                       f"free {gib(needed - free)} on that disk, or {fix_place}")
    return Finding(name, "ok", f"{where}; {gib(free)} free, weights need {gib(needed)} more")


# ---------------------------------------------------------------------------------------------
# 8. Shared memory


def check_shm(ctx: Context) -> Finding | None:
    """8. Tensor/pipeline parallel workers talk through /dev/shm: the containers share the host's
    (the artifacts use ipc: host), bare-metal `vllm serve` uses it directly."""
    if not ctx.has_spec:
        return None
    name = "shm"
    multi = [d for d in ctx.deployments if d.plan.gpus > 1]
    if not multi:
        return Finding(name, "ok", "not needed: every deployment runs on one GPU")
    how = "the containers share it (ipc: host)" if ctx.containers else "vllm serve uses it directly"
    try:
        stats = os.statvfs(ctx.shm_path)
    except OSError as exc:
        return Finding(name, "fail", f"{ctx.shm_path} is missing ({exc.strerror}); {how}",
                       f"mount a tmpfs there: sudo mount -t tmpfs -o size=16G tmpfs {ctx.shm_path}")
    free = stats.f_bavail * stats.f_frsize
    text = f"{ctx.shm_path} has {gib(free)} free of {gib(stats.f_blocks * stats.f_frsize)}; {how}"
    if free < SHM_NEEDED:
        return Finding(name, "fail", f"{text}; TP/PP workers need at least {gib(SHM_NEEDED)}",
                       f"enlarge it: sudo mount -o remount,size=16G {ctx.shm_path} (and in /etc/fstab)")
    return Finding(name, "ok", text)
