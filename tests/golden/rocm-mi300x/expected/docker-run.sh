#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from spec.yaml. Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:691e6cfd8ad6148c8d2c5842feeeaea9ccfbd36751f11c86ebeb2467afaaa13f
# check-digest: sha256:9c714db89e0fa3962f6ebcac1b40e57e6c2b6290e79fcefde02a6a205f8cb4e4
set -euo pipefail

: "${HF_TOKEN:?set HF_TOKEN to a Hugging Face token with access to meta-llama/Llama-3.1-70B-Instruct}"
export HIP_VISIBLE_DEVICES=4,5
: "${VLLM_API_KEY:?set VLLM_API_KEY to the API key clients must send}"

exec docker run \
  --name llama-70b-rocm \
  --detach \
  --restart unless-stopped \
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
