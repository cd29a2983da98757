#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:740212f1b889cb596ed38d0367edcb315fb7de3f412416a4be922e6f5e5e2fc3
# check-digest: sha256:195c7e9a37649553a0f4621fa733005bb2e43630e7cad55b3f73d79a1ff58b5b
set -euo pipefail

# Run again to replace the deployment: the container qwen-1-5b is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect qwen-1-5b >/dev/null 2>&1; then
  echo 'replacing the existing container qwen-1-5b: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 qwen-1-5b >/dev/null
  docker rm qwen-1-5b >/dev/null
fi

exec docker run \
  --name qwen-1-5b \
  --detach \
  --restart unless-stopped \
  --stop-timeout 30 \
  --log-driver json-file \
  --log-opt max-size=100m \
  --log-opt max-file=5 \
  --gpus '"device=0"' \
  --ipc=host \
  --ulimit memlock=-1 \
  --ulimit stack=67108864 \
  -p 127.0.0.1:8000:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 360s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.33.0 \
  --model Qwen/Qwen2.5-1.5B-Instruct \
  --tensor-parallel-size 1 \
  --max-model-len 8192 \
  --gpu-memory-utilization 0.11 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
