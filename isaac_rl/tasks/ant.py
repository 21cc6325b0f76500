"""Ant: a four-legged ant runs toward a target 1000 m along +x.

IsaacGymEnvs' Ant, on MuJoCo. Observations (60), in this order:
  torso height (1), torso linear velocity (3) and angular velocity (3) in the
  torso frame, yaw, roll, angle to the target (3), up and heading projections
  (2), dof positions scaled to [-1, 1] over their limits (8), dof velocities
  x dofVelocityScale (8), force/torque of the four feet x contactForceScale
  (24), last actions (8).
Actions (8): joint torques = action x gear (15, in the model) x powerScale.
Reward: progress toward the target (a potential of -distance/dt, so it is the
speed toward the target in m/s) + alive bonus + heading and up bonuses
- action, energy and joints-at-limit costs; deathCost once the torso falls
below terminationHeight, which also ends the episode.
"""

from __future__ import annotations

import torch

from isaac_rl.sim import Simulation
from isaac_rl.tasks.base.vec_task import VecTask
from isaac_rl.utils.torch_math import get_euler_xyz, normalize, normalize_angle, quat_axis, quat_rotate_inverse, scale_to_unit

NUM_DOFS = 8
FEET = ("front_left_foot", "front_right_foot", "back_left_foot", "back_right_foot")
FOOT_SENSORS = tuple(f"{foot}_{kind}" for foot in FEET for kind in ("force", "torque"))
NUM_OBS = 1 + 3 + 3 + 3 + 2 + NUM_DOFS + NUM_DOFS + 6 * len(FEET) + NUM_DOFS

# Where the reward finds its inputs in the observation vector.
OBS_HEIGHT = 0
OBS_UP_PROJ = 10
OBS_HEADING_PROJ = 11
OBS_DOF_POS = slice(12, 12 + NUM_DOFS)
OBS_DOF_VEL = slice(12 + NUM_DOFS, 12 + 2 * NUM_DOFS)

ALIVE_BONUS = 0.5
# heading_proj above this earns the full heading bonus
HEADING_FULL_BONUS_PROJ = 0.8
# up_proj above this (torso tilted less than ~22 degrees) earns the up bonus
UP_BONUS_PROJ = 0.93
# |scaled dof position| above this counts as a joint at its limit
AT_LIMIT = 0.99


