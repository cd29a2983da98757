"""The user's intent file (`deployment.vllm.yaml`), as a pydantic model.

This model is the single source of truth for the spec: `schemas/deployment.vllm.schema.json`
is generated from it (`vllm-compile schema`), and a test keeps the committed file equal to
the generated one. Every model is frozen and forbids unknown keys.
"""
from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Optional

from pydantic import (BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_serializer,
                      model_validator)

from vllm_compile.emit.registry import FORMATS, describe_formats
from vllm_compile.versions import NEWEST_RELEASE

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
VERSION = r"^[0-9]+\.[0-9]+\.[0-9]+(\.[0-9]+)?(\.?post[0-9]+)?$"
# Kubernetes label keys ([prefix/]name) and values, and resource quantities in binary units.
LABEL_KEY = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
QUANTITY = r"^[1-9][0-9]*(Ki|Mi|Gi|Ti|Pi)$"
# An IPv4 address, or (loosely: checked in full by the validator) an IPv6 one.
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IP_ADDRESS = rf"^({_OCTET}\.){{3}}{_OCTET}$|^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$"
# What `server.host` is when unset: the loopback address without an API key, every interface with one.
LOOPBACK = "127.0.0.1"
LabelKey = Annotated[str, StringConstraints(pattern=LABEL_KEY, max_length=317)]
LabelValue = Annotated[str, StringConstraints(pattern=LABEL_VALUE, max_length=63)]
# A node's address: an IPv4/IPv6 address or a host name (nothing a shell or YAML would read twice).
NodeAddress = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9.:-]*[A-Za-z0-9])?$", max_length=253)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


def _omit_defaults(model: BaseModel, data: dict) -> dict:
    """A dump without the model's OMIT_AT_DEFAULT keys that hold their defaults (ir/records.py
    leaves the same keys out: the list is packaged with the schema)."""
    fields = type(model).model_fields
    for key in getattr(model, "OMIT_AT_DEFAULT", ()):
        if getattr(model, key) == fields[key].default:
            data.pop(key, None)
    return data


class ModelFactsSpec(_Frozen):
    """Architecture facts stated by hand, for a model whose config.json vllm-compile cannot read.

    Keys use the names of Hugging Face `config.json`."""

    model_type: str = Field(description="Architecture family, e.g. 'llama'.")
    num_hidden_layers: int = Field(ge=1, le=1024, description="Decoder layers.")
    hidden_size: int = Field(ge=1, le=262144, description="Model (residual stream) width.")
    num_attention_heads: int = Field(ge=1, le=4096, description="Query heads.")
    num_key_value_heads: Optional[int] = Field(
        default=None, ge=1, le=4096, description="KV heads (GQA); default: the attention heads.")
    head_dim: Optional[int] = Field(
        default=None, ge=1, le=4096, description="Head size; default: hidden_size / num_attention_heads.")
    intermediate_size: int = Field(ge=1, le=1048576, description="MLP inner width.")
    vocab_size: int = Field(ge=1, le=4194304, description="Vocabulary size.")
    max_position_embeddings: int = Field(ge=1, le=16777216, description="Longest context the model supports.")
    tie_word_embeddings: bool = Field(default=False, description="lm_head shares the embedding matrix.")
    torch_dtype: Literal["bfloat16", "float16", "float32"] = Field(
        default="bfloat16", description="Checkpoint dtype.")
    sliding_window: Optional[int] = Field(
        default=None, ge=1, description="Sliding-window size when every layer uses one.")
    num_local_experts: Optional[int] = Field(default=None, ge=1, description="Routed experts (MoE).")
    num_experts_per_tok: Optional[int] = Field(default=None, ge=1, description="Experts per token (MoE).")
    moe_intermediate_size: Optional[int] = Field(
        default=None, ge=1, description="Inner width of one expert (MoE); default: intermediate_size.")


