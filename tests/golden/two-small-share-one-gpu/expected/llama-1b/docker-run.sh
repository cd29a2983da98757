#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:673d69735ceedbfb046932861c0099a01e3ab1fc9f9ca913df3b73dcee220ef0
# check-digest: sha256:98f63fcfb3324d91ce4e3ce358624c8ab05a23b5f84edcac7499b4fa63f4e0c7
set -euo pipefail

: "${HF_TOKEN:?set HF_TOKEN to a Hugging Face token with access to meta-llama/Llama-3.2-1B-Instruct}"
# Run again to replace the deployment: the container llama-1b is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect llama-1b >/dev/null 2>&1; then
  echo 'replacing the existing container llama-1b: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 llama-1b >/dev/null
  docker rm llama-1b >/dev/null
fi
# qwen-1-5b shares a GPU with this deployment: start after it is healthy.
until [ "$(docker inspect --format '{{.State.Health.Status}}' qwen-1-5b 2>/dev/null)" = healthy ]; do
  echo 'waiting for qwen-1-5b to be healthy...' >&2
  sleep 10
done

exec docker run \
  --name llama-1b \
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
  -p 127.0.0.1:8001:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 360s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.33.0 \
  --model meta-llama/Llama-3.2-1B-Instruct \
  --tensor-parallel-size 1 \
  --max-model-len 16384 \
  --gpu-memory-utilization 0.1 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
