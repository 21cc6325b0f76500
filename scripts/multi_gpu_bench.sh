#!/usr/bin/env bash
# Training throughput on 1 GPU vs N GPUs (rl_games' NCCL path), same envs per GPU.
#   scripts/multi_gpu_bench.sh                 # Ant, 4096 envs per GPU, 2 GPUs, 150 epochs
#   TASK=Cartpole NUM_ENVS=8192 GPUS=2 EPOCHS=100 scripts/multi_gpu_bench.sh
#   EXTRA="+train.params.config.cuda_graphs=False" scripts/multi_gpu_bench.sh   # more overrides for both runs
# Prints, per run:
#   steady state: env frames of all ranks per second of wall-clock between rank 0's epoch lines
#                 STEADY_FROM and EPOCHS (its logging and checkpoints included);
#   start-up:     seconds from launch until the epoch line of STEADY_FROM is printed
#                 (process start, env and kernel set-up, graph recording, the first epochs);
# then the N-GPU / 1-GPU ratios. Logs (each line stamped with seconds since launch) go to $OUT_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

TASK=${TASK:-Ant}
NUM_ENVS=${NUM_ENVS:-4096}
GPUS=${GPUS:-2}
EPOCHS=${EPOCHS:-150}
STEADY_FROM=${STEADY_FROM:-50}
OUT_DIR=${OUT_DIR:-${OUT:-/tmp}/multi_gpu_bench}
mkdir -p "$OUT_DIR"
# NVLink SHARP (NVLS) multicast stays off on the lent machines (KINDS.md).
export NCCL_NVLS_ENABLE=0
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
export PYTHONUNBUFFERED=1
read -r -a EXTRA_ARGS <<< "${EXTRA:-}"
COMMON=(task="$TASK" num_envs="$NUM_ENVS" max_iterations="$EPOCHS" train_dir="$OUT_DIR/runs" headless=True "${EXTRA_ARGS[@]}")

stamped() {  # run a command, each output line prefixed with the seconds since launch
  "$@" 2>&1 | python3 -u -c '
import sys, time
start = time.time()
for line in sys.stdin:
    print(f"{time.time() - start:.2f} {line}", end="", flush=True)'
}

# "<seconds since launch> epoch N/M: ... frames F" -> steady-state fps (frames over the wall-clock between rank 0's
# epoch lines STEADY_FROM and EPOCHS) and start-up seconds (launch to the STEADY_FROM line)
measure() {  # log -> "fps startup"
  awk -v a="$STEADY_FROM" -v b="$EPOCHS" '
    $2 == "epoch" {
      split($3, e, "/"); n = e[1] + 0
      for (i = 1; i <= NF; i++) if ($i == "frames") f = $(i + 1) + 0
      if (n == a) { sa = $1 + 0; fa = f }
      if (n == b) { sb = $1 + 0; fb = f }
    }
    END { if (sb > sa) printf "%.0f %.1f\n", (fb - fa) / (sb - sa), sa; else print "? ?" }' "$1"
}

# Warm the Warp kernel cache first so that neither run pays for compilation.
python scripts/warm_cache.py --device cuda:0 --num-envs "$NUM_ENVS" --tasks "$TASK"

stamped python scripts/train.py "${COMMON[@]}" experiment="bench_1gpu" > "$OUT_DIR/1gpu.log"
read -r fps1 start1 <<< "$(measure "$OUT_DIR/1gpu.log")"
echo "1 GPU x $NUM_ENVS envs: steady state (epochs $STEADY_FROM-$EPOCHS) $fps1 frames/s, start-up to epoch $STEADY_FROM ${start1}s"

stamped python -m torch.distributed.run --standalone --nproc_per_node="$GPUS" scripts/train.py "${COMMON[@]}" multi_gpu=True \
  experiment="bench_${GPUS}gpu" > "$OUT_DIR/${GPUS}gpu.log"
read -r fpsn startn <<< "$(measure "$OUT_DIR/${GPUS}gpu.log")"
echo "$GPUS GPUs x $NUM_ENVS envs: steady state (epochs $STEADY_FROM-$EPOCHS) $fpsn frames/s, start-up to epoch $STEADY_FROM ${startn}s"
awk -v a="$fps1" -v b="$fpsn" -v s1="$start1" -v sn="$startn" -v g="$GPUS" \
  'BEGIN { if (a > 0) printf "%s GPUs / 1 GPU: steady state %.2fx, start-up %+.1fs\n", g, b / a, sn - s1 }'
