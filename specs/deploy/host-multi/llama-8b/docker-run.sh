#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../../host-multi.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:43e42b27431b4787a2f394cae11600037ca90d63605ce227b2fdf56b32bdc1d6
# check-digest: sha256:a63d75839da82d419689f3320d7e40c76cecaf76e6e2aabd1967c5ac03d320ca
set -euo pipefail

: "${HF_TOKEN:?set HF_TOKEN to a Hugging Face token with access to meta-llama/Llama-3.1-8B-Instruct}"
: "${VLLM_API_KEY:?set VLLM_API_KEY to the API key clients must send}"

exec docker run \
  --name llama-8b \
  --detach \
  --restart unless-stopped \
  --gpus '"device=2"' \
  --ipc=host \
  -p 8001:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  -e VLLM_API_KEY \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 480s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.33.0 \
  --model meta-llama/Llama-3.1-8B-Instruct \
  --served-model-name llama \
  --tensor-parallel-size 1 \
  --max-model-len 16384 \
  --gpu-memory-utilization 0.56 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
