#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:84b9ef2c6ed01ad74233255b54ee741f01400f73e163bd35b6aa2b71eff5c8a0
# check-digest: sha256:a5f4234d2d8ea7f7c67e3daf63a777be8c280d024b7f72ce86951b0573396e36
set -euo pipefail

exec docker run \
  --name qwen-1-5b \
  --detach \
  --restart unless-stopped \
  --gpus '"device=0"' \
  --ipc=host \
  -p 8000:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 360s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.33.0 \
  --model Qwen/Qwen2.5-1.5B-Instruct \
  --tensor-parallel-size 1 \
  --max-model-len 8192 \
  --gpu-memory-utilization 0.11 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
