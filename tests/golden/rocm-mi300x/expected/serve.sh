#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:02e35ab7f56902c64a36dca24b743c864c0f450ae12452267066af6a45c614bd
# check-digest: sha256:3753d2a9287c60267bc65300460d7150cca9565d18c796e4791d384144183cb0
set -euo pipefail

export HIP_VISIBLE_DEVICES=4,5
: "${HF_TOKEN:?set HF_TOKEN to a Hugging Face token with access to meta-llama/Llama-3.1-70B-Instruct}"
: "${VLLM_API_KEY:?set VLLM_API_KEY to the API key clients must send}"

exec vllm serve meta-llama/Llama-3.1-70B-Instruct \
  --tensor-parallel-size 2 \
  --max-model-len 65536 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 1024 \
  --max-num-batched-tokens 8192 \
  --port 8020
