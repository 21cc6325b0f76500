"""PushBox: push a box along a rail to a target position (an isaac_rl task written outside the package).

Observations (2): offset of the box from its target, box velocity.
Action (1): force on the box, scaled by `env.maxEffort`.

Trained with isaac_rl's own train.py, found through this directory's cfg/:

    PYTHONPATH=examples/custom_task python scripts/train.py task=PushBox \
        hydra.searchpath=[file://$PWD/examples/custom_task/cfg]
"""

from __future__ import annotations

from pathlib import Path

import torch

from isaac_rl.sim import Simulation
from isaac_rl.tasks.base.vec_task import VecTask

MODEL = Path(__file__).resolve().parent / "push_box.xml"


class PushBox(VecTask):
    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture=False, force_render=False):
        self.cfg = cfg
        self.max_effort = float(cfg["env"]["maxEffort"])
        self.target_range = float(cfg["env"]["targetRange"])
        self.cfg["env"]["numObservations"] = 2
        self.cfg["env"]["numActions"] = 1
        super().__init__(cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture, force_render)
        self.box_pos = self.sim.dof_pos[:, 0]
        self.box_vel = self.sim.dof_vel[:, 0]
        self.target = torch.zeros(self.num_envs, device=self.device)

    def create_sim(self) -> Simulation:
        return self.make_sim(str(MODEL))

    def pre_physics_step(self, actions: torch.Tensor) -> None:
        self.sim.set_ctrl(actions * self.max_effort)

    def compute_observations(self) -> None:
        self.obs_buf[:] = torch.stack((self.box_pos - self.target, self.box_vel), dim=1)

    def compute_reward(self) -> None:
        distance = torch.abs(self.box_pos - self.target)
        self.rew_buf[:] = 1.0 - distance - 0.05 * self.box_vel * self.box_vel
        self.reset_buf[:] = (self.progress_buf >= self.max_episode_length - 1).long()

    def reset_idx(self, env_mask: torch.Tensor) -> None:
        # New targets everywhere, kept only where the mask is set: no host sync.
        targets = self.target_range * (2 * torch.rand(self.num_envs, device=self.device) - 1)
        self.target.copy_(torch.where(env_mask, targets, self.target))
        zeros = torch.zeros((self.num_envs, self.sim.info.num_dofs), device=self.device)
        self.sim.reset_envs(env_mask, zeros, zeros)
        self.progress_buf.masked_fill_(env_mask, 0)
        self.reset_buf.masked_fill_(env_mask, 0)
