#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:1bc07cc2c8bf324b3f7c0679ce265adcdf5e08b1829450ae64a026ae69fb8d59
# check-digest: sha256:9dadd4ab1a8271567de065cb8c1973d03fa53fdd7e58f6801a3bc4c8e7684966
set -euo pipefail

: "${HF_TOKEN:?set HF_TOKEN to a Hugging Face token with access to meta-llama/Llama-3.1-8B-Instruct}"
# Run again to replace the deployment: the container llama-8b-b is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect llama-8b-b >/dev/null 2>&1; then
  echo 'replacing the existing container llama-8b-b: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 llama-8b-b >/dev/null
  docker rm llama-8b-b >/dev/null
fi

exec docker run \
  --name llama-8b-b \
  --detach \
  --restart unless-stopped \
  --stop-timeout 30 \
  --log-driver json-file \
  --log-opt max-size=100m \
  --log-opt max-file=5 \
  --gpus '"device=7"' \
  --ipc=host \
  --ulimit memlock=-1 \
  --ulimit stack=67108864 \
  -p 127.0.0.1:8003:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 480s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.33.0 \
  --model meta-llama/Llama-3.1-8B-Instruct \
  --tensor-parallel-size 1 \
  --max-model-len 32768 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 1024 \
  --max-num-batched-tokens 8192
