#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../llama2-awq-24gb.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:fd121fa75e68e5d45a36b26c1cafefef444b60e0edb221d0474ae2b4070e1f68
# check-digest: sha256:0176be5fd0fba87cef46f8aa116a9d82345104a6a9eb4fe7d7e2213e3ac57fb6
set -euo pipefail

# Run again to replace the deployment: the container llama2-awq is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect llama2-awq >/dev/null 2>&1; then
  echo 'replacing the existing container llama2-awq: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 llama2-awq >/dev/null
  docker rm llama2-awq >/dev/null
fi

exec docker run \
  --name llama2-awq \
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
  -p 127.0.0.1:8003:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 360s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.27.1 \
  --model twhoool02/Llama-2-7b-chat-hf-AWQ \
  --dtype float16 \
  --tensor-parallel-size 1 \
  --max-model-len 4096 \
  --gpu-memory-utilization 0.92 \
  --kv-cache-dtype fp8 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
