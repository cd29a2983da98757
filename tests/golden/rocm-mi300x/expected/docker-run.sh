#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:5058faa0589ad52f761c7ca2430522e3d44e001492647e28a52014a937e7baaa
# check-digest: sha256:32ba3af966fa3f252215ff6085dc54372abba5bb284d00e64104140658415841
set -euo pipefail

: "${HF_TOKEN:?set HF_TOKEN to a Hugging Face token with access to meta-llama/Llama-3.1-70B-Instruct}"
export HIP_VISIBLE_DEVICES=4,5
: "${VLLM_API_KEY:?set VLLM_API_KEY to the API key clients must send}"
# Run again to replace the deployment: the container llama-70b-rocm is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect llama-70b-rocm >/dev/null 2>&1; then
  echo 'replacing the existing container llama-70b-rocm: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 llama-70b-rocm >/dev/null
  docker rm llama-70b-rocm >/dev/null
fi

exec docker run \
  --name llama-70b-rocm \
  --detach \
  --restart unless-stopped \
  --stop-timeout 30 \
  --log-driver json-file \
  --log-opt max-size=100m \
  --log-opt max-file=5 \
  --device /dev/kfd \
  --device /dev/dri \
  --group-add video \
  --security-opt seccomp=unconfined \
  --ipc=host \
  -p 8020:8000 \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e HF_TOKEN \
  -e HIP_VISIBLE_DEVICES \
  -e VLLM_API_KEY \
  --health-cmd 'curl -fsS http://localhost:8000/health' \
  --health-start-period 1620s \
  --health-interval 30s \
  --health-timeout 10s \
  --health-retries 5 \
  vllm/vllm-openai-rocm:v0.33.0 \
  --model meta-llama/Llama-3.1-70B-Instruct \
  --tensor-parallel-size 2 \
  --max-model-len 65536 \
  --gpu-memory-utilization 0.92 \
  --max-num-seqs 1024 \
  --max-num-batched-tokens 8192
