"""Reward and observation terms of legged locomotion, as IsaacGymEnvs' and legged_gym's legged tasks have them.

Each is a plain torch function of a task (anything with the attributes it
reads: `base_lin_vel` and `base_ang_vel` in the base frame, `projected_gravity`,
`commands` (x, y, yaw rate), `dof_pos`, `dof_vel`, `default_dof_pos`,
`actions`, ...) returning one value per env (rewards) or per env and column
(observations). Unscaled: weights and scales come from the task's yaml.
"""

from __future__ import annotations

from typing import Any

import torch

# exp(-squared tracking error / TRACKING_SIGMA)
TRACKING_SIGMA = 0.25
# a body touches something when its contact force exceeds this (N)
CONTACT_THRESHOLD = 1.0
# IsaacGymEnvs' AnymalTerrain base height target (m above the scanned ground)
BASE_HEIGHT_TARGET = 0.52


def lin_vel_error_sq(task: Any) -> torch.Tensor:
    """|commanded - actual horizontal base velocity|^2 (m^2/s^2)."""
    return torch.sum(torch.square(task.commands[:, :2] - task.base_lin_vel[:, :2]), dim=1)


def ang_vel_error_sq(task: Any) -> torch.Tensor:
    """(commanded - actual yaw rate)^2 (rad^2/s^2)."""
    return torch.square(task.commands[:, 2] - task.base_ang_vel[:, 2])


# -- rewards (legged_gym's names) ---------------------------------------------
def tracking_lin_vel(task: Any) -> torch.Tensor:
    return torch.exp(-lin_vel_error_sq(task) / TRACKING_SIGMA)


def tracking_ang_vel(task: Any) -> torch.Tensor:
    return torch.exp(-ang_vel_error_sq(task) / TRACKING_SIGMA)


def lin_vel_z(task: Any) -> torch.Tensor:
    return torch.square(task.base_lin_vel[:, 2])


def ang_vel_xy(task: Any) -> torch.Tensor:
    return torch.sum(torch.square(task.base_ang_vel[:, :2]), dim=1)


def orientation(task: Any) -> torch.Tensor:
    return torch.sum(torch.square(task.projected_gravity[:, :2]), dim=1)


def base_height(task: Any) -> torch.Tensor:
    return torch.square(task.base_height - BASE_HEIGHT_TARGET)


def torques(task: Any) -> torch.Tensor:
    return torch.sum(torch.square(task.torques), dim=1)


def joint_acc(task: Any) -> torch.Tensor:
    """Squared change of joint velocities over the step (IsaacGymEnvs' name; legged_gym's dof_acc x dt^2)."""
    return torch.sum(torch.square(task.last_dof_vel - task.dof_vel), dim=1)


def collision(task: Any) -> torch.Tensor:
    """How many of `task.collision_forces` (num_envs, bodies, 3) bodies touch something."""
    return torch.sum(torch.linalg.vector_norm(task.collision_forces, dim=-1) > CONTACT_THRESHOLD, dim=1).float()


def stumble(task: Any) -> torch.Tensor:
    """Feet pushed sideways hard (> 5 N) while barely loaded (< 1 N): hitting a riser."""
    forces = task.feet_forces
    hit = (torch.linalg.vector_norm(forces[..., :2], dim=-1) > 5.0) & (forces[..., 2].abs() < 1.0)
    return torch.sum(hit, dim=1).float()


def action_rate(task: Any) -> torch.Tensor:
    return torch.sum(torch.square(task.last_actions - task.actions), dim=1)


def feet_contact(task: Any) -> torch.Tensor:
    """(num_envs, feet) bool: each foot on the ground."""
    return task.feet_forces[..., 2] > CONTACT_THRESHOLD


def feet_air_time(task: Any) -> torch.Tensor:
    """A foot touching down after time in the air earns (air time - 0.5 s): long steps, no shuffling; when asked to move."""
    air_time = task.feet_air_time + task.dt
    first_contact = (task.feet_air_time > 0.0) & feet_contact(task)
    moving = torch.linalg.vector_norm(task.commands[:, :2], dim=1) > 0.1
    return torch.sum((air_time - 0.5) * first_contact, dim=1) * moving


def next_feet_air_time(task: Any) -> torch.Tensor:
    """(num_envs, feet) seconds each foot has been in the air, after this step (0 on the ground)."""
    return (task.feet_air_time + task.dt) * ~feet_contact(task)


def hip(task: Any) -> torch.Tensor:
    """Hip abduction (every third joint) away from the standing pose."""
    return torch.sum(torch.abs(task.dof_pos[:, 0::3] - task.default_dof_pos[0::3]), dim=1)


# -- observations ---------------------------------------------------------------
def base_lin_vel(task: Any) -> torch.Tensor:
    return task.base_lin_vel


def base_ang_vel(task: Any) -> torch.Tensor:
    return task.base_ang_vel


def projected_gravity(task: Any) -> torch.Tensor:
    return task.projected_gravity


def velocity_commands(task: Any) -> torch.Tensor:
    return task.commands


def dof_pos_from_standing(task: Any) -> torch.Tensor:
    return task.dof_pos - task.default_dof_pos


def dof_vel(task: Any) -> torch.Tensor:
    return task.dof_vel


def last_actions(task: Any) -> torch.Tensor:
    return task.actions


def height_scan(task: Any) -> torch.Tensor:
    """Ground heights around the base as IsaacGymEnvs observes them: base height - 0.5 m - ground (m)."""
    return task.root_pos[:, 2:3] - 0.5 - task.measured_heights
