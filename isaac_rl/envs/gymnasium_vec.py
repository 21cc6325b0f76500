"""A `gymnasium.vector.VectorEnv` view of an isaac_rl task, for skrl, Stable-Baselines3, CleanRL, RLlib users.

Autoreset follows gymnasium's NEXT_STEP mode, which is what a VecTask does: an
env whose episode ended at step t returns its final observation at t, with
`terminated` or `truncated` set; at step t+1 it is reset, its action is
ignored, and it returns its first observation with reward 0 and neither flag
set. Time-outs (`extras['time_outs']`) are reported as truncations, every
other end of an episode as a termination.

Observations, rewards and flags are torch tensors on the task's device by
default (no copy to the host, no sync); `as_numpy=True` returns numpy arrays.
Returned tensors are copies: on CUDA the task's own buffers are a CUDA
graph's outputs, overwritten by the next step.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from isaac_rl.tasks.base.vec_task import VecTask


class IsaacVectorEnv(gym.vector.VectorEnv):
    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, task: VecTask, as_numpy: bool = False) -> None:
        self.task = task
        self.as_numpy = as_numpy
        self.num_envs = task.num_envs
        self.single_observation_space = task.observation_space
        self.single_action_space = task.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.device = task.rl_device
        # envs whose episode ended at the last step: this step resets them
        self._ended = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset every env. `seed` seeds torch's global generators, which the tasks draw their resets from."""
        super().reset(seed=seed)
        if seed is not None:
            torch.manual_seed(seed)
        observations = self.task.reset()["obs"].clone()
        self._ended.zero_()
        return self._out(observations), {}

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        actions = torch.as_tensor(actions, dtype=torch.float32, device=self.task.device)
        obs_dict, rewards, resets, extras = self.task.step(actions)
        done = resets.bool()
        time_out = extras["time_outs"].bool()
        reset_now = self._ended
        terminated = done & ~time_out & ~reset_now
        truncated = done & time_out & ~reset_now
        rewards = torch.where(reset_now, torch.zeros_like(rewards), rewards)
        self._ended = (terminated | truncated).clone()
        out = (obs_dict["obs"].clone(), rewards.clone(), terminated, truncated)
        return (*(self._out(value) for value in out), {})

    def _out(self, value: torch.Tensor) -> Any:
        return value.cpu().numpy() if self.as_numpy else value

    def close_extras(self, **kwargs: Any) -> None:
        self.task = None  # type: ignore[assignment]


def make_vec(task: str, num_envs: int, device: str = "cpu", overrides: list[str] | None = None, as_numpy: bool = False) -> IsaacVectorEnv:
    """Build task `task` with `num_envs` envs on `device` from its config (plus hydra-style `overrides`)."""
    from omegaconf import OmegaConf

    from isaac_rl import tasks
    from isaac_rl.rlgames.run_config import check_run_config
    from isaac_rl.utils.config import compose_config, compose_reference

    chosen = [f"task={task}", f"num_envs={num_envs}", f"sim_device={device}", f"rl_device={device}", *(overrides or [])]
    cfg = compose_config(chosen)
    check_run_config(cfg, compose_reference(chosen))
    if cfg.task.env.get("gym_id"):
        raise ValueError(f"task {task!r} is a gymnasium env already: make it with gymnasium.make_vec({cfg.task.env.gym_id!r}, ...)")
    if cfg.task.get("class_path"):
        tasks.register(cfg.task_name, cfg.task.class_path)
    vec_task = tasks.resolve(cfg.task_name)(
        cfg=OmegaConf.to_container(cfg.task, resolve=True), rl_device=device, sim_device=device, graphics_device_id=0, headless=True
    )
    return IsaacVectorEnv(vec_task, as_numpy=as_numpy)
