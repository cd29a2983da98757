"""Stage 5, emit: lowered deployments -> artifact bytes.

Each target is a module with the same shape (see `registry`); TARGETS maps names to modules,
ordered by name. To add a target, write the module and list it in `registry.MODULES`.
"""
from __future__ import annotations

import posixpath
from typing import Iterable, Sequence

from vllm_compile.diagnostics import CompileError, Diagnostic, did_you_mean
from vllm_compile.emit.header import Header, spec_reference
from vllm_compile.emit.registry import TARGETS
from vllm_compile.ir.artifact import Artifact
from vllm_compile.ir.lowered import LoweredDeployment
from vllm_compile.sha import hexdigest

__all__ = ["TARGETS", "Header", "check_formats", "emit_artifacts"]


def check_formats(names: Iterable[str]) -> tuple[str, ...]:
    """Validate output format names (comma-separated items allowed), in TARGETS order."""
    wanted = [part.strip() for name in names for part in name.split(",") if part.strip()]
    known = ", ".join(TARGETS)
    problems = []
    for name in wanted:
        if name not in TARGETS:
            close = did_you_mean(name, TARGETS)
            problems.append(Diagnostic(f"unknown output format {name!r}", key="output.formats", found=name,
                                       expected=f"one of {known}",
                                       fix=f"did you mean {close[0]}?" if close else f"use one of {known}", code="VC608"))
    if not wanted and not problems:
        problems.append(Diagnostic("no output format selected", key="output.formats", found="nothing",
                                   expected=f"one or more of {known}", fix="e.g. --emit compose,docker-run", code="VC609"))
    if problems:
        raise CompileError(problems)
    return tuple(name for name in TARGETS if name in wanted)


def _digest(deployments: Sequence[LoweredDeployment]) -> str:
    if len(deployments) == 1:
        return deployments[0].input_digest
    joined = "\n".join(f"{d.name}:{d.input_digest}" for d in deployments)
    return hexdigest(joined.encode())


def emit_artifacts(deployments: Sequence[LoweredDeployment], formats: Iterable[str] | None = None, *,
                   tool_version: str | None = None, host_output_dir: str | None = None,
                   seal_inputs: str | None = None) -> tuple[Artifact, ...]:
    """Render the selected targets.

    `formats` (e.g. from --emit) overrides each deployment's own `formats`. Host-scoped
    targets (compose) write one file for all deployments into `host_output_dir` (default: the
    first deployment's folder); per-deployment targets write into each deployment's folder.
    With `seal_inputs` (the digest of the compile's raw inputs) every artifact is sealed for
    `check`'s fast path (vllm_compile/freshness.py).
    """
    if tool_version is None:
        from vllm_compile import __version__

        tool_version = __version__
    deployments = tuple(deployments)
    chosen = check_formats(formats) if formats is not None else None
    artifacts, references = [], []
    for name, target in TARGETS.items():
        if chosen is not None:
            members = deployments if name in chosen else ()
        else:
            members = tuple(d for d in deployments if name in d.formats)
        if not members:
            continue
        groups = [members] if target.SCOPE == "host" else [(d,) for d in members]
        for group in groups:
            folder = host_output_dir if target.SCOPE == "host" and host_output_dir is not None else group[0].output_dir
            # The header names the spec relative to the file's own folder (ray's scripts sit in ray/).
            here = posixpath.join(folder, posixpath.dirname(target.FILENAME))
            header = Header(tool_version, spec_reference(group[0].spec_path, here), _digest(group),
                            sealed=seal_inputs is not None)
            # A target may write several files (one script per node): `files` names each.
            files = target.files(group, header) if hasattr(target, "files") else [
                (target.FILENAME, target.render(group, header))]
            for filename, content in files:
                artifacts.append(Artifact(path=posixpath.normpath(posixpath.join(folder, filename)),
                                          content=content, executable=target.KIND == "shell", kind=target.KIND))
                references.append(header.spec_path)
    if seal_inputs is not None and artifacts:
        artifacts = _sealed(artifacts, references, seal_inputs, host_output_dir or deployments[0].output_dir)
    return tuple(artifacts)


def _sealed(artifacts: list[Artifact], references: list[str], inputs: str, host_dir: str) -> list[Artifact]:
    from dataclasses import replace

    from vllm_compile.freshness import placement, seal, sealed_digest

    host = posixpath.normpath(host_dir)
    digest = sealed_digest(inputs, [(placement(ref, a.path, host), a.executable) for a, ref in zip(artifacts, references)])
    return [replace(a, content=seal(a.content, digest)) for a in artifacts]
