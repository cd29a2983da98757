#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:c7a93bfc9aa1ee133ca7314b4eb34c3207776526ab5bd68351ae2b4758d8e821
# check-digest: sha256:23cb2e3b4315507284ae5e67730d8984b190fcae69b16375575dc7f28532b15f
set -euo pipefail

: "${HF_TOKEN:?set HF_TOKEN to a Hugging Face token with access to meta-llama/Llama-3.1-8B-Instruct}"
# Run again to replace the deployment: the container chat is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect chat >/dev/null 2>&1; then
  echo 'replacing the existing container chat: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 chat >/dev/null
  docker rm chat >/dev/null
fi

exec docker run \
  --name chat \
  --detach \
  --restart unless-stopped \
  --stop-timeout 30 \
  --log-driver json-file \
  --log-opt max-size=100m \
  --log-opt max-file=5 \
  --gpus '"device=GPU-6a3d9e10-2c4f-7b85-d1e0-93a7c5f2b864"' \
  --ipc=host \
  --ulimit memlock=-1 \
  --ulimit stack=67108864 \
  -p 127.0.0.1:8000:8000 \
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
  --max-model-len 8192 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
