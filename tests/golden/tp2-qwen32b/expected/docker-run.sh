#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:d7003324e6ff5a8a6c94cd150e2ee74256b4edc4150ac2b92fe0b98250f82563
# check-digest: sha256:09f1cbcf48874455476bfdcd58d33e8da7291edf75a5e46b41388acfedc6cccc
set -euo pipefail

exec docker run \
  --name qwen32b \
  --detach \
  --restart unless-stopped \
  --gpus 2 \
  --ipc=host \
  -p 8020:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 960s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.21.0 \
  --model Qwen/Qwen2.5-32B-Instruct \
  --tensor-parallel-size 2 \
  --max-model-len 16384 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 256 \
  --max-num-batched-tokens 2048 \
  --enable-prefix-caching \
  --disable-log-stats
