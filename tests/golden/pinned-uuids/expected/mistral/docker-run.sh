#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:00818234bd37905671bd7256de32c27cd04c6c4de983500e2580ac6b01b6a443
# check-digest: sha256:0608b32e9e5c5bb7e331aaaea7bcbed675a66a13bc4d0629d21ce0825587bd99
set -euo pipefail

: "${HF_TOKEN:?set HF_TOKEN to a Hugging Face token with access to mistralai/Mistral-7B-Instruct-v0.3}"
# Run again to replace the deployment: the container mistral is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect mistral >/dev/null 2>&1; then
  echo 'replacing the existing container mistral: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 mistral >/dev/null
  docker rm mistral >/dev/null
fi

exec docker run \
  --name mistral \
  --detach \
  --restart unless-stopped \
  --stop-timeout 30 \
  --log-driver json-file \
  --log-opt max-size=100m \
  --log-opt max-file=5 \
  --gpus '"device=GPU-4b9e2f7a-31c6-8d05-e2a1-7f60c9d3b418"' \
  --ipc=host \
  --ulimit memlock=-1 \
  --ulimit stack=67108864 \
  -p 127.0.0.1:8100:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 480s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.24.0 \
  --model mistralai/Mistral-7B-Instruct-v0.3 \
  --tensor-parallel-size 1 \
  --max-model-len 16384 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
