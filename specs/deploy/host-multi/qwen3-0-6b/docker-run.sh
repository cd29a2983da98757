#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../../host-multi.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:59d5070a22826937374338cead57a7ad0ca31e60d136a394cc574bb9459d26dc
# check-digest: sha256:c4eda30e18753a9afc49444919380aab2671fbdbbf5e140e76417cd48549d4dc
set -euo pipefail

# Run again to replace the deployment: the container qwen3-0-6b is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect qwen3-0-6b >/dev/null 2>&1; then
  echo 'replacing the existing container qwen3-0-6b: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 qwen3-0-6b >/dev/null
  docker rm qwen3-0-6b >/dev/null
fi
# qwen-1-5b shares a GPU with this deployment: start after it is healthy.
until [ "$(docker inspect --format '{{.State.Health.Status}}' qwen-1-5b 2>/dev/null)" = healthy ]; do
  echo 'waiting for qwen-1-5b to be healthy...' >&2
  sleep 10
done

exec docker run \
  --name qwen3-0-6b \
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
  -p 127.0.0.1:8003:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 360s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.33.0 \
  --model Qwen/Qwen3-0.6B \
  --tensor-parallel-size 1 \
  --max-model-len 8192 \
  --gpu-memory-utilization 0.22 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