class Ant(VecTask):
    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture=False, force_render=False):
        self.cfg = cfg
        env = cfg["env"]
        self.power_scale = float(env["powerScale"])
        self.heading_weight = float(env["headingWeight"])
        self.up_weight = float(env["upWeight"])
        self.actions_cost_scale = float(env["actionsCost"])
        self.energy_cost_scale = float(env["energyCost"])
        self.joints_at_limit_cost_scale = float(env["jointsAtLimitCost"])
        self.death_cost = float(env["deathCost"])
        self.termination_height = float(env["terminationHeight"])
        self.dof_vel_scale = float(env["dofVelocityScale"])
        self.contact_force_scale = float(env["contactForceScale"])
        target = env.get("target", [1000.0, 0.0, 0.0])
        if len(target) != 3:
            raise ValueError(f"env.target must be an [x, y, z] position, got {target!r}")
        self.cfg["env"]["numObservations"] = NUM_OBS
        self.cfg["env"]["numActions"] = NUM_DOFS
        super().__init__(cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture, force_render)

        try:
            self.foot_sensor_columns = self.sim.sensor_columns(FOOT_SENSORS)
        except KeyError as error:
            raise ValueError(f"the Ant model needs force and torque sensors named {list(FOOT_SENSORS)}: {error}") from None
        self.dof_lower, self.dof_upper = self.sim.dof_limits.unbind(1)
        # The file's pose puts the ankles at 0, outside their 30..70 degree
        # range: start from the nearest pose inside the limits instead.
        self.default_dof_pos = torch.clamp(self.sim.default_qpos[7:], self.dof_lower, self.dof_upper)
        self.start_root_pose = self.sim.default_qpos[:7]
        self.targets = torch.tensor(target, dtype=torch.float32, device=self.device).repeat(self.num_envs, 1)
        self.start_potentials = compute_potentials(self.start_root_pose[:3].expand(self.num_envs, 3), self.targets, self.dt)
        self.potentials = self.start_potentials.clone()
        self.prev_potentials = self.start_potentials.clone()
        self.actions = torch.zeros((self.num_envs, NUM_DOFS), device=self.device)
        # world +x is toward the target: the observer logs this as Episode/forward_speed (m/s)
        self.forward_speed = torch.zeros(self.num_envs, device=self.device)
        self.extras["episode"] = {"forward_speed": self.forward_speed}

    def create_sim(self) -> Simulation:
        sim = self.make_sim(self.cfg["env"].get("asset", "mjcf/ant.xml"))
        if not sim.info.has_free_root or sim.info.num_dofs != NUM_DOFS or sim.info.nu != NUM_DOFS:
            raise ValueError(
                f"the Ant task needs a model with a free root joint and {NUM_DOFS} actuated hinge joints; "
                f"{self.cfg['env'].get('asset', 'mjcf/ant.xml')!r} has {sim.info.num_dofs} dofs and {sim.info.nu} actuators"
            )
        return sim

    def pre_physics_step(self, actions: torch.Tensor) -> None:
        self.actions.copy_(actions)
        # the model's motors multiply ctrl by their gear (15)
        self.sim.set_ctrl(actions * self.power_scale)

    def compute_observations(self) -> None:
        self.prev_potentials.copy_(self.potentials)
        self.potentials.copy_(compute_potentials(self.sim.root_pos, self.targets, self.dt))
        self.obs_buf[:] = compute_ant_observations(
            self.sim.root_pos, self.sim.root_quat, self.sim.root_lin_vel, self.sim.root_ang_vel_local,
            self.sim.dof_pos, self.sim.dof_vel, self.dof_lower, self.dof_upper,
            self.sim.sensordata[:, self.foot_sensor_columns], self.actions, self.targets,
            self.dof_vel_scale, self.contact_force_scale,
        )  # fmt: skip

    def compute_reward(self) -> None:
        obs = self.obs_buf
        self.rew_buf[:], self.reset_buf[:] = compute_ant_reward(
            obs[:, OBS_HEIGHT], obs[:, OBS_UP_PROJ], obs[:, OBS_HEADING_PROJ], obs[:, OBS_DOF_POS], obs[:, OBS_DOF_VEL],
            self.actions, self.potentials, self.prev_potentials, self.progress_buf, self.max_episode_length,
            heading_weight=self.heading_weight, up_weight=self.up_weight,
            actions_cost_scale=self.actions_cost_scale, energy_cost_scale=self.energy_cost_scale,
            joints_at_limit_cost_scale=self.joints_at_limit_cost_scale,
            termination_height=self.termination_height, death_cost=self.death_cost,
        )  # fmt: skip
        self.forward_speed.copy_(self.sim.root_lin_vel[:, 0])

    def reset_idx(self, env_mask: torch.Tensor) -> None:
        n = self.num_envs
        noise = torch.empty((n, NUM_DOFS), device=self.device)
        dof_pos = torch.clamp(self.default_dof_pos + noise.uniform_(-0.2, 0.2), self.dof_lower, self.dof_upper)
        dof_vel = torch.empty((n, NUM_DOFS), device=self.device).uniform_(-0.1, 0.1)
        qpos = torch.cat((self.start_root_pose.expand(n, 7), dof_pos), dim=1)
        qvel = torch.cat((torch.zeros((n, 6), device=self.device), dof_vel), dim=1)
        self.sim.reset_envs(env_mask, qpos, qvel)

        self.potentials.copy_(torch.where(env_mask, self.start_potentials, self.potentials))
        self.prev_potentials.copy_(torch.where(env_mask, self.start_potentials, self.prev_potentials))
        self.progress_buf.masked_fill_(env_mask, 0)
        self.reset_buf.masked_fill_(env_mask, 0)


