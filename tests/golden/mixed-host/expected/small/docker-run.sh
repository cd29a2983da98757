#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:acb7e01da33fade626be7b63713d16baaa688db019a2f79e8bf2b86c40fc5342
# check-digest: sha256:71627e51722abb98e6ae05ec9bb2444f9b1b785d3d427366e895466fbbdc7146
set -euo pipefail

exec docker run \
  --name small \
  --detach \
  --restart unless-stopped \
  --gpus '"device=GPU-e8b15f62-9a0d-3c47-f6b2-14d8a7e3c509"' \
  --ipc=host \
  -p 8002:8000 \
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
  --max-model-len 4096 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
