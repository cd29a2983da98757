#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:0104ffb2087a13453b31a08fd5604c6a43a305f85772ce66a09c409dc481c0c0
# check-digest: sha256:265fcd8b54cf10e2b617200d13666497b42eb83d3083b77aa9aee3f57dd4195e
set -euo pipefail

# Run again to replace the deployment: the container qwen32b is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect qwen32b >/dev/null 2>&1; then
  echo 'replacing the existing container qwen32b: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 qwen32b >/dev/null
  docker rm qwen32b >/dev/null
fi

exec docker run \
  --name qwen32b \
  --detach \
  --restart unless-stopped \
  --stop-timeout 30 \
  --log-driver json-file \
  --log-opt max-size=100m \
  --log-opt max-file=5 \
  --gpus 2 \
  --ipc=host \
  --ulimit memlock=-1 \
  --ulimit stack=67108864 \
  -p 127.0.0.1:8020:8000 \
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
