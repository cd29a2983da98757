#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../../deepseek-r1-2x8.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:2e65b48a1edb1e857a4439fcd6a4e8f6de0c816c1ca3cd181435598b3f64b239
# check-digest: sha256:cba1310a84120af67fbfb7fd7b012ff4c3bf618c97997058f2138600fcbf9958
set -euo pipefail

# Node 1 of 2 (node 1): a Ray node in a container of the pinned image.
head_address="${VLLM_HEAD_ADDRESS:?set VLLM_HEAD_ADDRESS to the address of the head node}"
: "${VLLM_HOST_IP:?set VLLM_HOST_IP to the address of this node (node 1) that the other nodes reach}"
if [ "$VLLM_HOST_IP" = "$head_address" ]; then
  echo "node-1.sh runs on node 1: VLLM_HOST_IP must be the address of this node, not of the head ($head_address)" >&2
  exit 1
fi
: "${NCCL_SOCKET_IFNAME:?set NCCL_SOCKET_IFNAME to the network interface the nodes reach each other on (ip -br addr)}"
: "${GLOO_SOCKET_IFNAME:?set GLOO_SOCKET_IFNAME to the network interface the nodes reach each other on (ip -br addr)}"

exec docker run \
  --name deepseek-r1-node-1 \
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
  --entrypoint /bin/bash \
  vllm/vllm-openai:v0.33.0 \
  -c "ray start --block --address=${head_address}:6379 --node-ip-address=${VLLM_HOST_IP}"
