"""The engine's arguments, read once: `engine.extra_args` of a spec, or a `vllm serve` line.

One frozen object holds the typed values of the flags the planner, lowering and `predict` read,
and every parsed flag with the position of its token (so a diagnostic points at
`engine.extra_args[3]`, or at column 4 of a command line). Built by `vllm_compile.engine_args`.
"""
from __future__ import annotations

from vllm_compile.fastclass import dataclass


@dataclass(frozen=True, slots=True)
class EngineArg:
    """One flag as the release's parser took it."""

    index: int                  # position of the option token in `EngineArgs.tokens`
    option: str                 # the option as matched (`--tensor-parallel-size`, `-tp`)
    dest: str                   # argparse destination (`tensor_parallel_size`)
    value: object               # converted value (bool for switches, list for nargs +/*)
    raw: tuple[str, ...]        # the value texts as given
    action: str = ""


@dataclass(frozen=True, slots=True)
class EngineArgs:
    version: str                                   # the release whose flag manifest was used
    tokens: tuple[str, ...] = ()                   # the argv as given
    args: tuple[EngineArg, ...] = ()
    positionals: tuple[tuple[int, str], ...] = ()
    # Typed values of the flags the planner reads (None / False: not given).
    model: str | None = None
    revision: str | None = None
    tensor_parallel_size: int | None = None
    pipeline_parallel_size: int | None = None
    data_parallel_size: int | None = None
    max_model_len: int | None = None
    max_model_len_auto: bool = False               # `--max-model-len auto` (or -1)
    gpu_memory_utilization: float | None = None
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    block_size: int | None = None
    kv_cache_dtype: str | None = None
    quantization: str | None = None
    dtype: str | None = None
    enforce_eager: bool = False
    enable_expert_parallel: bool = False
    enable_lora: bool = False
    max_loras: int | None = None
    max_lora_rank: int | None = None
    cpu_offload_gb: float | None = None
    kv_cache_memory_bytes: int | None = None
    disable_hybrid_kv_cache_manager: bool = False
    mamba_cache_dtype: str | None = None           # `--mamba-cache-dtype`: conv (and SSM) state dtype
    mamba_ssm_cache_dtype: str | None = None       # `--mamba-ssm-cache-dtype`: SSM state dtype
    mamba_cache_mode: str | None = None            # `--mamba-cache-mode`
    enable_prefix_caching: bool | None = None      # `--enable-prefix-caching` / `--no-enable-prefix-caching`
    speculative_config: object = None
    # `--limit-mm-per-prompt` (JSON, `image=2` pairs or dotted keys) as sorted (modality, count) pairs.
    limit_mm_per_prompt: tuple[tuple[str, int], ...] = ()
    # `--mm-processor-kwargs` keys that size the profile's dummy item: `max_pixels` (Qwen-VL
    # processors) and `max_dynamic_patch` (InternVL's tiles per image).
    mm_max_pixels: int | None = None
    mm_max_tiles: int | None = None

    def find(self, dest: str) -> EngineArg | None:
        """The flag that set `dest` last (what argparse keeps), or None."""
        for arg in reversed(self.args):
            if arg.dest == dest:
                return arg
        return None

    def given(self, dest: str) -> bool:
        return self.find(dest) is not None

    def values(self) -> dict[str, object]:
        """{dest: value} as argparse leaves it: the last occurrence wins; append actions collect."""
        out: dict[str, object] = {}
        for arg in self.args:
            if arg.action == "_AppendAction":
                held = out.setdefault(arg.dest, [])
                if isinstance(held, list):
                    held.append(arg.value)
            else:
                out[arg.dest] = arg.value
        return out
