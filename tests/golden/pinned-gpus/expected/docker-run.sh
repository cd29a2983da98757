#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:793f65f2077fa3eae87fbbfca7e3434f0285e0d7529d973369d179becdb6b84b
# check-digest: sha256:d574021213935ac6ed75e71dbfca6cfa87120458b88887637dd76e6b87ed0601
set -euo pipefail

: "${HF_TOKEN:?set HF_TOKEN to a Hugging Face token with access to mistralai/Mistral-7B-Instruct-v0.3}"
# Run again to replace the deployment: the container mistral-pinned is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect mistral-pinned >/dev/null 2>&1; then
  echo 'replacing the existing container mistral-pinned: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 mistral-pinned >/dev/null
  docker rm mistral-pinned >/dev/null
fi

exec docker run \
  --name mistral-pinned \
  --detach \
  --restart unless-stopped \
  --stop-timeout 30 \
  --log-driver json-file \
  --log-opt max-size=100m \
  --log-opt max-file=5 \
  --gpus '"device=GPU-6f1d2c3a-0b1e-4c2d-9e8f-111111111111,GPU-6f1d2c3a-0b1e-4c2d-9e8f-222222222222"' \
  --ipc=host \
  --ulimit memlock=-1 \
  --ulimit stack=67108864 \
  -p 127.0.0.1:8010:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 480s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.24.0 \
  --model mistralai/Mistral-7B-Instruct-v0.3 \
  --tensor-parallel-size 2 \
  --max-model-len 32768 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
