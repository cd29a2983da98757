#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:80432574e8d3eea40dbd4ad4e7d72fb6ffea3f32c855786368b86d4916a1826e
# check-digest: sha256:f1284f9813beddcae382c4f00285a7d6059e332538b79a22e0408d285790f0c7
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
