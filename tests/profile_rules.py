"""Release rules for testing the multimodal profile run one rule at a time."""
from __future__ import annotations

import dataclasses

from vllm_compile.plan.releases import ReleaseRules, rules_for


def profile_rules(era: str = "v1c", **changes) -> ReleaseRules:
    """A release's rules with every multimodal profile rule neutral (images counted by cdiv, no
    video rule, no float32 rotary, no padded cache), then `changes` (ReleaseRules fields), as
    overheads.encoder_profile reads them."""
    neutral = dict(era=era, video_frames_from_context=False, vision_qk_fp32_rotary=False,
                   vision_qk_concat_rotary=False, video_dummy_len="model_len", video_max_frames=14,
                   mm_items_floor=False, qwen3_video_rule="", qwen3_video_token_factor=1.0,
                   mm_cache_pads_to_budget=False, video_room_by_limits=False)
    return dataclasses.replace(rules_for("0.21.0"), **{**neutral, **changes})
