"""What the parse stage hands on: the validated file, normalised to a list of deployments.

Plain frozen dataclasses (no pydantic): the deployments and hardware inside are the spec's
models — pydantic instances (`ir/spec.py`) or their pydantic-free twins (`ir/records.py`), which
answer the same attributes and `model_dump` calls.
"""
from __future__ import annotations

from vllm_compile.fastclass import dataclass
from typing import TYPE_CHECKING

from vllm_compile.diagnostics import SourceMap
from vllm_compile.ir.engine_args import EngineArgs

if TYPE_CHECKING:
    from vllm_compile.ir.spec import DeploymentSpec, HardwareSpec, OutputSpec


@dataclass(frozen=True, slots=True)
class Deployment:
    key_prefix: str          # "" for a single-deployment file, "deployments[2]." otherwise
    spec: DeploymentSpec
    # engine.extra_args parsed once against the pinned release (the parse stage fills it in).
    engine_args: EngineArgs | None = None


@dataclass(frozen=True, slots=True)
class Spec:
    path: str                # as the user named it (POSIX separators); goes into headers
    directory: str           # absolute folder of the spec; used to resolve relative paths, never emitted
    source: SourceMap
    hardware: HardwareSpec
    deployments: tuple[Deployment, ...]
    output: OutputSpec       # host-level output (multi-deployment files); single files: the deployment's
    digest: str              # sha256 of the spec file's bytes
    multi: bool = False
