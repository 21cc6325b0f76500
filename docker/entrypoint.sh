#!/usr/bin/env bash
# isaac_rl container entrypoint (docker/README.md).
#   docker run ... isaac_rl task=Ant num_envs=4096                       train: arguments go to scripts/train.py
#   docker run ... isaac_rl warm [Ant Anymal ...]                        compile CUDA kernels and steps into /cache (default: every task)
#   docker run ... isaac_rl torchrun --nproc_per_node=2 -- task=Ant      multi-GPU: torchrun options, --, train.py arguments
set -euo pipefail
REPO=/opt/isaac_rl

case "${1:-}" in
  warm)
    shift
    if [ "$#" -eq 0 ]; then exec python "$REPO/scripts/warm_cache.py" --device cuda:0; fi
    exec python "$REPO/scripts/warm_cache.py" --device cuda:0 --tasks "$@"
    ;;
  torchrun)
    shift
    options=()
    while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do options+=("$1"); shift; done
    if [ "$#" -gt 0 ]; then shift; fi
    exec torchrun "${options[@]}" "$REPO/scripts/train.py" multi_gpu=True "$@"
    ;;
  *)
    exec python "$REPO/scripts/train.py" "$@"
    ;;
esac
