#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../../llama-405b-2x8.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:fb058ea09167a5787485403de4207c5170c58e70e3613fc25cde6e114c1ff2f1
# check-digest: sha256:fa2a5784e2278a62a22332b0a49daa12a88431d56cd818fec09620294bdad74e
set -euo pipefail

# On the head, once node-0.sh ... node-1.sh run: wait until the Ray cluster holds 16 GPUs (2 x 8), then serve.
until docker exec llama-405b-node-0 python3 -c "import ray, sys; ray.init(address='auto', logging_level='ERROR'); sys.exit(0 if ray.cluster_resources().get('GPU', 0) >= 16 else 1)" >/dev/null 2>&1; do echo 'waiting for 16 GPUs in the Ray cluster (port 6379)...'; sleep 10; done

exec docker exec \
  llama-405b-node-0 \
  vllm serve \
  meta-llama/Meta-Llama-3.1-405B \
  --served-model-name llama-405b \
  --tensor-parallel-size 8 \
  --pipeline-parallel-size 2 \
  --max-model-len 32768 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 1024 \
  --max-num-batched-tokens 8192 \
  --distributed-executor-backend ray