def compute_potentials(torso_pos: torch.Tensor, targets: torch.Tensor, dt: float) -> torch.Tensor:
    """-(horizontal distance to the target)/dt: its change over one step is the speed toward the target."""
    to_target = (targets - torso_pos)[:, :2]
    return -torch.linalg.vector_norm(to_target, dim=-1) / dt


def compute_heading_and_up(torso_quat: torch.Tensor, to_target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(up_proj, heading_proj): world-z of the torso's up axis, and its +x axis dotted with the target direction."""
    up_proj = quat_axis(torso_quat, 2)[:, 2]
    heading_proj = (quat_axis(torso_quat, 0) * normalize(to_target)).sum(dim=-1)
    return up_proj, heading_proj


def compute_ant_observations(
    torso_pos: torch.Tensor,
    torso_quat: torch.Tensor,
    lin_vel_world: torch.Tensor,
    ang_vel_local: torch.Tensor,
    dof_pos: torch.Tensor,
    dof_vel: torch.Tensor,
    dof_lower: torch.Tensor,
    dof_upper: torch.Tensor,
    foot_force_torques: torch.Tensor,
    actions: torch.Tensor,
    targets: torch.Tensor,
    dof_vel_scale: float,
    contact_force_scale: float,
) -> torch.Tensor:
    """The (num_envs, 60) observation; see the module docstring for the layout."""
    to_target = targets - torso_pos
    to_target[:, 2] = 0.0
    up_proj, heading_proj = compute_heading_and_up(torso_quat, to_target)
    roll, _, yaw = get_euler_xyz(torso_quat)
    angle_to_target = normalize_angle(torch.atan2(to_target[:, 1], to_target[:, 0]) - yaw)
    return torch.cat(
        (
            torso_pos[:, 2:3],
            quat_rotate_inverse(torso_quat, lin_vel_world),
            ang_vel_local,
            yaw[:, None],
            roll[:, None],
            angle_to_target[:, None],
            up_proj[:, None],
            heading_proj[:, None],
            scale_to_unit(dof_pos, dof_lower, dof_upper),
            dof_vel * dof_vel_scale,
            foot_force_torques * contact_force_scale,
            actions,
        ),
        dim=-1,
    )


def compute_ant_reward(
    torso_height: torch.Tensor,
    up_proj: torch.Tensor,
    heading_proj: torch.Tensor,
    dof_pos_scaled: torch.Tensor,
    dof_vel_scaled: torch.Tensor,
    actions: torch.Tensor,
    potentials: torch.Tensor,
    prev_potentials: torch.Tensor,
    progress_buf: torch.Tensor,
    max_episode_length: int,
    *,
    heading_weight: float,
    up_weight: float,
    actions_cost_scale: float,
    energy_cost_scale: float,
    joints_at_limit_cost_scale: float,
    termination_height: float,
    death_cost: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(reward, reset) for one step; a torso below `termination_height` gets `death_cost` and is reset."""
    heading_reward = torch.where(
        heading_proj > HEADING_FULL_BONUS_PROJ,
        torch.full_like(heading_proj, heading_weight),
        heading_weight * heading_proj / HEADING_FULL_BONUS_PROJ,
    )
    up_reward = torch.where(up_proj > UP_BONUS_PROJ, torch.full_like(up_proj, up_weight), torch.zeros_like(up_proj))
    actions_cost = torch.sum(actions**2, dim=-1)
    energy_cost = torch.sum(torch.abs(actions * dof_vel_scaled), dim=-1)
    joints_at_limit = torch.sum(torch.abs(dof_pos_scaled) > AT_LIMIT, dim=-1)
    progress_reward = potentials - prev_potentials
    reward = (
        progress_reward
        + ALIVE_BONUS
        + up_reward
        + heading_reward
        - actions_cost_scale * actions_cost
        - energy_cost_scale * energy_cost
        - joints_at_limit_cost_scale * joints_at_limit
    )
    fallen = torso_height < termination_height
    reward = torch.where(fallen, torch.full_like(reward, death_cost), reward)
    reset = fallen | (progress_buf >= max_episode_length - 1)
    return reward, reset.long()
