#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../../host-multi.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:8d3bf06a47f5c58bb70a2a974867425160e0342b9b74c04c5db98e1103934d58
# check-digest: sha256:f550bb3f4785dc1b69fa56bd23f3e21baa108e3606cea95e7930be847fe0ced3
set -euo pipefail

: "${HF_TOKEN:?set HF_TOKEN to a Hugging Face token with access to meta-llama/Llama-3.1-8B-Instruct}"
: "${VLLM_API_KEY:?set VLLM_API_KEY to the API key clients must send}"
# Run again to replace the deployment: the container llama-8b is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect llama-8b >/dev/null 2>&1; then
  echo 'replacing the existing container llama-8b: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 llama-8b >/dev/null
  docker rm llama-8b >/dev/null
fi

exec docker run \
  --name llama-8b \
  --detach \
  --restart unless-stopped \
  --stop-timeout 30 \
  --log-driver json-file \
  --log-opt max-size=100m \
  --log-opt max-file=5 \
  --gpus '"device=2"' \
  --ipc=host \
  --ulimit memlock=-1 \
  --ulimit stack=67108864 \
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
