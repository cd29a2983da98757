#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:6cc1581f08bd43581c32b20e38ff241e05cad100aa08c3dae4b6b1838ff08cb7
# check-digest: sha256:76771b5bb0f535937bda8fb4a657b9b66e6c1ee84efdbcec64529da9af17c36b
set -euo pipefail

# Run again to replace the deployment: the container qwen-32b is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect qwen-32b >/dev/null 2>&1; then
  echo 'replacing the existing container qwen-32b: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 qwen-32b >/dev/null
  docker rm qwen-32b >/dev/null
fi

exec docker run \
  --name qwen-32b \
  --detach \
  --restart unless-stopped \
  --stop-timeout 30 \
  --log-driver json-file \
  --log-opt max-size=100m \
  --log-opt max-file=5 \
  --gpus '"device=4,5"' \
  --ipc=host \
  --ulimit memlock=-1 \
  --ulimit stack=67108864 \
  -p 127.0.0.1:8001:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 960s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai:v0.33.0 \
  --model Qwen/Qwen2.5-32B-Instruct \
  --tensor-parallel-size 2 \
  --max-model-len 32768 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 1024 \
  --max-num-batched-tokens 8192
