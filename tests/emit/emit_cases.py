"""Lowered deployments the emit tests render (built through the real lower stage)."""
import lower_builders as b


def _cases():
    return {
        "basic": b.lowered(),
        "pinned-tp2": b.lowered(
            dep=b.deployment(server={"api_key_env": "LLAMA_KEY", "hf_token_env": "MY_HF", "port": 9001},
                             output={"formats": ["compose", "docker-run", "serve"]}),
            the_plan=b.plan(tensor_parallel_size=2), hardware_spec={"count": 2, "device_ids": ["0", "1"]}),
        "local-dollar": b.lowered(
            dep=b.deployment(model={"path": "./models/my llama", "served_model_name": "it's $cheap"},
                             engine={"extra_args": ["--override-generation-config", '{"stop": ["$END", "`x`"]}']}),
            facts=b.llama_facts(gated=False)),
        "tp4-old-release": b.lowered(
            dep=b.deployment(engine={"version": "0.8.5.post1", "kv_cache_dtype": "fp8"}),
            the_plan=b.plan(vllm_version="0.8.5.post1", tensor_parallel_size=4, kv_cache_dtype="fp8",
                            dtype="float16")),
    }


CASES = _cases()
