#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../deepseek-v32.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:f278bf605b1cc929ce174572b50beeaccef2efd8d8975820289a4146e466e8f2
# check-digest: sha256:c2728efa19919960003f61cebd25b2f2170b4b2f092f74c8ab488e3fe85c50e0
set -euo pipefail

# Run again to replace the deployment: the container deepseek-v32 is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect deepseek-v32 >/dev/null 2>&1; then
  echo 'replacing the existing container deepseek-v32: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 deepseek-v32 >/dev/null
  docker rm deepseek-v32 >/dev/null
fi

exec docker run \
  --name deepseek-v32 \
  --detach \
  --restart unless-stopped \
  --stop-timeout 30 \
  --log-driver json-file \
  --log-opt max-size=100m \
  --log-opt max-file=5 \
  --gpus 8 \
  --ipc=host \
  --ulimit memlock=-1 \
  --ulimit stack=67108864 \
  -p 127.0.0.1:8002:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 6600s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.33.0 \
  --model deepseek-ai/DeepSeek-V3.2 \
  --tensor-parallel-size 8 \
  --max-model-len 163840 \
  --gpu-memory-utilization 0.92 \
  --kv-cache-dtype fp8 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 8192 \
  --tokenizer-mode deepseek_v32
