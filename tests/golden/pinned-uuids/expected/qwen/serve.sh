#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:d7d3df137c4aad70115162c4636f787abab3dee32ad4c467b7c4fcf4fdf5fb24
# check-digest: sha256:32295177aab6d47162320f59853aab48abdb6e6514487b75cbf5ef9c0d1d917e
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
