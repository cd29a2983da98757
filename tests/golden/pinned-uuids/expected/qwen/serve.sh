#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:d1d3db38344a5e00d4af287f7f7e201e205fb7409effa6f064ff88fdfff22f20
# check-digest: sha256:f208dd6af4bc87db6e90302c65fb48c0f9b8702df657d451d07d6e2c7c5a2fe8
set -euo pipefail

export CUDA_VISIBLE_DEVICES=GPU-93c1e6b8-4d2a-7f05-c8e3-a6b0f1d4e927

exec vllm serve Qwen/Qwen2.5-7B-Instruct \
  --tensor-parallel-size 1 \
  --max-model-len 32768 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048 \
  --host 127.0.0.1 \
  --port 8101
