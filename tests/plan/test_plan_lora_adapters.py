"""Served LoRA adapters in the planner: a slot per adapter, the largest rank rounded up to one
the release accepts, and what vLLM would refuse."""
from __future__ import annotations

import dataclasses

import pytest
from plan_support import LLAMA_8B, facts, gpu

from vllm_compile.diagnostics import SourceMap
from vllm_compile.flags import load_manifest, versions
from vllm_compile.ir.facts import LoraAdapterFacts
from vllm_compile.ir.spec import Deployment, DeploymentSpec
from vllm_compile.plan import plan_deployment
from vllm_compile.plan.assign import lora_problems, request_for
from vllm_compile.plan.releases import lora_rank_for, lora_ranks
from vllm_compile.plan.weights import lora_slot_bytes

SRC = SourceMap("s.yaml", {"model.lora_adapters[1]": (8, 7), "engine.extra_args[0]": (12, 5)})


def with_adapters(*ranks):
    return dataclasses.replace(facts(LLAMA_8B), lora_adapters=tuple(
        LoraAdapterFacts(f"a{i}", r, f"path:a{i}") for i, r in enumerate(ranks)))


def dep(version="0.33.0", extra=(), adapters=2):
    return DeploymentSpec.model_validate({
        "name": "x", "model": {"id": LLAMA_8B, "lora_adapters": [{"name": f"a{i}", "path": f"a{i}"}
                                                               for i in range(adapters)]},
        "engine": {"version": version, "extra_args": list(extra)}})


@pytest.mark.parametrize("version", versions())
def test_rank_table_matches_the_releases_own_choices(version):
    """Where a release's parser carries the choices, the table says the same."""
    choices = load_manifest(version).flags["--max-lora-rank"]["choices"]
    if choices is not None:
        assert lora_ranks(version) == tuple(choices)
    else:   # checked in LoRAConfig.__post_init__ instead (no rank 1)
        assert lora_ranks(version) == (8, 16, 32, 64, 128, 256, 320, 512)


@pytest.mark.parametrize("version, rank, rounded", [
    ("0.33.0", 24, 32), ("0.33.0", 1, 1), ("0.33.0", 300, 320), ("0.33.0", 512, 512), ("0.33.0", 513, None),
    ("0.9.2", 1, 8), ("0.9.2", 16, 16)])
def test_rank_rounded_up_to_an_accepted_one(version, rank, rounded):
    assert lora_rank_for(version, rank) == rounded


def test_a_slot_per_adapter_and_the_largest_rank():
    req = request_for(dep(), with_adapters(8, 24), gpu("H100-80GB"), 1)
    assert (req.max_loras, req.max_lora_rank) == (2, 32)
    # --max-loras / --max-lora-rank in extra_args win
    req = request_for(dep(extra=("--max-loras", "4", "--max-lora-rank=64")), with_adapters(8, 24), gpu("H100-80GB"), 1)
    assert (req.max_loras, req.max_lora_rank) == (4, 64)


def test_the_plan_counts_the_adapter_slots_in_the_weights():
    h100 = gpu("H100-80GB")
    base = plan_deployment(request_for(dep(adapters=0), facts(LLAMA_8B), h100, 1))
    served = plan_deployment(request_for(dep(), with_adapters(8, 24), h100, 1))
    extra = lora_slot_bytes(facts(LLAMA_8B), 1, 1, 2, 32, 2)
    assert served.per_gpu.weights_bytes - base.per_gpu.weights_bytes == extra > 0
    assert (served.max_loras, served.max_lora_rank) == (2, 32) and (base.max_loras, base.max_lora_rank) == (0, 0)


def test_a_rank_above_every_accepted_one_is_refused_with_vllms_list():
    [d] = lora_problems(SRC, Deployment("", dep()), with_adapters(8, 640))
    assert (d.key, d.line) == ("model.lora_adapters[1]", 8)
    assert "rank 640" in d.message and "must be one of 1, 8, 16, 32, 64, 128, 256, 320, 512" in d.message


def test_a_max_lora_rank_below_an_adapter_is_refused():
    [d] = lora_problems(SRC, Deployment("", dep(extra=("--max-lora-rank", "16"))), with_adapters(8, 24))
    assert (d.key, d.line) == ("engine.extra_args[0]", 12) and "below the rank 24" in d.message
    assert lora_problems(SRC, Deployment("", dep(extra=("--max-lora-rank", "32"))), with_adapters(8, 24)) == []


@pytest.mark.parametrize("version, value, refused", [("0.9.2", "24", True), ("0.9.2", "1", True),
                                                     ("0.9.2", "32", False), ("0.33.0", "1", False)])
def test_an_extra_max_lora_rank_the_release_refuses(version, value, refused):
    """Old releases check the rank only at start-up (their parser has no choices): refused here."""
    problems = lora_problems(SRC, Deployment("", dep(version=version, extra=("--enable-lora", f"--max-lora-rank={value}"),
                                                    adapters=0)), facts(LLAMA_8B))
    if refused:
        [d] = problems
        assert d.key == "engine.extra_args[1]"
        assert f"refuses --max-lora-rank {value}" in d.message and "one of 8, 16, 32, 64, 128, 256, 320, 512" in d.message
    else:
        assert problems == []


def test_plan_says_what_it_chose_for_the_adapters_and_why():
    h100 = gpu("H100-80GB")
    served = plan_deployment(request_for(dep(), with_adapters(8, 24), h100, 1))
    choices = {c.knob: c for c in served.choices}
    slots = lora_slot_bytes(facts(LLAMA_8B), 1, 1, 2, 32, 2)
    assert (choices["max_loras"].value, choices["max_loras"].pinned) == (2, False)
    assert choices["max_loras"].reason == (f"one slot per LoRA adapter (2); the slots add {slots / (1 << 30):.2f} GiB "
                                           "to each GPU's weights")
    assert choices["max_lora_rank"].value == 32
    assert "largest adapter rank (24), rounded up to one vLLM 0.33.0 accepts" in choices["max_lora_rank"].reason
    given = plan_deployment(request_for(dep(extra=("--max-loras", "3")), with_adapters(8, 24), h100, 1))
    assert {c.knob: (c.value, c.pinned) for c in given.choices}["max_loras"] == (3, True)
    plain = plan_deployment(request_for(dep(adapters=0), facts(LLAMA_8B), h100, 1))
    assert not {"max_loras", "max_lora_rank"} & {c.knob for c in plain.choices}
