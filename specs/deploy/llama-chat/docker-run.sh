#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../llama.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:4b2d5f1471d1fa7bc3eeae4ea94b693a70a3d922285d4400e433dde5154da1ff
# check-digest: sha256:d8c9105857e46d9cd8b2edd4f8a09f9da5c881f53a651a0df8858d8ad3b55d26
set -euo pipefail

: "${HF_TOKEN:?set HF_TOKEN to a Hugging Face token with access to meta-llama/Llama-3.1-8B-Instruct}"
: "${VLLM_API_KEY:?set VLLM_API_KEY to the API key clients must send}"
# Run again to replace the deployment: the container llama-chat is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect llama-chat >/dev/null 2>&1; then
  echo 'replacing the existing container llama-chat: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 llama-chat >/dev/null
  docker rm llama-chat >/dev/null
fi

exec docker run \
  --name llama-chat \
  --detach \
  --restart unless-stopped \
  --stop-timeout 30 \
  --log-driver json-file \
  --log-opt max-size=100m \
  --log-opt max-file=5 \
  --gpus 1 \
  --ipc=host \
  --ulimit memlock=-1 \
  --ulimit stack=67108864 \
  -p 8000:8000 \
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
  --max-model-len 32768 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 1024 \
  --max-num-batched-tokens 8192