class LoraAdapterSpec(_Frozen):
    """A LoRA adapter served on top of the model: clients request it by `name`."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$", max_length=128,
        description="The model name clients send to use the adapter (no spaces or '=').")
    path: Optional[str] = Field(
        default=None, min_length=1,
        description="Local adapter folder holding adapter_config.json, relative to this file (mounted read-only).")
    id: Optional[str] = Field(
        default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Hugging Face repo id of the adapter; its adapter_config.json is read offline from the "
                    "Hugging Face cache, and vLLM downloads the adapter at start-up.")
    revision: Optional[str] = Field(
        default=None, min_length=1,
        description="Branch, tag or commit of the adapter repo. vLLM's --lora-modules takes none (it downloads "
                    "the default branch), so a revision is refused: download it and give its folder as path.")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.path is None) == (self.id is None):
            raise ValueError("give exactly one of path (a local adapter folder) or id (a Hugging Face repo id)")
        return self


class ModelSpec(_Frozen):
    """Which model to serve."""

    id: Optional[str] = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Hugging Face repo id, e.g. meta-llama/Llama-3.1-8B-Instruct (needed unless path is given).")
    path: Optional[str] = Field(
        default=None, min_length=1,
        description="Local model directory holding config.json, relative to this file.")
    revision: Optional[str] = Field(
        default=None, min_length=1, description="Branch, tag or commit of the repo (default: main).")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        default="auto", description="Weights/activation dtype; auto follows the checkpoint (float16 for fp32).")
    quantization: Optional[str] = Field(
        default=None, description="Quantization method; default: what the checkpoint's config declares.")
    trust_remote_code: bool = Field(default=False, description="Allow the model repo's own Python code.")
    served_model_name: Optional[str] = Field(
        default=None, min_length=1, description="Name clients use in requests; default: the repo id.")
    gated: Optional[bool] = Field(
        default=None,
        description="The repo needs an access token; default: known from the catalog, else false.")
    facts: Optional[ModelFactsSpec] = Field(
        default=None, description="Architecture facts stated by hand (for models vllm-compile cannot read).")
    lora_adapters: tuple[LoraAdapterSpec, ...] = Field(
        default=(),
        description="LoRA adapters served beside the model: vLLM runs with --enable-lora, one adapter slot per "
                    "adapter (unless --max-loras is in engine.extra_args) and --max-lora-rank from the largest "
                    "adapter rank, rounded up to a rank the release accepts.")

    # Left out while empty, so specs written before it existed keep their input digests.
    OMIT_AT_DEFAULT: ClassVar[tuple[str, ...]] = ("lora_adapters",)

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        return _omit_defaults(self, handler(self))


class HardwareSpec(_Frozen):
    """The GPUs of the host."""

    gpu: str = Field(min_length=1, description="GPU catalog name or alias (nvidia-smi names work too), or 'auto'.")
    count: int = Field(default=1, ge=1, le=1024, description="GPUs on this host given to the deployment(s).")
    memory_gib: Optional[float] = Field(
        default=None, gt=0, le=4096,
        description="Override: total memory per GPU as the driver reports it, in GiB.")
    device_ids: Optional[tuple[str, ...]] = Field(
        default=None, min_length=1,
        description="Pin these GPUs (indexes like '0' or UUIDs like 'GPU-…'); default: any `count` GPUs. "
                    "With several deployments: the host's usable GPUs, in the order they are handed out.")
    nodes: int = Field(
        default=1, ge=1, le=1024,
        description="Identical nodes the deployment spans (count is GPUs per node); more than one needs the "
                    "lws or ray output format.")
    interconnect: Optional[Literal["nvlink", "pcie"]] = Field(
        default=None,
        description="How the GPUs of one node talk to each other; default: the GPU catalog's (nvlink for SXM "
                    "boards). Without NVLink the planner prefers pipeline parallelism within a node.")
    network: Literal["infiniband", "ethernet"] = Field(
        default="ethernet",
        description="The network between nodes: infiniband adds the IB device settings and IPC_LOCK.")
    node_addresses: Optional[tuple[NodeAddress, ...]] = Field(
        default=None, min_length=1,
        description="The address (IP or host name) of each node, head first, one per node (the ray scripts' "
                    "VLLM_HOST_IP); default: each node's script reads it from an environment variable.")
    share_gpus: bool = Field(
        default=False,
        description="Allow several deployments on one GPU; each gets a fraction of its memory "
                    "(deployments needing one GPU are packed, each with the smallest gpu_memory_utilization "
                    "that serves its workload, and start one after another).")

    # Validators that leave what the JSON Schema accepts unchanged (device_ids only turns ints, which
    # the schema refuses, into text): parse/fast.py may decide these fields from the schema alone.
    SCHEMA_VALID_KEPT: ClassVar[tuple[str, ...]] = ("device_ids",)

    @field_validator("device_ids", mode="before")
    @classmethod
    def _ids_as_text(cls, value):
        if isinstance(value, (list, tuple)):
            return tuple(str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value)
        return value

    # Left out of dumps while at their defaults, so specs written before they existed keep their
    # input digests (lowering hashes this dump): share_gpus while off (on, it changes the plans
    # anyway), the multi-node keys while at one node.
    OMIT_AT_DEFAULT: ClassVar[tuple[str, ...]] = ("share_gpus", "nodes", "interconnect", "network", "node_addresses")

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        return _omit_defaults(self, handler(self))


class WorkloadSpec(_Frozen):
    """What the deployment must serve."""

    max_model_len: Optional[int] = Field(
        default=None, ge=1, le=16777216,
        description="Tokens one request may span (prompt + output); default: the model's maximum, "
                    "clamped to what fits.")
    concurrency: int = Field(
        default=1, ge=1, le=65536,
        description="Requests of max_model_len tokens that must fit in the KV cache at once.")


class EngineSpec(_Frozen):
    """The vLLM release and engine knobs; null means the planner chooses."""

    version: str = Field(default=NEWEST_RELEASE, pattern=VERSION,
                         description="vLLM release, e.g. '0.33.0': picks the image, flags and memory rules; "
                                     "default: the newest bundled release.")
    image: Optional[str] = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?(@sha256:[0-9a-f]{64})?$",
        description="Container image; default vllm/vllm-openai:v<version>. May pin a digest (…@sha256:…).")
    tensor_parallel_size: Optional[int] = Field(default=None, ge=1, le=1024, description="TP size; null = the planner chooses.")
    pipeline_parallel_size: int = Field(default=1, ge=1, le=256, description="Pipeline stages.")
    gpu_memory_utilization: Optional[float] = Field(
        default=None, gt=0, le=1, description="Fraction of each GPU's total memory vLLM may use; null = the release default.")
    kv_cache_dtype: str = Field(default="auto", description="KV cache dtype: auto, fp8, fp8_e4m3, fp8_e5m2, bfloat16, …")
    max_num_seqs: Optional[int] = Field(default=None, ge=1, le=1048576, description="Most sequences in one batch; null = from the concurrency goal.")
    max_num_batched_tokens: Optional[int] = Field(
        default=None, ge=1, le=16777216, description="Most tokens in one batch; null = the release default for the GPU.")
    block_size: Optional[int] = Field(default=None, ge=1, le=65536, description="KV block size in tokens; null = vLLM's default.")
    enforce_eager: bool = Field(default=False, description="Disable CUDA graphs.")
    enable_expert_parallel: bool = Field(default=False, description="Shard MoE experts across GPUs instead of splitting each expert.")
    extra_args: tuple[str, ...] = Field(
        default=(), description="Further `vllm serve` arguments, checked against the pinned release's flags.")


class ServerSpec(_Frozen):
    """How clients reach the server."""

    port: int = Field(default=8000, ge=1, le=65535, description="Host port.")
    host: Optional[str] = Field(
        default=None, pattern=IP_ADDRESS,
        description="Host address the published port binds to, e.g. 127.0.0.1 (this host only) or 0.0.0.0 "
                    "(every IPv4 interface); default: 127.0.0.1 without an API key (api_key_env), every interface "
                    "with one. Not used by the kubernetes format (its Service is cluster-internal).")
    api_key_env: Optional[str] = Field(
        default=None, pattern=ENV_NAME, description="Name of an env var holding the API key (never the key itself).")
    hf_token_env: str = Field(
        default="HF_TOKEN", pattern=ENV_NAME, description="Name of the env var holding the Hugging Face token.")

    @field_validator("host")
    @classmethod
    def _an_address(cls, value):
        import ipaddress

        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an IP address (like 127.0.0.1, 0.0.0.0 or ::1)") from None
        return value

    # Left out while unset, so specs written before it existed keep their input digests.
    OMIT_AT_DEFAULT: ClassVar[tuple[str, ...]] = ("host",)

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        return _omit_defaults(self, handler(self))


class OutputSpec(_Frozen):
    """Where artifacts go."""

    dir: Optional[str] = Field(
        default=None, min_length=1, description="Output folder, relative to this file; default deploy/<name>.")
    formats: tuple[Literal[FORMATS], ...] = Field(  # type: ignore[valid-type]
        default=("compose", "docker-run"), min_length=1,
        description=f"Artifacts to write: {describe_formats()}.")


class SecretKeySpec(_Frozen):
    """A key of a Kubernetes Secret (created by you, never by vllm-compile)."""

    name: str = Field(pattern=DNS_SUBDOMAIN, max_length=253, description="Name of the Secret.")
    key: str = Field(pattern=r"^[-._a-zA-Z0-9]+$", max_length=253, description="Key inside the Secret.")


class TolerationSpec(_Frozen):
    """A Kubernetes toleration of the pod (e.g. of a taint on GPU nodes)."""

    key: Optional[str] = Field(default=None, pattern=LABEL_KEY, description="Taint key; none with Exists = every taint.")
    operator: Literal["Exists", "Equal"] = Field(default="Equal", description="Exists, or Equal to `value`.")
    value: Optional[str] = Field(default=None, pattern=LABEL_VALUE, description="Taint value (with Equal).")
    effect: Optional[Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]] = Field(
        default=None, description="Taint effect; none = every effect.")
    toleration_seconds: Optional[int] = Field(
        default=None, ge=0, description="With NoExecute: how long the pod stays bound after the taint appears.")


class KubernetesSpec(_Frozen):
    """Settings of the kubernetes output format (Deployment, Service and model-cache PVC)."""

    namespace: Optional[str] = Field(
        default=None, pattern=DNS_LABEL, max_length=63,
        description="Namespace of every object; default: none written (kubectl's current namespace).")
    storage_class: Optional[str] = Field(
        default=None, pattern=DNS_SUBDOMAIN, max_length=253,
        description="StorageClass of the model-cache PersistentVolumeClaim; default: the cluster's default class.")
    cache_size: Optional[str] = Field(
        default=None, pattern=QUANTITY,
        description="Size of the model-cache PersistentVolumeClaim, e.g. 200Gi; default: twice the checkpoint, "
                    "rounded up to 10 Gi.")
    hf_token_secret: SecretKeySpec = Field(
        default=SecretKeySpec(name="hf-token", key="token"),
        description="The Secret key holding the Hugging Face token (optional in the pod unless the model is gated).")
    api_key_secret: SecretKeySpec = Field(
        default=SecretKeySpec(name="vllm-api-key", key="api-key"),
        description="The Secret key holding the API key (used when server.api_key_env is set).")
    node_selector: Optional[dict[LabelKey, LabelValue]] = Field(
        default=None,
        description="Node labels the pod needs; default: the GPU product label (nvidia.com/gpu.product) of "
                    "hardware.gpu (none for AMD GPUs: the amd.com/gpu resource finds their nodes). {} selects no label.")
    tolerations: tuple[TolerationSpec, ...] = Field(default=(), description="Tolerations of the pod.")
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        description="Extra labels on every object and the pod (the app.kubernetes.io/* labels vllm-compile sets win).")
    annotations: dict[LabelKey, str] = Field(
        default_factory=dict, description="Extra annotations on every object and the pod.")


class DeploymentSpec(_Frozen):
    """One vLLM server."""

    name: str = Field(pattern=DNS_LABEL, max_length=63, description="DNS-1123 label: names the service and the output folder.")
    model: ModelSpec = Field(description="Which model to serve.")
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec, description="What the deployment must serve.")
    engine: EngineSpec = Field(default_factory=EngineSpec,
                               description="The vLLM release and engine knobs; default: the newest bundled release.")
    server: ServerSpec = Field(default_factory=ServerSpec,
                               description="How clients reach the server (in a deployments: list, an unset port "
                                           "takes the next free one from 8000, in listing order).")
    output: OutputSpec = Field(default_factory=OutputSpec, description="Where artifacts go.")
    kubernetes: Optional[KubernetesSpec] = Field(
        default=None, description="Settings of the kubernetes output format.")

    # Left out while unset, so specs written before it existed keep their input digests.
    OMIT_AT_DEFAULT: ClassVar[tuple[str, ...]] = ("kubernetes",)

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        return _omit_defaults(self, handler(self))


class SpecFile(_Frozen):
    """A vllm-compile deployment intent: one deployment at the top level, or several under `deployments:`."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", defer_build=True,
        title="vllm-compile deployment spec",
        json_schema_extra={"oneOf": [{"required": ["name", "model"]}, {"required": ["deployments"]}]},
    )

    version: Literal[1] = Field(description="Spec format version.")
    hardware: HardwareSpec = Field(description="The GPUs of the host.")
    name: Optional[str] = Field(default=None, pattern=DNS_LABEL, max_length=63,
                                description="DNS-1123 label: names the service and the output folder.")
    model: Optional[ModelSpec] = Field(default=None, description="Which model to serve.")
    workload: Optional[WorkloadSpec] = Field(default=None, description="What the deployment must serve.")
    engine: Optional[EngineSpec] = Field(default=None, description="The vLLM release and engine knobs.")
    server: Optional[ServerSpec] = Field(default=None, description="How clients reach the server.")
    output: Optional[OutputSpec] = Field(default=None, description="Where artifacts go.")
    kubernetes: Optional[KubernetesSpec] = Field(
        default=None, description="Settings of the kubernetes output format (beside deployments: the defaults of "
                                  "each deployment's own kubernetes block).")
    deployments: Optional[tuple[DeploymentSpec, ...]] = Field(
        default=None, min_length=1, description="Several deployments sharing this host's hardware.")


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of the spec, generated from the pydantic model."""
    schema = SpecFile.model_json_schema()
    out = {"$schema": "https://json-schema.org/draft/2020-12/schema",
           "$id": "https://vllm-compile.dev/schemas/deployment.vllm.schema.json"}
    out.update(schema)
    _close_objects(out)
    return out


def _close_objects(node) -> None:
    # Pydantic omits additionalProperties:false on some generated objects; the contract is that
    # every object in the spec refuses unknown keys, so make it explicit everywhere.
    if isinstance(node, dict):
        if node.get("type") == "object" and ("properties" in node or "patternProperties" in node):
            node["additionalProperties"] = False
        for value in node.values():
            _close_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_objects(value)


# ---------------------------------------------------------------------------------------------
# What the parse stage hands on (defined without pydantic in ir/document.py).

from vllm_compile.ir.document import Deployment, Spec  # noqa: E402,F401
