"""Compile what a training run compiles, for every shipped task, into the cache root, so later runs start warm.

    python scripts/warm_cache.py                                  # every shipped task, default num_envs, cuda:0 if present
    python scripts/warm_cache.py --tasks Anymal --num-envs 8192   # the compiled step is specialised on num_envs
    python scripts/warm_cache.py --device cpu --num-envs 2 --tasks Cartpole Ant    # Warp's CPU kernels (no GPU)
    python scripts/warm_cache.py --cache-dir /shared/isaac_rl --save-artifacts     # also one portable bundle
    python scripts/warm_cache.py --load-artifacts bundle.bin      # unpack a bundle into this machine's cache

Each task is built from its hydra config on the Warp backend and stepped as
a run steps it: MuJoCo Warp's kernels compile at build, and on CUDA the
warm-up steps compile the torch step (`sim.compile_step`, Inductor and
Triton) before the third step captures it. Everything lands in the cache root
(isaac_rl/utils/compile_cache.py: <root>/warp, <root>/inductor, <root>/triton).
GymEnv runs gymnasium on the CPU and compiles nothing.
"""

from __future__ import annotations

import argparse
import sys
import time

# no torch or warp before the cache root is chosen (main), so their caches follow it
from isaac_rl.tasks import TASK_MAP
from isaac_rl.utils.compile_cache import ARTIFACTS_FILE, cache_root, load_compile_artifacts, save_compile_artifacts, use_cache_dir

SHIPPED_TASKS = tuple(TASK_MAP)
# two eager warm-up steps (the step compiles at the first), then the capture: what VecTask does with compile_step
STEPS = 3


def build_task(task: str, device: str | None, num_envs: int | None, overrides: list[str] = ()):
    """The task scripts/train.py would build for these settings (`device`/`num_envs` None: the config's defaults)."""
    import torch
    from omegaconf import OmegaConf

    from isaac_rl import tasks
    from isaac_rl.utils.config import apply_cpu_num_envs, compose_config

    chosen = [f"task={task}", *(f"{key}={device}" for key in ("sim_device", "rl_device") if device)]
    if num_envs is not None:
        chosen.append(f"num_envs={num_envs}")
    cfg = compose_config([*chosen, *overrides])
    apply_cpu_num_envs(cfg, torch.cuda.is_available())
    if cfg.task.get("class_path"):
        tasks.register(cfg.task_name, cfg.task.class_path)
    if cfg.trainer == "rl_games":
        from isaac_rl.rlgames.launch import use_training_torch_settings

        use_training_torch_settings()  # the step compiles into the cache entry that training looks up
    return tasks.resolve(cfg.task_name)(
        cfg=OmegaConf.to_container(cfg.task, resolve=True),
        rl_device=cfg.rl_device, sim_device=cfg.sim_device, graphics_device_id=cfg.graphics_device_id, headless=True,
    )  # fmt: skip


def build_and_step(task: str, device: str | None, num_envs: int | None, overrides: list[str] = ()) -> float:
    """Build `task` and step it as training does until its step is compiled and captured; returns the seconds taken."""
    import torch

    started = time.perf_counter()
    env = build_task(task, device, num_envs, ["physics_backend=warp", *overrides])
    env.reset()
    actions = torch.zeros((env.num_envs, env.num_actions), device=env.rl_device)
    for _ in range(STEPS):
        env.step(actions)
    if env.device.type == "cuda":
        torch.cuda.synchronize(env.device)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=list(SHIPPED_TASKS), help=f"default: every shipped task ({' '.join(SHIPPED_TASKS)})")
    parser.add_argument("--device", default=None, help="cuda:N or cpu (default: cuda:0 when CUDA is present, else cpu)")
    parser.add_argument("--num-envs", type=int, default=None, help="default: each task's own (torch.compile's step is specialised on it)")
    parser.add_argument("--cache-dir", default=None, help="cache root (default: $ISAAC_RL_CACHE_DIR, else ~/.cache/isaac_rl; "
                        "WARP_CACHE_PATH etc. already set are kept unless this is given)")  # fmt: skip
    parser.add_argument("--save-artifacts", action="store_true", help=f"also write torch.compile's artefacts to <root>/{ARTIFACTS_FILE}")
    parser.add_argument("--load-artifacts", default=None, metavar="FILE", help="unpack a saved bundle into the cache and exit")
    parser.add_argument("overrides", nargs="*", help="hydra overrides for every task (e.g. task.sim.compile_step=False)")
    args = parser.parse_args()
    unknown = sorted(set(args.tasks) - set(SHIPPED_TASKS))
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}; accepted: {', '.join(SHIPPED_TASKS)}")
    bad = [o for o in args.overrides if "=" not in o]
    if bad:
        parser.error(f"overrides look like key=value, got {' '.join(bad)}")

    caches = use_cache_dir(args.cache_dir)
    print("warm_cache: caches in " + ", ".join(f"{name} {path}" for name, path in caches.items()), flush=True)
    if args.load_artifacts:
        if not load_compile_artifacts(args.load_artifacts):
            parser.error(f"--load-artifacts {args.load_artifacts}: no such file")
        print(f"warm_cache: unpacked {args.load_artifacts}", flush=True)
        return 0
    failed = []
    for task in args.tasks:
        try:
            seconds = build_and_step(task, args.device, args.num_envs, args.overrides)
        except Exception as error:  # one task failing must not leave the others cold
            failed.append(task)
            print(f"warm_cache: {task} failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            continue
        print(f"warm_cache: {task} on {args.device or 'the default device'}: built and stepped in {seconds:.1f}s", flush=True)
    if args.save_artifacts:
        path = cache_root(args.cache_dir) / ARTIFACTS_FILE
        size = save_compile_artifacts(path)
        print(f"warm_cache: torch.compile artefacts: {f'{size} bytes in {path}' if size else 'none (nothing was compiled)'}", flush=True)
    if failed:
        print(f"warm_cache: failed: {' '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
