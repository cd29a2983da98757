#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../llama-70b.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:ff353fa0e4fa4ebe86d4cd776bc3b9fa486c333c58357c9ae900eaa23342c9ea
# check-digest: sha256:18ec8028c2b06f22b55d97b8316d371beb7b1da4e043ca9f53aec3345866fb34
set -euo pipefail

: "${HF_TOKEN:?set HF_TOKEN to a Hugging Face token with access to meta-llama/Llama-3.1-70B-Instruct}"

exec docker run \
  --name llama-70b \
  --detach \
  --restart unless-stopped \
  --gpus 4 \
  --ipc=host \
  -p 8001:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 1620s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.33.0 \
  --model meta-llama/Llama-3.1-70B-Instruct \
  --served-model-name llama-70b \
  --tensor-parallel-size 4 \
  --max-model-len 131072 \
  --gpu-memory-utilization 0.92 \
  --kv-cache-dtype fp8 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
