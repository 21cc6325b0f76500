#!/usr/bin/env bash
# Training throughput on 1 GPU vs N GPUs (rl_games' NCCL path), same envs per GPU.
#   scripts/multi_gpu_bench.sh                 # Ant, 4096 envs per GPU, 2 GPUs, 100 epochs
#   TASK=Cartpole NUM_ENVS=8192 GPUS=2 EPOCHS=50 scripts/multi_gpu_bench.sh
# Prints, per run, rl_games' last "fps total" (env frames of all ranks per second,
# step + policy + update) and the wall time; logs go to $OUT_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

TASK=${TASK:-Ant}
NUM_ENVS=${NUM_ENVS:-4096}
GPUS=${GPUS:-2}
EPOCHS=${EPOCHS:-100}
OUT_DIR=${OUT_DIR:-${OUT:-/tmp}/multi_gpu_bench}
mkdir -p "$OUT_DIR"
# NVLink SHARP (NVLS) multicast stays off on the lent machines (KINDS.md).
export NCCL_NVLS_ENABLE=0
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
COMMON=(task="$TASK" num_envs="$NUM_ENVS" max_iterations="$EPOCHS" train_dir="$OUT_DIR/runs")

report() {  # name, log, seconds
  local fps
  fps=$(grep -o "fps total [0-9]*" "$2" | tail -1 | awk '{print $3}')
  echo "$1: fps total ${fps:-?} (last epoch), wall ${3}s, log $2"
}

# Warm the Warp kernel cache first so that neither run pays for compilation.
python scripts/warm_cache.py --device cuda:0 --num-envs "$NUM_ENVS" --tasks "$TASK"

start=$SECONDS
python scripts/train.py "${COMMON[@]}" experiment="bench_1gpu" > "$OUT_DIR/1gpu.log" 2>&1
report "1 GPU x $NUM_ENVS envs" "$OUT_DIR/1gpu.log" $((SECONDS - start))

start=$SECONDS
torchrun --standalone --nproc_per_node="$GPUS" scripts/train.py "${COMMON[@]}" multi_gpu=True \
  experiment="bench_${GPUS}gpu" > "$OUT_DIR/${GPUS}gpu.log" 2>&1
report "$GPUS GPUs x $NUM_ENVS envs" "$OUT_DIR/${GPUS}gpu.log" $((SECONDS - start))
