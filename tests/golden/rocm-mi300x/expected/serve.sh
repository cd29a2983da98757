#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:183468bbebd0a276d67e3bb9e7b35d8940aadddd25a1fa024e2623558fb85433
# check-digest: sha256:08cc6ce79bd078efe49a7b53e6bf1a9c36e4a7c0aaa3f48193a567f797176c94
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
