"""The planner's output: a per-GPU memory ledger, the chosen knobs with reasons, and a verdict."""
from __future__ import annotations

from vllm_compile.fastclass import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from vllm_compile.ir.facts import SpeculativeFacts
    from vllm_compile.ir.facts import GpuFacts, ModelFacts

# `goal_not_met`: vLLM would start, but its KV cache holds fewer requests of max_model_len tokens
# than workload.concurrency asks for (compile mode only; a command line has no goal).
Verdict = Literal["ok", "weights_do_not_fit", "no_kv_memory", "kv_too_small", "invalid", "goal_not_met"]


@dataclass(frozen=True, slots=True)
class Ledger:
    """vLLM's start-up accounting for one GPU (rank), in bytes."""

    total_bytes: int
    requested_bytes: int
    weights_bytes: int
    activation_bytes: int
    non_torch_bytes: int
    cuda_graph_bytes: int
    kv_cache_bytes: int
    kv_bytes_per_token: int
    rank: int = 0
    stage: int = 0
    # Multimodal models: the vision tower's share of `weights_bytes`, and of `activation_bytes`
    # what the profile run's dummy image batch adds (encoder forward, cached embeddings).
    encoder_weights_bytes: int = 0
    encoder_activation_bytes: int = 0
    encoder_modality: str = ""     # what the profile run pushed through the tower: "image", "video" or "audio"

    def as_json(self) -> dict:
        return {
            "total_bytes": self.total_bytes,
            "requested_bytes": self.requested_bytes,
            "weights_bytes": self.weights_bytes,
            "activation_bytes": self.activation_bytes,
            "non_torch_bytes": self.non_torch_bytes,
            "cuda_graph_bytes": self.cuda_graph_bytes,
            # A deficit is reported as such, never as a negative amount of memory.
            "kv_cache_bytes": max(0, self.kv_cache_bytes),
            "kv_cache_short_bytes": max(0, -self.kv_cache_bytes),
            "kv_bytes_per_token": self.kv_bytes_per_token,
        } | ({"encoder_weights_bytes": self.encoder_weights_bytes,
              "encoder_activation_bytes": self.encoder_activation_bytes}
             if self.encoder_weights_bytes or self.encoder_activation_bytes else {}) \
            | ({"encoder_profiled": self.encoder_modality} if self.encoder_activation_bytes else {})


class Note(str):
    """A planner warning: its text (it reads, prints and serializes as a plain string) and the
    spec key it is about, relative to the deployment (`key`), so a diagnostic points there."""

    __slots__ = ("key",)
    key: str

    def __new__(cls, text: str, key: str) -> "Note":
        note = super().__new__(cls, text)
        note.key = key
        return note

    def __reduce__(self):
        return (Note, (str(self), self.key))


@dataclass(frozen=True, slots=True)
class Choice:
    """One engine knob, the value the plan uses, and why."""

    knob: str
    value: object
    reason: str
    pinned: bool = False


@dataclass(frozen=True, slots=True)
class Fix:
    """A change to the spec that makes the plan start and meet its goal, checked by re-planning.

    `settings` holds (spec key, value) pairs such as ("hardware.count", 8): keys are dotted paths of
    the spec file (`deployments[1].engine.tensor_parallel_size` in a multi-deployment file), so a
    fix can be applied to the file as it stands. `verdict` and `max_concurrency` are the outcome of
    planning the patched spec."""

    settings: tuple[tuple[str, object], ...]
    summary: str
    verdict: str
    max_concurrency: float

    def as_json(self) -> dict:
        return {"set": dict(self.settings), "summary": self.summary, "verdict": self.verdict,
                "max_concurrency": self.max_concurrency}

    def label(self) -> str:
        """`key: value, key: value (summary; then max concurrency N)`, as the text outputs print it."""
        sets = ", ".join(f"{k}: {yaml_scalar(v)}" for k, v in self.settings)
        return f"{sets} ({self.summary}; then max concurrency {self.max_concurrency:.2f})"


