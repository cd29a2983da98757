#!/usr/bin/env bash
# Made by vllm-compile 0.1.0 from ../../../deepseek-r1-2x8.yaml (relative to this file). Do not edit:
# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.
# input-digest: sha256:8b884abb321626a5766351271608133c6ba42214b0f6e2468a764344ab11fbd5
# check-digest: sha256:edfbe2547bc01ccbc1028f1c66329ed3e1d9f1a27dd68e8212adc550971c77f7
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
# Run again to replace the deployment: the container deepseek-r1-node-0 is stopped (up to 30 s to shut down) and removed; the model cache is a host folder and is kept.
if docker container inspect deepseek-r1-node-0 >/dev/null 2>&1; then
  echo 'replacing the existing container deepseek-r1-node-0: stopping it (up to 30 s) and removing it; the model cache is kept' >&2
  docker stop -t 30 deepseek-r1-node-0 >/dev/null
  docker rm deepseek-r1-node-0 >/dev/null
fi

exec docker run \
  --name deepseek-r1-node-0 \
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
  --entrypoint /bin/bash \
  vllm/vllm-openai:v0.33.0 \
  -c "ray start --block --head --node-ip-address=${VLLM_HOST_IP} --port=6379"
