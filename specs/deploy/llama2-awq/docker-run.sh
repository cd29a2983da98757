#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../llama2-awq-24gb.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:47cb138a2a8752319117a444ed73f1e3de099dcfa9a90af617cd56ad4e5d53c2
# check-digest: sha256:9016e8265e8146d788539423b6f0ab17abbb2a8d955e9b3d49bf780ed6a75a52
set -euo pipefail

exec docker run \
  --name llama2-awq \
  --detach \
  --restart unless-stopped \
  --gpus 1 \
  --ipc=host \
  -p 8003:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 360s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.27.1 \
  --model twhoool02/Llama-2-7b-chat-hf-AWQ \
  --dtype float16 \
  --tensor-parallel-size 1 \
  --max-model-len 4096 \
  --gpu-memory-utilization 0.92 \
  --kv-cache-dtype fp8 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