def yaml_scalar(value: object) -> str:
    """A knob's value as it reads in the spec file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class Plan:
    vllm_version: str
    engine: Literal["v0", "v1"]
    tensor_parallel_size: int
    pipeline_parallel_size: int
    max_model_len: int
    gpu_memory_utilization: float
    block_size: int
    per_gpu: Ledger
    kv_cache_tokens: int
    max_concurrency: float
    verdict: Verdict
    reasons: tuple[str, ...]
    fixes: tuple[Fix, ...]
    # Knobs resolved for lowering.
    dtype: str
    kv_cache_dtype: str
    max_num_seqs: int
    max_num_batched_tokens: int
    enforce_eager: bool
    enable_expert_parallel: bool = False
    quantization: str | None = None
    num_gpu_blocks: int = 0
    choices: tuple[Choice, ...] = ()
    warnings: tuple[str, ...] = ()
    ranks: tuple[Ledger, ...] = ()
    # Memory outside vLLM's budget that must fit in (1 - util) x total: context, comm buffers,
    # CUDA graphs when the release does not budget them.
    headroom_needed_bytes: int = 0
    # Whether the KV cache holds workload.concurrency requests of max_model_len tokens.
    goal_met: bool = True
    kv_cache_memory_bytes: int | None = None
    # Independent replicas (`--data-parallel-size`); with expert parallelism they share the experts.
    data_parallel_size: int = 1
    # The GPU type the plan is for (a mixed host plans each deployment on one of its types);
    # "" when the caller did not say. Not part of as_json: the ledger already holds its memory.
    gpu_name: str = ""
    # workload.concurrency (compile mode; 1 for a command line): what `goal_met` is measured against.
    concurrency_goal: int = 1
    # The spec key (relative to the deployment: "engine.kv_cache_dtype") a failing verdict is
    # about, set by the planner where it decides the verdict; None when the verdict is ok.
    failure_key: str | None = None
    # LoRA adapter slots and the largest rank the plan counted (`--max-loras`, `--max-lora-rank`;
    # 0 slots: LoRA off). Not part of as_json: the ledger's weights already hold their memory.
    max_loras: int = 0
    max_lora_rank: int = 0
    # Across nodes: how many, and how vLLM's ranks find each other ("ray" or "mp", vLLM's own
    # multiprocessing multi-node mode), as the pinned release supports.
    nodes: int = 1
    multi_node_backend: str = ""
    # The format vLLM stores the KV cache in when it is not `kv_cache_dtype` itself (sparse MLA's
    # auto and fp8 become "fp8_ds_mla"); "" otherwise.
    kv_cache_format: str = ""
    # Hybrids (Mamba / gated delta-net): the state page per layer and GPU (padded to the attention
    # page of `block_size` tokens), the recurrent layer groups, and the state blocks one running
    # sequence holds per group (0 with Mamba cache mode 'all': one per attention block). 0: no state.
    state_page_bytes: int = 0
    state_groups: int = 0
    state_blocks_per_sequence: int = 0
    # Attention-free models (pure Mamba / Mamba2): the state one running sequence holds per GPU
    # over all its layers; the block is then max_model_len tokens long. 0: the model attends.
    state_bytes_per_sequence: int = 0
    # The modalities of the model's towers ("image", "audio", "image+audio"; "" for a text-only model), for the
    # ledger's wording. Not part of as_json: the encoder's memory is in the ledger.
    encoder_towers: str = ""

    @property
    def gpus(self) -> int:
        return self.tensor_parallel_size * self.pipeline_parallel_size * self.data_parallel_size

    def as_json(self) -> dict:
        return {
            "vllm_version": self.vllm_version,
            "tensor_parallel_size": self.tensor_parallel_size,
            "pipeline_parallel_size": self.pipeline_parallel_size,
            "data_parallel_size": self.data_parallel_size,
            "max_model_len": self.max_model_len,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "block_size": self.block_size,
            "per_gpu": self.per_gpu.as_json(),
            "concurrency_goal": self.concurrency_goal,
            "kv_cache_tokens": self.kv_cache_tokens,
            "max_concurrency": self.max_concurrency,
            "verdict": self.verdict,
            "goal_met": self.goal_met,
            "reasons": list(self.reasons),
            # Only on a failing plan (an ok plan's JSON, and so the artifacts' input digest, is unchanged).
            **({"failure_key": self.failure_key} if self.failure_key else {}),
            "fixes": [f.as_json() for f in self.fixes],
            "engine": self.engine,
            "dtype": self.dtype,
            "kv_cache_dtype": self.kv_cache_dtype,
            **({"kv_cache_format": self.kv_cache_format} if self.kv_cache_format else {}),
            "max_num_seqs": self.max_num_seqs,
            "max_num_batched_tokens": self.max_num_batched_tokens,
            "num_gpu_blocks": self.num_gpu_blocks,
            "choices": [{"knob": c.knob, "value": c.value, "reason": c.reason, "pinned": c.pinned}
                        for c in self.choices],
            "warnings": list(self.warnings),
            **({"nodes": self.nodes, "multi_node_backend": self.multi_node_backend} if self.nodes > 1 else {}),
            # Only for hybrids (the JSON of an attention-only plan, and its artifacts' digest, is unchanged).
            **({"recurrent_state": {"page_bytes": self.state_page_bytes, "groups": self.state_groups,
                                    "blocks_per_sequence": self.state_blocks_per_sequence,
                                    # Only without attention (a hybrid's JSON is unchanged).
                                    **({"attention_free": True, "bytes_per_sequence": self.state_bytes_per_sequence}
                                       if self.state_bytes_per_sequence else {})}}
               if self.state_page_bytes else {}),
        }


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """Everything the planner needs, with `None` meaning "not pinned: choose" (compile) or
    "vLLM's default for this release" (predict)."""

    vllm_version: str
    model: "ModelFacts"
    gpu: "GpuFacts"
    gpu_count: int                      # GPUs available to this deployment
    mode: Literal["compile", "predict"] = "compile"
    max_model_len: int | None = None
    concurrency: int = 1
    tensor_parallel_size: int | None = None
    pipeline_parallel_size: int = 1
    gpu_memory_utilization: float | None = None
    kv_cache_dtype: str = "auto"
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    block_size: int | None = None
    enforce_eager: bool = False
    enable_expert_parallel: bool = False
    dtype: str = "auto"
    quantization: str | None = None
    disable_hybrid_kv_cache_manager: bool = False
    kv_cache_memory_bytes: int | None = None
    # `--mamba-cache-dtype` / `--mamba-ssm-cache-dtype`: the recurrent state's dtypes ("auto": the
    # model dtype, the SSM state fp32 where the model's config asks).
    mamba_cache_dtype: str = "auto"
    mamba_ssm_cache_dtype: str = "auto"
    # `--enable-prefix-caching` / `--no-enable-prefix-caching` (None: the release's default) and
    # `--mamba-cache-mode`: how many state blocks a hybrid's running sequence holds.
    enable_prefix_caching: bool | None = None
    mamba_cache_mode: str | None = None
    allow_long_max_model_len: bool = False
    # `--max-model-len auto` / `-1` (releases with auto-fit): the largest length that fits.
    auto_fit_max_model_len: bool = False
    # `--cpu-offload-gb`: weight bytes per GPU kept in host memory instead.
    cpu_offload_bytes: int = 0
    # `--enable-lora`: adapter slots and their largest rank (0 slots: LoRA off).
    max_loras: int = 0
    max_lora_rank: int = 16
    # `--data-parallel-size`: replicas of the TP x PP layout (experts split over TP x DP with EP).
    data_parallel_size: int = 1
    # Multimodal profiling: `--limit-mm-per-prompt` as (modality, limit) pairs (empty: the release's
    # default), `--mm-processor-kwargs`' max_pixels, `--skip-mm-profiling`, `--language-model-only`.
    # `--speculative-config` / `--speculative-model`: the method, its tokens and the resolved drafter.
    speculative: "SpeculativeFacts | None" = None
    mm_limits: tuple[tuple[str, int], ...] = ()
    mm_max_pixels: int | None = None
    # `--mm-processor-kwargs`' max_dynamic_patch: the tiles of InternVL's largest image (None: the config's).
    mm_max_tiles: int | None = None
    skip_mm_profiling: bool = False
    language_model_only: bool = False
    # VLLM_USE_V1 as the server's environment sets it (None: not set): on the releases that still
    # have V0 it picks the engine (releases.engine_choice).
    use_v1: bool | None = None
    # Memory other tenants hold on the same GPU at start-up (several deployments sharing it).
    other_tenants_bytes: int = 0
    # GPU types a fix may move the deployment to (the catalog, from the caller); empty: no GPU fix.
    alternative_gpus: tuple["GpuFacts", ...] = ()
    # Whether hardware.count / hardware.gpu fixes apply (false for pinned device_ids or a detected host).
    hardware_fixes: bool = True
    # False while re-planning a patched request to check a fix (a fix is never checked with fixes).
    propose_fixes: bool = True
    # Several nodes (hardware.nodes): gpu_count is then nodes x gpus_per_node.
    nodes: int = 1
    gpus_per_node: int = 0
    interconnect: str = "nvlink"          # within a node: "nvlink" | "pcie" | "infinity-fabric"
    network: str = "ethernet"             # between nodes: "ethernet" | "infiniband"
    # Whether engine.pipeline_parallel_size / --data-parallel-size were set (else the planner chooses them).
    pipeline_parallel_pinned: bool = False
    data_parallel_pinned: bool = False
    # The pinned release's multi-node flags (from its flag manifest, handed in by the pipeline).
    release_flags: frozenset[str] = frozenset()
