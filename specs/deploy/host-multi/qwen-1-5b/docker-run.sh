#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../../host-multi.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:354dbd6e2dd2301643555a78430af7172551d39d8e45924013f2569ccd66bdca
# check-digest: sha256:21fd5de04699cd37a7bfe87d7ee9670c2dd2a20f7d3eb40f3b921e220ff45d19
set -euo pipefail

# Run again to replace the deployment: the container qwen-1-5b is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect qwen-1-5b >/dev/null 2>&1; then
  echo 'replacing the existing container qwen-1-5b: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 qwen-1-5b >/dev/null
  docker rm qwen-1-5b >/dev/null
fi
# llama-8b shares a GPU with this deployment: start after it is healthy.
until [ "$(docker inspect --format '{{.State.Health.Status}}' llama-8b 2>/dev/null)" = healthy ]; do
  echo 'waiting for llama-8b to be healthy...' >&2
  sleep 10
done

exec docker run \
  --name qwen-1-5b \
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
  -p 127.0.0.1:8002:8000 \
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
  --gpu-memory-utilization 0.13 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
