#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:d1d3db38344a5e00d4af287f7f7e201e205fb7409effa6f064ff88fdfff22f20
# check-digest: sha256:fc3adb1d1e6c7820bdba73a8dad7f6ee24b85f39abb5610f9d9653d7ca4ea1d3
set -euo pipefail

# Run again to replace the deployment: the container qwen is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect qwen >/dev/null 2>&1; then
  echo 'replacing the existing container qwen: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 qwen >/dev/null
  docker rm qwen >/dev/null
fi

exec docker run \
  --name qwen \
  --detach \
  --restart unless-stopped \
  --stop-timeout 30 \
  --log-driver json-file \
  --log-opt max-size=100m \
  --log-opt max-file=5 \
  --gpus '"device=GPU-93c1e6b8-4d2a-7f05-c8e3-a6b0f1d4e927"' \
  --ipc=host \
  --ulimit memlock=-1 \
  --ulimit stack=67108864 \
  -p 127.0.0.1:8101:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 480s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.24.0 \
  --model Qwen/Qwen2.5-7B-Instruct \
  --tensor-parallel-size 1 \
  --max-model-len 32768 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
