"""A deployment lowered to what it needs to run, whatever runs it: image, argv, env by reference,
a logical model cache, shared memory, the GPUs, health and start-up budget, ports.

Nothing here is spelled the way one runtime spells it (no compose `${VAR:-…}`, no `ipc: host`,
no restart policy): each emit target translates these needs into its own artifact.
"""
from __future__ import annotations

from vllm_compile.fastclass import dataclass


@dataclass(frozen=True, slots=True)
class EnvVar:
    """An environment variable of the server.

    Secrets are only ever references: `from_env` names the host variable a Docker host or script
    reads the value from, and `secret` names which secret it is ("hf_token", "api_key") so that a
    target keeping secrets elsewhere (a Kubernetes Secret) knows where to take it from. `value`
    is for non-secret literals only.
    """

    name: str
    value: str | None = None
    from_env: str | None = None
    secret: str | None = None
    required: bool = False          # the server must not start without it
    required_message: str = ""


@dataclass(frozen=True, slots=True)
class Volume:
    """A folder the server reads.

    kind "model-cache": the Hugging Face cache (downloads persist across restarts); each target
    chooses its backing store (the host's HF_HOME, a PersistentVolumeClaim).
    kind "local-model": a model folder of the deploying machine, `source` relative to the artifact
    folder (or absolute), mounted read-only.
    kind "local-adapter": a LoRA adapter folder of the deploying machine, like "local-model".
    """

    kind: str
    container: str
    source: str | None = None
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class Accelerators:
    """The GPUs the server needs."""

    vendor: str                            # "nvidia" (CUDA) | "amd" (ROCm)
    count: int
    device_ids: tuple[str, ...] | None     # pinned GPUs (index or UUID); None = any `count`
    product_names: tuple[str, ...] = ()    # names the driver reports (nvidia-smi), for node selection


@dataclass(frozen=True, slots=True)
class Ulimit:
    """A resource limit of the server's processes (-1: unlimited)."""

    name: str
    soft: int
    hard: int


@dataclass(frozen=True, slots=True)
class Healthcheck:
    path: str
    start_period_s: int             # start-up budget: a cold start (download, load, compile) fits in it
    interval_s: int
    timeout_s: int
    retries: int


@dataclass(frozen=True, slots=True)
class SecretKey:
    name: str
    key: str


@dataclass(frozen=True, slots=True)
class KubernetesOptions:
    """What only a Kubernetes target needs (the spec's `kubernetes:` block, defaults filled in)."""

    namespace: str | None
    cache_size: str                              # PVC request, a Kubernetes quantity like "40Gi"
    storage_class: str | None
    secrets: tuple[tuple[str, SecretKey], ...]   # EnvVar.secret -> the Secret holding it
    node_selector: tuple[tuple[str, str], ...] | None   # None: select by the GPU product label
    tolerations: tuple[tuple[tuple[str, object], ...], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class LoweredDeployment:
    name: str
    image: str
    # Arguments after the image (or after `vllm serve`): always starts with "--model", <model>.
    args: tuple[str, ...]
    model: str
    env: tuple[EnvVar, ...]
    port: int                            # where clients connect (host port, Service port)
    container_port: int                  # where the server listens inside its container
    accelerators: Accelerators
    shm_bytes: int                       # shared memory the workers need (NCCL/RCCL, shm broadcast)
    volumes: tuple[Volume, ...]
    healthcheck: Healthcheck
    depends_on_healthy: tuple[str, ...]
    output_dir: str                      # relative to the spec's folder, POSIX separators
    spec_path: str                       # the spec's file name; headers name it relative to each artifact
    input_digest: str                    # sha256 of everything the artifacts derive from
    formats: tuple[str, ...]
    warnings: tuple[str, ...] = ()       # notes about the GPUs given (hardware.device_ids)
    # The release has no flag manifest of its own: flags were checked against the nearest one.
    release_warning: str | None = None
    # Host ports of the deployments in depends_on_healthy (bare-metal scripts poll their /health).
    depends_on_ports: tuple[int, ...] = ()
    kubernetes: KubernetesOptions | None = None
    # The node's part in a deployment: "server" for one node; multi-node adds leader/worker roles.
    role: str = "server"
    engine_version: str = ""             # the vLLM release the argv was checked against
    # Host address the published port binds to; None = every interface.
    bind_host: str | None = None
    ulimits: tuple[Ulimit, ...] = ()
    # Warnings with the spec key (without the deployment's prefix) they are about.
    notes: tuple[tuple[str, str], ...] = ()
    multinode: "MultiNode | None" = None  # set when the deployment spans several nodes


# Placeholders in a multi-node argv, replaced by each target with how it learns the value at run
# time (LeaderWorkerSet: $(LWS_LEADER_ADDRESS), $(LWS_WORKER_INDEX)).
LEADER_ADDRESS = "{leader_address}"
NODE_RANK = "{node_rank}"


@dataclass(frozen=True, slots=True)
class NodeLaunch:
    """How the ranks on several nodes find each other, with each node's `vllm serve` argv.

    The argvs are the words after `vllm serve`, the model first (`serve_words`).
    backend "ray": the nodes form a Ray cluster and only the head runs `vllm serve`
    (`worker_args` is empty). backend "mp": vLLM's own multi-node mode; every node runs
    `vllm serve`, the others `--headless`. Both argvs were checked against the release's flags."""

    backend: str
    leader_args: tuple[str, ...]
    worker_args: tuple[str, ...] = ()
    rendezvous_port: int = 0          # what the leader listens on first (Ray GCS, torch's master port)


@dataclass(frozen=True, slots=True)
class MultiNode:
    nodes: int
    gpus_per_node: int
    network: str                                  # "ethernet" | "infiniband"
    addresses: tuple[str, ...] | None             # each node's address, head first (hardware.node_addresses)
    ray: NodeLaunch | None                        # None when the release cannot launch this layout on Ray
    mp: NodeLaunch | None                         # None when the release lacks vLLM's own multi-node mode
    preferred: str = "ray"                        # the plan's multi_node_backend
    ray_port: int = 6379


def serve_words(args: tuple[str, ...]) -> tuple[str, ...]:
    """The words after `vllm serve` for a lowered argv (which starts `--model MODEL`, the form the
    image's api_server entrypoint takes): the model positionally, because every release's
    `vllm serve` takes it there and 0.6/0.7 require it there (their `model_tag` has no default)."""
    if args[:1] != ("--model",) or len(args) < 2:
        raise ValueError(f"lowered args must start with --model MODEL, got {args[:2]}")
    return (args[1], *args[2:])
