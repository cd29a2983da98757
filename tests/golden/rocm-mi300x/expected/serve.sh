#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:5d24c3d960e334065bb7412cbf5af03a6b95b477210571ef73d75e1fae569fc9
# check-digest: sha256:053af872bf30dd4b2bc8d4c7debca27371e708271e15970b9fcc5e7345fd84b4
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
