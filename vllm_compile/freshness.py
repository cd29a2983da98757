"""Proof that a spec's artifacts are up to date, without planning (the fast path of `check`).

`compile` seals every artifact it can: one header line, `# check-digest: sha256:<K>`, where
K = sha256(R, the artifact's bytes with K zeroed) and R digests every input the compile read —
the spec's bytes and file name, the lock's bytes, the bundled data (`data_digest.DATA_DIGEST`),
the vllm-compile version, `--emit`, and where each artifact was placed. `check` recomputes R from
the raw inputs and K from each file on disk: when every artifact's seal matches, nothing the
compile depends on changed and no artifact was edited, so planning again would give the same
bytes. Any doubt (a missing or unsealed file, an input that changed, a spec this reader cannot
follow) sends the spec down the full path: compile it and compare, as before.

A compile is sealed only when its inputs are all named above: models (and LoRA adapters) from the
spec's own facts, the lock or the bundled catalog (a model read from a local folder or the Hugging
Face cache, or GPUs detected live, depend on files R does not cover). Whatever new a compile comes
to read must be covered by R or make it unsealable (`sealable`). `check` also refuses the fast path when a
catalog model would now be found in the Hugging Face cache, or when the lock no longer matches.

This module imports nothing heavy at its top: `check` loads it before (and often instead of) the
compiler.
"""
from __future__ import annotations

import os
import posixpath

SEAL_PREFIX = b"# check-digest: sha256:"
PLACEHOLDER = SEAL_PREFIX + b"0" * 64
SCHEME = "vllm-compile-check/1"
# Model sources whose content R covers (ModelFacts.source): the spec's facts, the lock, the catalog.
SEALABLE_SOURCES = ("spec", "lock", "catalog")

# (file names, scope, executable) of each output format, as the emit targets declare them
# (tests/test_freshness.py keeps this equal to emit/registry.py), so that `check` need not import
# the renderers; "{node}" in a name stands for each node's index (ray: a script per node). A stale
# copy only costs speed: the placement of each artifact is part of R.
LAYOUT = {
    "compose": (("compose.yaml",), "host", False),
    "docker-run": (("docker-run.sh",), "deployment", True),
    "kubernetes": (("kubernetes.yaml",), "deployment", False),
    "lws": (("lws.yaml",), "deployment", False),
    "ray": (("ray/node-{node}.sh", "ray/serve.sh"), "deployment", True),
    "serve": (("serve.sh",), "deployment", True),
}
DEFAULT_FORMATS = ("compose", "docker-run")   # output.formats when unset (a test holds it to the spec model)


def _sha256(data: bytes) -> str:
    from vllm_compile.sha import hexdigest

    return hexdigest(data)


def inputs_digest(spec_name: str, spec_sha256: str, lock_sha256: str | None,
                  formats: tuple[str, ...] | None) -> str:
    """R without the placements: what the compile read, as raw bytes."""
    import json

    from vllm_compile import __version__
    from vllm_compile.data_digest import DATA_DIGEST

    payload = [SCHEME, __version__, DATA_DIGEST, spec_name, spec_sha256, lock_sha256,
               None if formats is None else sorted(formats)]
    return _sha256(json.dumps(payload, separators=(",", ":")).encode())


def placement(reference: str, path: str, host_dir: str) -> str:
    """Where an artifact lies, as R records it: how its header names the spec, and its path within
    the output folder (the same for any output folder the artifacts would be identical in)."""
    return f"{reference}|{posixpath.relpath(path, host_dir)}"


def spec_reference(spec_name: str, folder: str) -> str:
    """How an artifact in `folder` (relative to the spec's folder) names the spec: a relative path
    when the folder lies inside the spec's tree — the same whatever the working directory or
    however the spec path was typed — else just the file name, never a path of this machine."""
    if folder.startswith("..") or posixpath.isabs(folder):
        return spec_name
    return f"{posixpath.relpath(spec_name, folder or '.')} (relative to this file)"


def sealed_digest(inputs: str, placed: list[tuple[str, bool]]) -> str:
    """R: the inputs and every artifact's placement and mode."""
    import json

    return _sha256((inputs + json.dumps(sorted(placed), separators=(",", ":"))).encode())


def seal(content: bytes, digest: str) -> bytes:
    """Fill the header's placeholder with K = sha256(R, content with the placeholder)."""
    if PLACEHOLDER not in content:
        return content
    key = _sha256(digest.encode() + b"\n" + content).encode()
    return content.replace(PLACEHOLDER, SEAL_PREFIX + key, 1)


def seal_matches(content: bytes, digest: str) -> bool:
    start = content.find(SEAL_PREFIX)
    if start < 0:
        return False
    recorded = content[start + len(SEAL_PREFIX):start + len(PLACEHOLDER)]
    return recorded == _sha256(digest.encode() + b"\n" + without_seal(content)).encode()


def without_seal(content: bytes) -> bytes:
    """The artifact with its seal blanked: what `diff`/`check` compare, so that a spec edit that
    changes no artifact (a comment) is no drift; it only costs the fast path until recompiled."""
    start = content.find(SEAL_PREFIX)
    if start < 0:
        return content
    return content[:start] + PLACEHOLDER + content[start + len(PLACEHOLDER):]


def sealable(sources, hardware_gpu: str, lock: dict | None) -> bool:
    """Whether a compile read nothing but what R covers (see the module's docstring)."""
    live_gpus = hardware_gpu.strip().lower() == "auto" and (lock or {}).get("hardware") is None
    return not live_gpus and all(source in SEALABLE_SOURCES for source in sources)


