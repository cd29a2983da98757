#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:75843bc5eddc0626dcc6d379dd55676ab70fc29251be042552829639f16e5ced
# check-digest: sha256:d6d32a5cb3315dfa811b8e92269783a813d24a37968663d3963cd13f98f4fb5a
set -euo pipefail

: "${HF_TOKEN:?set HF_TOKEN to a Hugging Face token with access to mistralai/Mistral-7B-Instruct-v0.3}"

exec docker run \
  --name mistral-pinned \
  --detach \
  --restart unless-stopped \
  --gpus '"device=GPU-6f1d2c3a-0b1e-4c2d-9e8f-111111111111,GPU-6f1d2c3a-0b1e-4c2d-9e8f-222222222222"' \
  --ipc=host \
  -p 8010:8000 \
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
