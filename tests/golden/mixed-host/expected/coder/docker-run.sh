#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:a2a93b1b880bede8a385d159a98cd39e2833beb6fa70e55d019295b44ddb3c07
# check-digest: sha256:6e3df643a8de421fe84ed6d8732f05d0e1c4c3e40e71d0df72eae0a833e604f2
set -euo pipefail

# Run again to replace the deployment: the container coder is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect coder >/dev/null 2>&1; then
  echo 'replacing the existing container coder: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 coder >/dev/null
  docker rm coder >/dev/null
fi

exec docker run \
  --name coder \
  --detach \
  --restart unless-stopped \
  --stop-timeout 30 \
  --log-driver json-file \
  --log-opt max-size=100m \
  --log-opt max-file=5 \
  --gpus '"device=GPU-1f0c5a2e-8b7d-4e31-a9c6-0d2e7f4b3a91,GPU-c27e4b93-5f18-0a6d-b3e2-8e91d0c47f25"' \
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
  --model Qwen/Qwen2.5-Coder-32B-Instruct \
  --tensor-parallel-size 2 \
  --max-model-len 32768 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 1024 \
  --max-num-batched-tokens 8192
