#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../../host-multi.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:485fb3bacecb4d5572d31412faabf5d3ab95d1ca34ad4950676ed7f75c8e9dd1
# check-digest: sha256:858bcf7a52ace1f5830fdb4dd9fd811ac09ceaa8612d3b6e3684f384b584fdbc
set -euo pipefail

: "${VLLM_API_KEY:?set VLLM_API_KEY to the API key clients must send}"
# Run again to replace the deployment: the container qwen-32b is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect qwen-32b >/dev/null 2>&1; then
  echo 'replacing the existing container qwen-32b: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 qwen-32b >/dev/null
  docker rm qwen-32b >/dev/null
fi

exec docker run \
  --name qwen-32b \
  --detach \
  --restart unless-stopped \
  --stop-timeout 30 \
  --log-driver json-file \
  --log-opt max-size=100m \
  --log-opt max-file=5 \
  --gpus '"device=0,1"' \
  --ipc=host \
  --ulimit memlock=-1 \
  --ulimit stack=67108864 \
  -p 8000:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  -e VLLM_API_KEY \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 960s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.33.0 \
  --model Qwen/Qwen2.5-32B-Instruct \
  --tensor-parallel-size 2 \
  --max-model-len 16384 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
