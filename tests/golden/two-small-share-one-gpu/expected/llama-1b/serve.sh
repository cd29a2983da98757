#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:738837cad670fd7be899f7d44e06988342f7f55a6ded3c29d89de24972cdf217
# check-digest: sha256:a91c109c1f4409045a834b3dbd48862c7eedae5a220e114e90aef1a6a456e044
set -euo pipefail

export CUDA_VISIBLE_DEVICES=0
: "${HF_TOKEN:?set HF_TOKEN to a Hugging Face token with access to meta-llama/Llama-3.2-1B-Instruct}"
# qwen-1-5b shares a GPU with this deployment: start after it is healthy.
until curl -fsS http://localhost:8000/health >/dev/null 2>&1; do
  echo 'waiting for qwen-1-5b on port 8000...' >&2
  sleep 10
done

exec vllm serve meta-llama/Llama-3.2-1B-Instruct \
  --tensor-parallel-size 1 \
  --max-model-len 16384 \
  --gpu-memory-utilization 0.1 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048 \
  --host 127.0.0.1 \
  --port 8001
