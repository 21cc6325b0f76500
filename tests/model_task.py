"""`ModelTask`: the smallest real task over any MJCF model, carrying the events a test declares.

Actions are the controls, observations qpos and qvel, the reward 0; an env
resets where the test sets `reset_buf` or after `max_episode_length` steps,
into the model's initial state.
"""

from __future__ import annotations

from typing import Any

import torch

from isaac_rl.sim import Simulation
from isaac_rl.sim.model import load_model
from isaac_rl.tasks.base.events import Event, Noise
from isaac_rl.tasks.base.vec_task import VecTask


class ModelTask(VecTask):
    def __init__(
        self,
        model_file: str,
        num_envs: int = 4,
        backend: str = "mujoco",
        device: str = "cpu",
        events: dict[str, Event | Noise] | None = None,
        randomization_params: dict | None = None,
        max_episode_length: int = 1000,
        dt: float = 0.02,
        sim: dict[str, Any] | None = None,
    ) -> None:
        model = load_model(model_file, None, None)
        self.declared = events or {}
        cfg = {
            "env": {
                "numEnvs": num_envs,
                "numObservations": model.nq + model.nv,
                "numActions": max(model.nu, 1),
                "maxEpisodeLength": max_episode_length,
            },
            "sim": {"dt": dt, "substeps": 2, "backend": backend, **(sim or {})},
            "task": {"randomize": randomization_params is not None, "randomization_params": randomization_params},
        }
        self.model_file = model_file
        super().__init__(cfg, device, device, 0, True)

    def create_sim(self) -> Simulation:
        return self.make_sim(self.model_file)

    def events(self) -> dict[str, Event | Noise]:
        return self.declared

    def pre_physics_step(self, actions: torch.Tensor) -> None:
        if self.sim.info.nu:
            self.sim.set_ctrl(actions)

    def reset_idx(self, env_mask: torch.Tensor) -> None:
        qpos = self.sim.default_qpos.expand(self.num_envs, -1)
        self.sim.reset_envs(env_mask, qpos, torch.zeros_like(self.sim.qvel))
        self.progress_buf.masked_fill_(env_mask, 0)
        self.reset_buf.masked_fill_(env_mask, 0)

    def compute_observations(self) -> None:
        self.obs_buf[:] = torch.cat([self.sim.qpos, self.sim.qvel], dim=1)

    def compute_reward(self) -> None:
        self.rew_buf.zero_()
        self.reset_buf |= (self.progress_buf >= self.max_episode_length - 1).long()
