"""How fast gymnasium envs step for rl_games: in this process against Ray worker processes.

    python scripts/benchmark_gym.py Humanoid-v5 --num-envs 64 --workers 2 --steps 200

Steps the same envs (random actions, ended episodes reset) through the GYM
vec-env that `task=GymEnv` trains with, first in this process
(`task.env.rayWorkers=0`), then in `--workers` Ray workers, and prints the
env-steps per second of each and their ratio. Gymnasium's MuJoCo envs need
`pip install "gymnasium[mujoco]"`; Ray needs `pip install -e ".[ray]"`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from isaac_rl.rlgames import gym_env
from isaac_rl.utils.cli import exit_on_user_error


def env_steps_per_second(gym_id: str, num_envs: int, workers: int, steps: int, warmup: int = 10) -> float:
    gym_env.register_gym(gym_env.make_gym_creator(gym_id), "cpu", seed=0, ray_workers=workers)
    envs = gym_env.GymVecEnv(gym_env.ENV_NAME, num_envs, seed=0, ray_workers=workers)
    try:
        envs.reset()
        space = envs.action_space
        actions = [torch.as_tensor(np.stack([space.sample() for _ in range(num_envs)])) for _ in range(warmup + steps)]
        for action in actions[:warmup]:
            envs.step(action)
        start = time.perf_counter()
        for action in actions[warmup:]:
            envs.step(action)
        return num_envs * steps / (time.perf_counter() - start)
    finally:
        envs.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gym_id")
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    in_process = env_steps_per_second(args.gym_id, args.num_envs, 0, args.steps)
    print(f"{args.gym_id}, {args.num_envs} envs, in this process: {in_process:,.0f} env-steps/s", flush=True)
    ray = env_steps_per_second(args.gym_id, args.num_envs, args.workers, args.steps)
    print(f"{args.gym_id}, {args.num_envs} envs, {args.workers} Ray workers: {ray:,.0f} env-steps/s ({ray / in_process:.2f}x)")


if __name__ == "__main__":
    with exit_on_user_error():
        main()
