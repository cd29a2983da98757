#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../../llama-405b-2x8.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:fb058ea09167a5787485403de4207c5170c58e70e3613fc25cde6e114c1ff2f1
# check-digest: sha256:0946c22329c670038df221f36a22e6a7a5e84f823aa51603fe16230996c07aab
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
# Run again to replace the deployment: the container llama-405b-node-0 is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect llama-405b-node-0 >/dev/null 2>&1; then
  echo 'replacing the existing container llama-405b-node-0: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 llama-405b-node-0 >/dev/null
  docker rm llama-405b-node-0 >/dev/null
fi

exec docker run \
  --name llama-405b-node-0 \
  --detach \
  --restart unless-stopped \
  --stop-timeout 30 \
  --log-driver json-file \
  --log-opt max-size=100m \
  --log-opt max-file=5 \
  --network host \
  --shm-size 16g \
  --ulimit memlock=-1 \
  --ulimit stack=67108864 \
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
