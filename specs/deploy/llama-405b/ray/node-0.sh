#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../../llama-405b-2x8.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:34163f9f5e22a82ae6be2281d560c9513acb5d0c72ae32188e6d55afd15f5475
# check-digest: sha256:6f52f157f68ab987d2a811aa75c0cafd0f317d25e0f369af2dd34a1c13276feb
set -euo pipefail

# Node 0 of 2 (the head): a Ray node in a container of the pinned image.
head_address="${VLLM_HEAD_ADDRESS:?set VLLM_HEAD_ADDRESS to the address of the head node}"
: "${VLLM_HOST_IP:?set VLLM_HOST_IP to the address of this node (node 0) that the other nodes reach}"
if [ "$VLLM_HOST_IP" != "$head_address" ]; then
  echo "node-0.sh runs on the head: VLLM_HOST_IP ($VLLM_HOST_IP) must be the head address ($head_address)" >&2
  exit 1
fi
: "${NCCL_SOCKET_IFNAME:?set NCCL_SOCKET_IFNAME to the network interface the nodes reach each other on (ip -br addr)}"
: "${GLOO_SOCKET_IFNAME:?set GLOO_SOCKET_IFNAME to the network interface the nodes reach each other on (ip -br addr)}"
: "${HF_TOKEN:?set HF_TOKEN to a Hugging Face token with access to meta-llama/Meta-Llama-3.1-405B}"
: "${VLLM_API_KEY:?set VLLM_API_KEY to the API key clients must send}"

exec docker run \
  --name llama-405b-node-0 \
  --detach \
  --restart unless-stopped \
  --network host \
  --shm-size 16g \
  --gpus all \
  -v "${HF_HOME:-$HOME/.cache/huggingface}:/root/.cache/huggingface" \
  -e VLLM_HOST_IP \
  -e "RAY_NODE_IP_ADDRESS=${VLLM_HOST_IP}" \
  -e "RAY_OVERRIDE_NODE_IP_ADDRESS=${VLLM_HOST_IP}" \
  -e NCCL_SOCKET_IFNAME \
  -e GLOO_SOCKET_IFNAME \
  --cap-add IPC_LOCK \
  --device /dev/infiniband \
  -e NCCL_IB_HCA=mlx5 \
  -e HF_TOKEN \
  -e VLLM_API_KEY \
  --entrypoint /bin/bash \
  vllm/vllm-openai:v0.33.0 \
  -c "ray start --block --head --node-ip-address=${VLLM_HOST_IP} --port=6379"
