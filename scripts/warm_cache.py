"""Compile MuJoCo Warp's kernels for some tasks into the Warp kernel cache, so later runs start warm.

    python scripts/warm_cache.py --device cuda:0 --tasks Cartpole Ant
    python scripts/warm_cache.py --device cpu --cache-dir /cache/warp     # Warp's CPU kernels (no GPU needed)

Each task is built from its hydra config on the Warp backend and stepped
once, which compiles every kernel a training run uses on that device.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from isaac_rl import tasks
from isaac_rl.utils.config import compose_config

def build_and_step(task: str, device: str, num_envs: int) -> float:
    """Build `task` on the Warp backend on `device`, step it once; returns the seconds taken."""
    started = time.perf_counter()
    cfg = compose_config([f"task={task}", f"num_envs={num_envs}", f"sim_device={device}", f"rl_device={device}", "physics_backend=warp"])
    if cfg.task.get("class_path"):
        tasks.register(cfg.task_name, cfg.task.class_path)
    env = tasks.resolve(cfg.task_name)(
        cfg=OmegaConf.to_container(cfg.task, resolve=True),
        rl_device=device, sim_device=device, graphics_device_id=0, headless=True,
    )  # fmt: skip
    env.reset()
    env.step(torch.zeros((env.num_envs, env.num_actions), device=device))
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["Cartpole", "Ant"])
    parser.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--cache-dir", default=None, help="Warp kernel cache (default: $WARP_CACHE_PATH, else ~/.cache/warp)")
    args = parser.parse_args()
    if args.cache_dir:
        # Warp reads this when it initialises, which happens when the first sim is built.
        os.environ["WARP_CACHE_PATH"] = str(Path(args.cache_dir).expanduser().resolve())
    for task in args.tasks:
        seconds = build_and_step(task, args.device, args.num_envs)
        print(f"warm_cache: {task} on {args.device}: built and stepped in {seconds:.1f}s", flush=True)


if __name__ == "__main__":
    try:
        main()
    except (KeyError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
