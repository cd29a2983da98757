"""What every doctor check shares: its input (`Context`) and its one-line result (`Finding`).

A check is a plain function `Context -> Finding | None` (None: the check needs a spec and was run
without one). The context carries the planned deployments and the host boundaries a check may
touch (environment, NVML adapter, Docker socket, /proc, /dev/shm), so tests swap any of them.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import field
from vllm_compile.fastclass import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Callable, Literal, Mapping, Protocol

if TYPE_CHECKING:
    from vllm_compile.doctor.docker import DockerState
    from vllm_compile.ir.facts import HardwareFacts, ModelFacts
    from vllm_compile.ir.plan import Plan
    from vllm_compile.ir.spec import DeploymentSpec, HardwareSpec
    from vllm_compile.resolve.hardware.nvml import NvmlSnapshot

Status = Literal["ok", "warn", "fail"]


class NvmlQuery(Protocol):
    """What doctor needs of NVML: the pynvml adapter, or a stand-in in tests."""

    def query(self) -> NvmlSnapshot: ...
GIB = 1 << 30
DEFAULT_FORMATS = ("compose", "docker-run")
DEFAULT_PORT = 8000
DOCKER_SOCKET = "/var/run/docker.sock"


@dataclass(frozen=True, slots=True)
class Finding:
    name: str
    status: Status
    found: str
    fix: str = ""

    def as_json(self) -> dict:
        return {"name": self.name, "status": self.status, "found": self.found, "fix": self.fix}


@dataclass(frozen=True, slots=True)
class Deploy:
    """One planned deployment of the spec, as the checks need it."""

    name: str
    spec: DeploymentSpec
    model: ModelFacts
    plan: Plan
    device_ids: tuple[str, ...] | None = None   # pinned GPUs (index or UUID); None = the first plan.gpus
    model_dir: str | None = None                # a local model.path, resolved against the spec's folder


@dataclass(frozen=True)
class Context:
    deployments: tuple[Deploy, ...] = ()
    hardware: HardwareFacts | None = None
    has_spec: bool = False
    formats: tuple[str, ...] = DEFAULT_FORMATS
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    nvml: NvmlQuery | None = None               # None = the pynvml adapter
    which: Callable[[str], str | None] = shutil.which
    docker_socket: str = DOCKER_SOCKET          # used when DOCKER_HOST is unset
    proc_root: str = "/proc"
    shm_path: str = "/dev/shm"
    dev_root: str = "/dev"                      # where /dev/kfd and /dev/dri of ROCm hosts are
    home: str | None = None                     # None = the user's home
    hardware_spec: HardwareSpec | None = None   # the spec's hardware block (nodes, network, addresses)
    sys_root: str = "/sys"                      # network interfaces (/sys/class/net)

    # What runs each format comes from the emit targets' registry (a kubernetes artifact runs
    # on a cluster: this host's Docker and GPUs are not its business).
    @property
    def containers(self) -> bool:
        from vllm_compile.emit.registry import runtime_formats

        return bool(runtime_formats("docker") & set(self.formats))

    @property
    def bare_metal(self) -> bool:
        from vllm_compile.emit.registry import runtime_formats

        return bool(runtime_formats("host") & set(self.formats))

    @property
    def amd(self) -> bool:
        """The spec's GPUs are AMD (ROCm): NVIDIA's driver and toolkit are not needed."""
        return self.hardware is not None and self.hardware.gpu.vendor == "amd"

    # Docker and NVML are asked once per run however many checks read them.
    @cached_property
    def docker(self) -> DockerState:
        from vllm_compile.doctor.docker import probe

        return probe(self.environ, self.docker_socket)

    @cached_property
    def gpus(self) -> NvmlSnapshot | str:
        """The NVML snapshot, or why there is none."""
        from vllm_compile.resolve.hardware import nvml as nvml_module
        from vllm_compile.resolve.hardware.nvml import NoGpuError

        try:
            return (self.nvml or nvml_module.default_adapter()).query()
        except NoGpuError as exc:
            return str(exc)


def worst(statuses) -> Status:
    ranked = list(statuses)
    return "fail" if "fail" in ranked else "warn" if "warn" in ranked else "ok"


def gib(n: int) -> str:
    """Bytes for people: GiB with one decimal, MiB below 1 GiB."""
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / (1 << 20):.0f} MiB"


def combine(name: str, parts: list[tuple[Status, str, str]]) -> Finding:
    """One finding from several (status, found, fix) parts: the worst status, every text once."""
    found = "; ".join(dict.fromkeys(p[1] for p in parts if p[1]))
    fix = "; ".join(dict.fromkeys(p[2] for p in parts if p[2] and p[0] != "ok"))
    return Finding(name, worst(p[0] for p in parts), found, fix)