# ---------------------------------------------------------------------------------------------
# The fast path of `check`


def up_to_date(spec_path: str, options) -> bool:
    """True when the artifacts of `spec_path` provably are what compiling it would write now;
    False means "not proven" (the caller compiles and compares). `options` is pipeline.Options."""
    try:
        return _up_to_date(spec_path, options)
    except Exception:  # a spec or lock this reader cannot follow: the full path decides and reports
        return False


def _read(path: str) -> bytes | None:
    """A regular file's bytes through the one bounded reader (never a device, FIFO or huge file);
    None for anything it refuses, missing included."""
    from vllm_compile.inputs import InputError, read_bytes

    try:
        return read_bytes(path)
    except InputError:
        return None


def _load_yaml(data: bytes):
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(data, Loader=loader)  # noqa: S506 (a safe loader)


def _up_to_date(spec_path: str, options) -> bool:
    spec_bytes = _read(spec_path)
    if spec_bytes is None:
        return False
    lock_bytes = _read(spec_path + ".lock")
    if lock_bytes is None and os.path.lexists(spec_path + ".lock"):
        return False  # a lock that cannot be read: the compile reports it
    data = _load_yaml(spec_bytes)
    if not isinstance(data, dict):
        return False
    lock = None
    if lock_bytes is not None:
        import json

        lock = json.loads(lock_bytes)
        if not isinstance(lock, dict):
            return False
    multi = data.get("deployments") is not None
    deployments = data["deployments"] if multi else [data]
    if not _sources_unchanged(deployments, str(data["hardware"]["gpu"]), lock):
        return False
    placed = _layout(spec_path, data, deployments, multi, options)
    if placed is None:
        return False
    host, artifacts = placed
    inputs = inputs_digest(os.path.basename(spec_path), _sha256(spec_bytes),
                           None if lock_bytes is None else _sha256(lock_bytes), options.formats)
    name = os.path.basename(spec_path)
    digest = sealed_digest(inputs, [(placement(spec_reference(name, posixpath.dirname(path)), path, host), executable)
                                    for path, executable in artifacts])
    spec_dir = os.path.abspath(os.path.dirname(spec_path) or ".")
    for path, executable in artifacts:
        full = os.path.normpath(os.path.join(spec_dir, *path.split("/")))
        content = _read(full)
        if content is None or not seal_matches(content, digest):
            return False
        if executable and not os.access(full, os.X_OK):
            return False
    return True


def _sources_unchanged(deployments: list, hardware_gpu: str, lock: dict | None) -> bool:
    """Every model still resolves from what R covers, and the lock still matches every model."""
    from vllm_compile.hfcache import cached_snapshot

    locked = (lock or {}).get("models") or {}
    for dep in deployments:
        model = dep["model"]
        if model.get("lora_adapters"):
            return False  # adapters may come from folders or the HF cache: a compile decides
        if any("speculative" in str(arg) for arg in (dep.get("engine") or {}).get("extra_args") or ()):
            return False  # so may a speculative draft model (never sealed)
        model_id, revision = model.get("id"), model.get("revision")
        entry = locked.get(model_id) if model_id else None
        if locked and not (isinstance(entry, dict) and entry.get("revision") == (revision or "main")):
            return False  # the lock no longer describes this model: `check` reports it
        if model.get("facts") is not None or isinstance(entry, dict):
            continue
        if model.get("path") is not None or not model_id:
            return False
        if cached_snapshot(model_id, revision) is not None:
            return False  # the compile would now read the Hugging Face cache, not the catalog
    return sealable((), hardware_gpu, lock)


def _layout(spec_path: str, data: dict, deployments: list, multi: bool, options):
    """(host output folder, [(artifact path, executable)]) as the pipeline lays them out, paths
    relative to the spec's folder; None when this reader cannot tell."""
    spec_dir = os.path.abspath(os.path.dirname(spec_path) or ".")
    names = [str(dep["name"]) for dep in deployments]
    label = os.path.splitext(os.path.basename(spec_path))[0] if multi else names[0]
    if options.output_dir is not None:
        target = os.path.join(options.output_dir, label) if options.nest_output else options.output_dir
        host = os.path.relpath(os.path.abspath(target), spec_dir).replace(os.sep, "/")
    elif multi:
        host = (data.get("output") or {}).get("dir") or "deploy"
    else:
        host = (deployments[0].get("output") or {}).get("dir") or f"deploy/{names[0]}"
    host = posixpath.normpath(str(host).replace("\\", "/"))
    folders = [posixpath.normpath(f"{host}/{name}") for name in names] if multi else [host]
    chosen = [tuple(options.formats) if options.formats is not None
              else tuple((dep.get("output") or {}).get("formats") or DEFAULT_FORMATS) for dep in deployments]
    if any(f not in LAYOUT for formats in chosen for f in formats):
        return None
    nodes = data["hardware"].get("nodes", 1)
    if type(nodes) is not int:
        return None
    artifacts = []
    for name in sorted(LAYOUT):
        filenames, scope, executable = LAYOUT[name]
        members = [i for i, formats in enumerate(chosen) if name in formats]
        if not members:
            continue
        names = [f.format(node=i) for f in filenames for i in (range(nodes) if "{node}" in f else (0,))]
        for folder in ([host] if scope == "host" else [folders[i] for i in members]):
            artifacts += [(posixpath.normpath(posixpath.join(folder, f)), executable) for f in names]
    return host, artifacts
