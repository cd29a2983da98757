#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:364970c5032ed7186042b560b14e452b02f39140f23479cf8c445e0dd9e75c87
# check-digest: sha256:254417a07bd5d75f0b4b8c58e9032d790f21931d342f0787f9cc5f4c69167052
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
