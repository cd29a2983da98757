#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../../host-multi.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:4be4ca2d575426e56f6b3e815198df4632f0108476251a6372b22614cd93351d
# check-digest: sha256:f1852f3e6b72719443187a849df3378ea5881e37d58af2116ce82436e82a50b0
set -euo pipefail

: "${VLLM_API_KEY:?set VLLM_API_KEY to the API key clients must send}"

exec docker run \
  --name qwen-32b \
  --detach \
  --restart unless-stopped \
  --gpus '"device=0,1"' \
  --ipc=host \
  -p 8000:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  -e VLLM_API_KEY \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 960s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.33.0 \
  --model Qwen/Qwen2.5-32B-Instruct \
  --tensor-parallel-size 2 \
  --max-model-len 16384 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
