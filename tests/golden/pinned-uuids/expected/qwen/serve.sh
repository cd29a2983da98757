#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:26acc2a585e3783d76bf718575e4d19121172bb2cf8a9fc3ce30a03c1151e76e
# check-digest: sha256:c5982a2c8353ac6faf76f0c95f70ee05040a29c8f6f61b3de5fd19046df5582e
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
