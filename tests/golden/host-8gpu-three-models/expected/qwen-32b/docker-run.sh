#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:f8a7aa74b98746e8ca33d204a788ce58c0c600382e1cb4bdf8ae80bf000b4b81
# check-digest: sha256:7efa43f8b05ce84d35642f123a9266fe010673ab77d859de460e1646df57a041
set -euo pipefail

exec docker run \
  --name qwen-32b \
  --detach \
  --restart unless-stopped \
  --gpus '"device=4,5"' \
  --ipc=host \
  -p 8001:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 960s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.33.0 \
  --model Qwen/Qwen2.5-32B-Instruct \
  --tensor-parallel-size 2 \
  --max-model-len 32768 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 1024 \
  --max-num-batched-tokens 8192
