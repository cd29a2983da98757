#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:673d69735ceedbfb046932861c0099a01e3ab1fc9f9ca913df3b73dcee220ef0
# check-digest: sha256:b6a92681f0643d18dd39232c6a0676c2ba4d24110adc656218f10fcbb56bbcef
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
