"""Gymnasium envs stepped in parallel Ray worker processes: rl_games' RAY vec-env design, with gymnasium's API.

Each worker holds a contiguous share of the envs (a `GymEnvs`) and steps it
when asked; a step sends every worker its actions at once and waits for all.
One env per worker, as rl_games does, pays Ray's round trip (about a
millisecond) per env; a share per worker pays it once per worker, so CPU-heavy
envs gain and light ones lose less. `ray.init()` joins the cluster that
`RAY_ADDRESS` names when it is set, and starts a local one on this machine's
cores otherwise. Ray is an optional extra: `pip install -e ".[ray]"`.
"""

from __future__ import annotations

from typing import Callable

import gymnasium as gym
import numpy as np

from isaac_rl.rlgames.gym_env import GymEnvs


def _ray():
    try:
        import ray
    except ImportError:
        raise ValueError('task.env.rayWorkers > 0 steps the envs in Ray workers, which needs Ray: pip install -e ".[ray]"') from None
    return ray


class RayGymEnvs:
    """`GymEnvs`' interface over `workers` Ray actors, each stepping its share of `count` envs."""

    def __init__(self, create: Callable[..., gym.Env], count: int, seed: int | None, workers: int) -> None:
        if workers > count:
            raise ValueError(f"task.env.rayWorkers={workers} is more than the {count} envs (num_envs): each worker steps one env at least")
        ray = self._ray = _ray()
        if not ray.is_initialized():
            ray.init(include_dashboard=False, log_to_driver=False)
            self._started_ray = True
        else:
            self._started_ray = False
        bounds = np.linspace(0, count, workers + 1).astype(int)
        self.shares = [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]
        remote = ray.remote(num_cpus=1)(GymEnvs)
        self.workers = [remote.remote(create, hi - lo, seed, lo) for lo, hi in self.shares]

    def spaces(self) -> tuple[gym.Space, gym.Space]:
        return self._ray.get(self.workers[0].spaces.remote())

    def reset(self) -> np.ndarray:
        return np.concatenate(self._ray.get([worker.reset.remote() for worker in self.workers]))

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        results = self._ray.get([worker.step.remote(actions[lo:hi]) for worker, (lo, hi) in zip(self.workers, self.shares)])
        return tuple(np.concatenate(parts) for parts in zip(*results))

    def close(self) -> None:
        ray = self._ray
        ray.get([worker.close.remote() for worker in self.workers])
        for worker in self.workers:
            ray.kill(worker)
        if self._started_ray:
            ray.shutdown()


__all__ = ["RayGymEnvs"]
