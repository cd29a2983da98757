#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:5058faa0589ad52f761c7ca2430522e3d44e001492647e28a52014a937e7baaa
# check-digest: sha256:d98a41d2cffa86f78f0d4493231fd579d43f9874d436288fba65b65d68ecd845
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
