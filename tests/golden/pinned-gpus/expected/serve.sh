#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:793f65f2077fa3eae87fbbfca7e3434f0285e0d7529d973369d179becdb6b84b
# check-digest: sha256:464e5a042b22c29c72931a71501ff976cb78effd8a4cc398c0b8aaea016a5837
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
