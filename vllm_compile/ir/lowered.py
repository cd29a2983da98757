"""A deployment lowered to what a container runtime needs: image, argv, env, devices, ports."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EnvVar:
    """An environment variable of the server.

    Secrets are only ever references: `from_env` names the host variable the value is read
    from; `value` is for non-secret literals only.
    """

    name: str
    value: str | None = None
    from_env: str | None = None
    required: bool = False          # fail at start-up when the host variable is unset
    required_message: str = ""


@dataclass(frozen=True, slots=True)
class Volume:
    host: str        # may hold ${VAR:-default} references (compose) — targets translate for shells
    host_env: str | None   # variable that overrides the host path (e.g. HF_HOME)
    host_default: str      # path used when host_env is unset, e.g. "~/.cache/huggingface"
    container: str
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class Healthcheck:
    path: str
    start_period_s: int
    interval_s: int
    timeout_s: int
    retries: int


@dataclass(frozen=True, slots=True)
class LoweredDeployment:
    name: str
    image: str
    # Arguments after the image (or after `vllm serve`): always starts with "--model", <model>.
    args: tuple[str, ...]
    model: str
    env: tuple[EnvVar, ...]
    host_port: int
    container_port: int
    gpu_count: int
    device_ids: tuple[str, ...] | None   # pinned GPUs (index or UUID); None = any `gpu_count`
    ipc_host: bool
    volumes: tuple[Volume, ...]
    healthcheck: Healthcheck
    restart: str
    depends_on_healthy: tuple[str, ...]
    output_dir: str                      # relative to the spec's folder, POSIX separators
    spec_path: str                       # the spec's file name; headers name it relative to each artifact
    input_digest: str                    # sha256 of everything the artifacts derive from
    formats: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    # Host ports of the deployments in depends_on_healthy (bare-metal scripts poll their /health).
    depends_on_ports: tuple[int, ...] = ()
