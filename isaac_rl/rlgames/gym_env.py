"""Plain gymnasium environments under rl_games: one instance per env, stepped in this process or in Ray workers.

rl_games ships no in-process vec-env (its 'RAY' type needs Ray and one
process per env), and its gym wrappers expect the old 4-tuple API. `GymVecEnv`
steps `num_actors` gymnasium envs in a loop, resets each one when it ends,
and hands rl_games torch tensors, with `extras['time_outs']` from
gymnasium's `truncated` so that PPO bootstraps values at time limits. With
`task.env.rayWorkers=N` the same loop runs in N Ray worker processes, each
over its share of the envs, stepped in parallel (ray_envs.py).

Registered at run time as vec-env type 'GYM' and env name 'gym':

    python scripts/train.py task=GymEnv task.env.gym_id=Pendulum-v1
"""

from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym
import numpy as np
import torch
from rl_games.common import env_configurations, vecenv
from rl_games.common.ivecenv import IVecEnv

ENV_NAME = "gym"
VECENV_TYPE = "GYM"


def check_train_config(task_name: str, env_name: str) -> None:
    """A gymnasium task needs a train config that builds gymnasium envs (`env_name: gym`)."""
    if env_name != ENV_NAME:
        raise ValueError(
            f"task {task_name!r} is a gymnasium env (task.env.gym_id) but its train config has env_name: {env_name}; "
            f"use a train config with env_name: {ENV_NAME} (train=GymEnvPPO, or train=GymEnvDiscretePPO for discrete actions)"
        )


def make_gym_creator(gym_id: str, make_kwargs: dict[str, Any] | None = None) -> Callable[..., gym.Env]:
    """A function building one `gym_id` env; fails now, clearly, if gymnasium does not know the id.

    `gym_id` is a registered id (`Pendulum-v1`) or `my_package.module:MyEnv-v0`,
    for which gymnasium imports the module (which registers the id) first.
    """
    make_kwargs = dict(make_kwargs or {})
    try:
        gym.make(gym_id, **make_kwargs).close()
    except (gym.error.Error, ImportError, TypeError) as error:
        raise ValueError(
            f"task.env.gym_id={gym_id!r} with make_kwargs={make_kwargs} could not be made: {error}. Expected a registered gymnasium id "
            f"(e.g. Pendulum-v1) or 'my_package.module:MyEnv-v0' whose module calls gymnasium.register"
        ) from error

    def create(**_: Any) -> gym.Env:
        return gym.make(gym_id, **make_kwargs)

    return create


def register_gym(create_env: Callable[..., gym.Env], device: str, seed: int | None = None, ray_workers: int = 0) -> None:
    """Make `env_name: gym` in a train config build a `GymVecEnv` of `create_env()` instances (in `ray_workers` Ray workers if > 0)."""
    vecenv.register(
        VECENV_TYPE,
        lambda config_name, num_actors, **kwargs: GymVecEnv(config_name, num_actors, device=device, seed=seed, ray_workers=ray_workers),
    )
    env_configurations.register(ENV_NAME, {"vecenv_type": VECENV_TYPE, "env_creator": create_env})


def action_dim(space: gym.Space) -> int:
    """Number of policy outputs for `space` (Box: its size; Discrete: one action index)."""
    if isinstance(space, gym.spaces.Box):
        return int(np.prod(space.shape))
    if isinstance(space, gym.spaces.Discrete):
        return 1
    raise ValueError(f"action space {space} is not supported: rl_games' PPO takes a Box or a Discrete action space")


class GymEnvs:
    """`count` gymnasium envs stepped in a loop and reset when they end, as numpy arrays.

    The work of one process: this one (`GymVecEnv`), or each Ray worker
    (`isaac_rl.rlgames.ray_envs`). Env i is seeded `seed + first_index + i` on
    its first reset, so a split across workers draws as one process does.
    """

    def __init__(self, create: Callable[..., gym.Env], count: int, seed: int | None = None, first_index: int = 0) -> None:
        self.envs = [create() for _ in range(count)]
        self.seeds = [None if seed is None else seed + first_index + i for i in range(count)]
        first = self.envs[0]
        action_dim(first.action_space)  # reject unsupported action spaces before training starts
        self.observation_space = first.observation_space
        self.action_space = first.action_space
        self._discrete = isinstance(first.action_space, gym.spaces.Discrete)

    def spaces(self) -> tuple[gym.Space, gym.Space]:
        return self.observation_space, self.action_space

    def _flat(self, observations: list[Any]) -> np.ndarray:
        return np.stack([gym.spaces.flatten(self.observation_space, o) for o in observations]).astype(np.float32)

    def reset(self) -> np.ndarray:
        return self._flat([env.reset(seed=seed)[0] for env, seed in zip(self.envs, self.seeds)])

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(observations, rewards, dones, time_outs); an env that ended is reset and returns its new first observation."""
        observations, rewards, dones, time_outs = [], [], [], []
        for env, action in zip(self.envs, actions):
            if self._discrete:
                action = int(action)
            observation, reward, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                # rl_games reads the next observation only: the final one of an
                # ended episode is not needed because time outs are bootstrapped
                # from the value of the observation the step started from.
                observation, _ = env.reset()
            observations.append(observation)
            rewards.append(reward)
            dones.append(bool(terminated or truncated))
            time_outs.append(bool(truncated and not terminated))
        return self._flat(observations), np.asarray(rewards, np.float32), np.asarray(dones, np.uint8), np.asarray(time_outs, bool)

    def close(self) -> None:
        for env in self.envs:
            env.close()


class GymVecEnv(IVecEnv):
    """`num_actors` gymnasium envs as one rl_games vec-env of torch tensors on `device`.

    `ray_workers=0` steps them in this process; N > 0 spreads them over N Ray
    worker processes stepped in parallel (`isaac_rl.rlgames.ray_envs`).
    """

    def __init__(self, config_name: str, num_actors: int, device: str = "cpu", seed: int | None = None, ray_workers: int = 0) -> None:
        create = env_configurations.configurations[config_name]["env_creator"]
        if ray_workers < 0:
            raise ValueError(f"task.env.rayWorkers={ray_workers}: expected 0 (step the envs in this process) or a number of Ray workers")
        if ray_workers:
            from isaac_rl.rlgames.ray_envs import RayGymEnvs

            self.envs = RayGymEnvs(create, num_actors, seed, ray_workers)
        else:
            self.envs = GymEnvs(create, num_actors, seed)
        self.device = torch.device(device)
        self.single_observation_space, self.action_space = self.envs.spaces()
        flat = gym.spaces.flatten_space(self.single_observation_space)
        self.observation_space = gym.spaces.Box(flat.low.astype(np.float32), flat.high.astype(np.float32), dtype=np.float32)

    def reset(self) -> torch.Tensor:
        return torch.from_numpy(self.envs.reset()).to(self.device)

    def step(self, actions: torch.Tensor):
        observations, rewards, dones, time_outs = self.envs.step(actions.detach().cpu().numpy())
        extras = {"time_outs": torch.from_numpy(time_outs).to(self.device)}
        return (
            torch.from_numpy(observations).to(self.device),
            torch.from_numpy(rewards).to(self.device),
            torch.from_numpy(dones).to(self.device),
            extras,
        )

    def get_number_of_agents(self) -> int:
        return 1

    def get_env_info(self) -> dict[str, Any]:
        return {
            "action_space": self.action_space,
            "observation_space": self.observation_space,
            "agents": 1,
            "value_size": 1,
        }

    def close(self) -> None:
        self.envs.close()
