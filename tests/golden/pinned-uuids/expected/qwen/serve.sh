#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:6f1daf1faccbf7f5d150a50980763f0648d4464af93f2af3c1f678e637b42a38
# check-digest: sha256:a8e6720b5c1266e677be8d8b3a0bc4df9d9f33e75b794d3e99297e1b54bdd0fe
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
