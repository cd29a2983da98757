#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../../host-multi.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:56518760dff60ffa5ff2714a0f8beee61ccaba912e35928bdf990b4cebfee772
# check-digest: sha256:45adb9670d0479f423cd354a04b709106379d0d5b81bfabe26db98d4ae6e92b2
set -euo pipefail

# qwen-1-5b shares a GPU with this deployment: start after it is healthy.
until [ "$(docker inspect --format '{{.State.Health.Status}}' qwen-1-5b 2>/dev/null)" = healthy ]; do
  echo 'waiting for qwen-1-5b to be healthy...' >&2
  sleep 10
done

exec docker run \
  --name qwen3-0-6b \
  --detach \
  --restart unless-stopped \
  --gpus '"device=2"' \
  --ipc=host \
  -p 8003:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 360s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.33.0 \
  --model Qwen/Qwen3-0.6B \
  --tensor-parallel-size 1 \
  --max-model-len 8192 \
  --gpu-memory-utilization 0.22 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
