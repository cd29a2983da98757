"""vllm-compile: a compiler from a small deployment intent to vLLM deployment artifacts."""

__version__ = "0.1.0"
