#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:62190904e1ccbe6d6497e52152176830a05517c43c0703e3723e7c2f80cf0e58
# check-digest: sha256:4fd6ff084ab9c1ea7f40b91b834fa8dff8fa7ddc5a529e02a5a40c83e0274366
set -euo pipefail

: "${HF_TOKEN:?set HF_TOKEN to a Hugging Face token with access to meta-llama/Llama-3.1-8B-Instruct}"
# Run again to replace the deployment: the container llama-8b-a is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect llama-8b-a >/dev/null 2>&1; then
  echo 'replacing the existing container llama-8b-a: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 llama-8b-a >/dev/null
  docker rm llama-8b-a >/dev/null
fi

exec docker run \
  --name llama-8b-a \
  --detach \
  --restart unless-stopped \
  --stop-timeout 30 \
  --log-driver json-file \
  --log-opt max-size=100m \
  --log-opt max-file=5 \
  --gpus '"device=6"' \
  --ipc=host \
  --ulimit memlock=-1 \
  --ulimit stack=67108864 \
  -p 127.0.0.1:8002:8000 \
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
