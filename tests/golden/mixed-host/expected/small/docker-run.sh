#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:cf08ac4dc3b5b410a9d682e45f936b6da0a1f4974a46691cd8df0af87ebea422
# check-digest: sha256:cc35b98bbcf6736f03d92f3e7419446a2bf14207511e6046771ac2cc5d023310
set -euo pipefail

# Run again to replace the deployment: the container small is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect small >/dev/null 2>&1; then
  echo 'replacing the existing container small: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 small >/dev/null
  docker rm small >/dev/null
fi

exec docker run \
  --name small \
  --detach \
  --restart unless-stopped \
  --stop-timeout 30 \
  --log-driver json-file \
  --log-opt max-size=100m \
  --log-opt max-file=5 \
  --gpus '"device=GPU-e8b15f62-9a0d-3c47-f6b2-14d8a7e3c509"' \
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
  --max-model-len 4096 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
