#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:f02ce35dcf6fbf1214c27991cb7ecfa7c832bf178e96ff4d80a8a23cb045f70d
# check-digest: sha256:79a2210d477522c9e85fb4a75c2ffc84e962426330db1e07de1f1929280dea23
set -euo pipefail

exec docker run \
  --name qwen \
  --detach \
  --restart unless-stopped \
  --gpus '"device=GPU-93c1e6b8-4d2a-7f05-c8e3-a6b0f1d4e927"' \
  --ipc=host \
  -p 8101:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 480s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.24.0 \
  --model Qwen/Qwen2.5-7B-Instruct \
  --tensor-parallel-size 1 \
  --max-model-len 32768 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
