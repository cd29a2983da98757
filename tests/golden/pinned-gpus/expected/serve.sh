#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:009cebca9db926a54b1d3e25f77a3349d5143384a0537d87f699a8e18dfab41e
# check-digest: sha256:9ee4d02791491937fdd09cd8abd5a390ed5bf1de4433d7e6486811f7ed4b15a4
set -euo pipefail

export CUDA_VISIBLE_DEVICES=GPU-6f1d2c3a-0b1e-4c2d-9e8f-111111111111,GPU-6f1d2c3a-0b1e-4c2d-9e8f-222222222222
: "${HF_TOKEN:?set HF_TOKEN to a Hugging Face token with access to mistralai/Mistral-7B-Instruct-v0.3}"

exec vllm serve mistralai/Mistral-7B-Instruct-v0.3 \
  --tensor-parallel-size 2 \
  --max-model-len 32768 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048 \
  --host 127.0.0.1 \
  --port 8010
