#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../llama-70b.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:ad81906b1762876e3d02af8cf42f2338260f602d305843fa7d8dd7bcc224f9af
# check-digest: sha256:f94989a23a419a317b3e075491ffb5339e46b4416dbdbc7d62333c72c11eb628
set -euo pipefail

: "${HF_TOKEN:?set HF_TOKEN to a Hugging Face token with access to meta-llama/Llama-3.1-70B-Instruct}"
# Run again to replace the deployment: the container llama-70b is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect llama-70b >/dev/null 2>&1; then
  echo 'replacing the existing container llama-70b: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 llama-70b >/dev/null
  docker rm llama-70b >/dev/null
fi

exec docker run \
  --name llama-70b \
  --detach \
  --restart unless-stopped \
  --stop-timeout 30 \
  --log-driver json-file \
  --log-opt max-size=100m \
  --log-opt max-file=5 \
  --gpus 4 \
  --ipc=host \
  --ulimit memlock=-1 \
  --ulimit stack=67108864 \
  -p 127.0.0.1:8001:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 1620s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.33.0 \
  --model meta-llama/Llama-3.1-70B-Instruct \
  --served-model-name llama-70b \
  --tensor-parallel-size 4 \
  --max-model-len 131072 \
  --gpu-memory-utilization 0.92 \
  --kv-cache-dtype fp8 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048
