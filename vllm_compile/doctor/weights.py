"""Check 9: a local `model.path` holds the weights, not only config.json.

vLLM loads a folder's `*.safetensors` (the shards `model.safetensors.index.json` lists, when
there is one), else its PyTorch `*.bin` files. A folder missing shards, or with a download cut
short, starts loading and fails minutes later; the files' total size against the planner's
weight bytes catches both before the deployment starts.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from vllm_compile.doctor.base import Context, Deploy, Finding, Status, combine, gib

SAFETENSORS_INDEX = "model.safetensors.index.json"
PYTORCH_INDEX = "pytorch_model.bin.index.json"
# Files hold the tensors plus small headers (and, sharded, a few duplicated ones): a total more
# than this fraction off the planner's weight bytes is not the checkpoint it planned for.
TOLERANCE = 0.05


def expected_file_bytes(dep: Deploy) -> int:
    """The checkpoint's size on disk: the planner's weight bytes are as vLLM loads them, so a
    float32 checkpoint loaded as 16-bit weights is twice their size on disk."""
    stored = 4 if dep.model.dtype == "float32" else 2
    loaded = 4 if dep.plan.dtype == "float32" else 2
    if dep.model.quantization is not None:
        return dep.model.weight_bytes
    return dep.model.weight_bytes * stored // loaded


def weight_files(folder: Path) -> tuple[list[Path], list[str], str]:
    """(the weight files vLLM would load, the files an index lists that are missing, what they are)."""
    for index_name, pattern, kind in ((SAFETENSORS_INDEX, "*.safetensors", "safetensors"),
                                      (PYTORCH_INDEX, "*.bin", "PyTorch .bin")):
        index = folder / index_name
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map") or {}
            except (OSError, ValueError, AttributeError):
                weight_map = {}
            names = sorted({str(name) for name in weight_map.values()})
            if names:
                present = [folder / n for n in names if (folder / n).is_file()]
                missing = [n for n in names if not (folder / n).is_file()]
                return present, missing, f"{kind} shards listed in {index_name}"
        files = sorted(p for p in folder.glob(pattern) if p.is_file())
        if files:
            return files, [], f"{kind} files"
    return [], [], ""


def _part(dep: Deploy) -> tuple[Status, str, str]:
    assert dep.model_dir is not None
    folder, shown = Path(dep.model_dir), dep.spec.model.path
    where = f" ({dep.name})"
    if not folder.is_dir():
        return "fail", f"{shown} is not a folder{where}", "point model.path at the model's folder"
    files, missing, kind = weight_files(folder)
    if missing:
        listed = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        return "fail", f"{shown} lacks {len(missing)} of the {kind}: {listed}{where}", (
            "finish the download (e.g. `hf download <repo> --local-dir <folder>`) or copy the missing shards")
    if not files:
        return "fail", f"{shown} holds no weights (no *.safetensors or *.bin files), only config{where}", (
            "download the checkpoint's weight files into the folder, not only its config.json")
    total = sum(os.path.getsize(p) for p in files)
    expected = expected_file_bytes(dep)
    text = f"{shown} holds {len(files)} {kind}, {gib(total)}; the plan counts {gib(expected)} of weights{where}"
    if total < expected * (1 - TOLERANCE):
        return "fail", f"{text}: {gib(expected - total)} missing", (
            "a download was cut short or shards are missing: download the checkpoint again")
    if total > expected * (1 + TOLERANCE) and not dep.model.multimodal:
        return "warn", f"{text}: {gib(total - expected)} more than planned", (
            "check that the folder holds the checkpoint the spec names (model.quantization, model.dtype) and no "
            "second copy of the weights (e.g. consolidated.safetensors beside the shards)")
    return "ok", text, ""


def check_model_files(ctx: Context) -> Finding | None:
    """9. Each local model folder holds the weights the plan counts (deployments served by repo id
    download theirs: check 7 covers their disk)."""
    local = [d for d in ctx.deployments if d.model_dir is not None]
    if not local:
        return None
    return combine("model-files", [_part(d) for d in local])
