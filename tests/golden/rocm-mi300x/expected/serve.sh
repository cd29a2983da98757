#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:e974e2d0fdfdc658eec19049ce897f79b97a3f05a1ba7b0313a282118fbd8aa2
# check-digest: sha256:d41c49e4b884514f20e111447643fcbc4e1c9c34183c55120062d36f06fc2475
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
