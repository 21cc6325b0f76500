"""Cartpole: push a cart along a rail to keep a hinged pole upright.

Observations (4): cart position, cart velocity, pole angle, pole angular velocity.
Action (1): force on the cart, scaled by `env.maxEffort`.
"""

from __future__ import annotations

import torch

from isaac_rl.sim import Simulation
from isaac_rl.tasks.base.vec_task import VecTask


class Cartpole(VecTask):
    # side on, the rail across the frame
    video_camera = {"lookat": [0.0, 0.0, 1.8], "distance": 6.5, "azimuth": 90.0, "elevation": -15.0}

    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture=False, force_render=False):
        self.reset_dist = float(cfg["env"]["resetDist"])
        self.max_push_effort = float(cfg["env"]["maxEffort"])
        cfg["env"]["numObservations"] = 4
        cfg["env"]["numActions"] = 1
        super().__init__(cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture, force_render)
        self.cart_pos = self.sim.dof_pos[:, 0]
        self.pole_angle = self.sim.dof_pos[:, 1]
        self.cart_vel = self.sim.dof_vel[:, 0]
        self.pole_vel = self.sim.dof_vel[:, 1]

    def create_sim(self) -> Simulation:
        return self.make_sim(self.cfg["env"].get("asset", "mjcf/cartpole.xml"))

    def pre_physics_step(self, actions: torch.Tensor) -> None:
        self.sim.set_ctrl(actions * self.max_push_effort)

    def compute_observations(self) -> None:
        self.obs_buf[:] = torch.stack((self.cart_pos, self.cart_vel, self.pole_angle, self.pole_vel), dim=1)

    def compute_reward(self) -> None:
        self.rew_buf[:], self.reset_buf[:] = compute_cartpole_reward(
            self.pole_angle, self.pole_vel, self.cart_vel, self.cart_pos,
            self.reset_dist,
        )  # fmt: skip

    def reset_idx(self, env_mask: torch.Tensor) -> None:
        # positions and velocities in one draw (see "Random draws" in isaac_rl/tasks/base/vec_task.py)
        u = torch.rand((2, self.num_envs, self.sim.info.num_dofs), device=self.device) - 0.5
        self.sim.reset_envs(env_mask, 0.2 * u[0], 0.5 * u[1])


def compute_cartpole_reward(
    pole_angle: torch.Tensor,
    pole_vel: torch.Tensor,
    cart_vel: torch.Tensor,
    cart_pos: torch.Tensor,
    reset_dist: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(reward, terminated): reward for keeping the pole upright and the cart slow; -2 and terminated on failure."""
    reward = 1.0 - pole_angle * pole_angle - 0.01 * torch.abs(cart_vel) - 0.005 * torch.abs(pole_vel)
    failed = (torch.abs(cart_pos) > reset_dist) | (torch.abs(pole_angle) > torch.pi / 2)
    reward = torch.where(failed, torch.full_like(reward, -2.0), reward)
    return reward, failed.long()
