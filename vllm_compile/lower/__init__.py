"""Stage 4, lower: a planned deployment -> the vLLM argv and container description
(`LoweredDeployment`) for the pinned vLLM release, with every flag checked against that
release's `vllm serve` flag manifest."""
from vllm_compile.lower.container import lower_deployment

__all__ = ["lower_deployment"]
