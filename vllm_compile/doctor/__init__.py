"""`vllm-compile doctor`: can this host run the deployment right now?

Every check is a function `Context -> Finding | None`, run in the order of `CHECKS`; a check
that needs a spec returns None when run without one (host checks only).
"""
from __future__ import annotations

from typing import Callable

from vllm_compile.doctor.base import DEFAULT_FORMATS, Context, Deploy, Finding, worst
from vllm_compile.doctor.docker import check_docker, check_toolkit
from vllm_compile.doctor.gpu import check_driver, check_gpus
from vllm_compile.doctor.host import check_cache, check_port, check_shm, check_tokens
from vllm_compile.doctor.weights import check_model_files
from vllm_compile.doctor.nodes import check_nodes
from vllm_compile.doctor.rocm import check_rocm

Check = Callable[[Context], "Finding | None"]

CHECKS: tuple[Check, ...] = (check_docker, check_toolkit, check_driver, check_gpus, check_rocm, check_port,
                             check_tokens, check_cache, check_model_files, check_shm, check_nodes)


def run_checks(ctx: Context, checks: tuple[Check, ...] = CHECKS) -> tuple[Finding, ...]:
    return tuple(f for f in (check(ctx) for check in checks) if f is not None)


def context_for(compilation=None, formats: tuple[str, ...] | None = None, **boundaries) -> Context:
    """The context of a run: the planned deployments of a `pipeline.Compilation` (or none: host
    checks only), the formats to check for (--emit, else the spec's output.formats), and any
    host boundary to replace (environ, nvml, which, docker_socket, proc_root, shm_path, home)."""
    if compilation is None:
        return Context(formats=formats or DEFAULT_FORMATS, **boundaries)
    spec = compilation.spec
    deployments = tuple(
        Deploy(name=dep.spec.name, spec=dep.spec, model=model, plan=plan,
               device_ids=devices, model_dir=_model_dir(spec.directory, dep.spec.model.path))
        for dep, model, plan, devices in zip(spec.deployments, compilation.models, compilation.plans,
                                             compilation.devices or (None,) * len(spec.deployments)))
    return Context(deployments=deployments, hardware=compilation.hardware, has_spec=True, hardware_spec=spec.hardware,
                   formats=formats or tuple(spec.output.formats), **boundaries)


def _model_dir(spec_dir: str, path: str | None) -> str | None:
    import os

    return None if path is None else os.path.normpath(os.path.join(spec_dir, path))


__all__ = ["CHECKS", "Check", "Context", "Deploy", "Finding", "context_for", "run_checks", "worst"]
