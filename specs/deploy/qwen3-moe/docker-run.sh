#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../qwen3-moe.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:f407e2316b64e3524e09bff9fa88331e9abca4833b87370c27c823163a19147d
# check-digest: sha256:29adf6ce2a2f083e2411b1110f4ef24ea8c89eb6ee381d437e75d75bff7ee63a
set -euo pipefail

# Run again to replace the deployment: the container qwen3-moe is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect qwen3-moe >/dev/null 2>&1; then
  echo 'replacing the existing container qwen3-moe: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 qwen3-moe >/dev/null
  docker rm qwen3-moe >/dev/null
fi

exec docker run \
  --name qwen3-moe \
  --detach \
  --restart unless-stopped \
  --stop-timeout 30 \
  --log-driver json-file \
  --log-opt max-size=100m \
  --log-opt max-file=5 \
  --gpus 2 \
  --ipc=host \
  --ulimit memlock=-1 \
  --ulimit stack=67108864 \
  -p 127.0.0.1:8002:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 900s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.30.0 \
  --model Qwen/Qwen3-30B-A3B \
  --tensor-parallel-size 2 \
  --max-model-len 32768 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
