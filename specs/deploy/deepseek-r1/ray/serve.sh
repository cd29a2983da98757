#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../../deepseek-r1-2x8.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:8b884abb321626a5766351271608133c6ba42214b0f6e2468a764344ab11fbd5
# check-digest: sha256:ca96e518d046e6375f477f42eaab20a8c2f7d7ae2d317b3d1a632627eebc45f5
set -euo pipefail

# On the head, once node-0.sh ... node-1.sh run: wait until the Ray cluster holds 16 GPUs (2 x 8), then serve.
until docker exec deepseek-r1-node-0 python3 -c "import ray, sys; ray.init(address='auto', logging_level='ERROR'); sys.exit(0 if ray.cluster_resources().get('GPU', 0) >= 16 else 1)" >/dev/null 2>&1; do echo 'waiting for 16 GPUs in the Ray cluster (port 6379)...'; sleep 10; done

exec docker exec \
  deepseek-r1-node-0 \
  vllm serve \
  deepseek-ai/DeepSeek-R1 \
  --trust-remote-code \
  --tensor-parallel-size 8 \
  --data-parallel-size 2 \
  --enable-expert-parallel \
  --max-model-len 16384 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 1024 \
  --max-num-batched-tokens 8192 \
  --data-parallel-size-local 1 \
  --data-parallel-backend ray \
  --host 127.0.0.1
