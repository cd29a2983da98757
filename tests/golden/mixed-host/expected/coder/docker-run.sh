#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:35605d73b313f22dacf8fb0108d0e8c6b471d2d22313d315001bfed4c3fa9d82
# check-digest: sha256:f95a764db82e57aad306c1c2675a5884e9291097ea60c979c8c487bf1ad3316a
set -euo pipefail

exec docker run \
  --name coder \
  --detach \
  --restart unless-stopped \
  --gpus '"device=GPU-1f0c5a2e-8b7d-4e31-a9c6-0d2e7f4b3a91,GPU-c27e4b93-5f18-0a6d-b3e2-8e91d0c47f25"' \
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
  --model Qwen/Qwen2.5-Coder-32B-Instruct \
  --tensor-parallel-size 2 \
  --max-model-len 32768 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 1024 \
  --max-num-batched-tokens 8192
