#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../qwen3-moe.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:92b8d2ebd6a75faa917473f0520d896a45ce87809c0b010242563de71784c52c
# check-digest: sha256:6b7c59c54809f8ff912cee369f91a1e2bfadbc400be3d0cbf41fbf1010e08392
set -euo pipefail

exec docker run \
  --name qwen3-moe \
  --detach \
  --restart unless-stopped \
  --gpus 2 \
  --ipc=host \
  -p 8002:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 900s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.30.0 \
  --model Qwen/Qwen3-30B-A3B \
  --tensor-parallel-size 2 \
  --max-model-len 32768 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
