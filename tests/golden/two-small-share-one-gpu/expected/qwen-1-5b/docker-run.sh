#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:382b47fad41069a59cc3820d83cdc28cded5437c6ea04c76c44a60c393af6068
# check-digest: sha256:431578618a772d8a9bf47de5442a1be04534c3a15f15f411084239de7685537f
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
