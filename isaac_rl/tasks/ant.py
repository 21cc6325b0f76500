"""Ant: a four-legged ant runs toward a target 1000 m along +x.

IsaacGymEnvs' Ant, on MuJoCo, built from parts (isaac_rl/tasks/base/):
`observation_group` and `reward_terms` below, held with the model in the
task's `RunnerBody`. Observations (60), in this order:
  torso height (1), torso linear velocity (3) and angular velocity (3) in the
  torso frame, yaw, roll, angle to the target (3), up and heading projections
  (2), dof positions scaled to [-1, 1] over their limits (8), dof velocities
  x dofVelocityScale (8), force/torque of the four feet x contactForceScale
  (24), last actions (8).
Actions (8): joint torques = action x gear (15, in the model) x powerScale.
Reward: progress toward the target (a potential of -distance/dt, so it is the
speed toward the target in m/s) + alive bonus + heading and up bonuses
- action, energy and joints-at-limit costs (each term's episode sum logged as
Episode/rew_<name>); deathCost once the torso falls below terminationHeight,
which also ends the episode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from isaac_rl.sim import Simulation, force_torque_sensor_names
from isaac_rl.tasks.base.observations import ObservationGroup, ObsTerm
from isaac_rl.tasks.base.rewards import RewardFunction, RewardTerms
from isaac_rl.tasks.base.vec_task import VecTask
from isaac_rl.utils.torch_math import get_euler_xyz, normalize, normalize_angle, quat_axis, quat_rotate_inverse, scale_to_unit

NUM_DOFS = 8
FEET = ("front_left_foot", "front_right_foot", "back_left_foot", "back_right_foot")
FOOT_SENSORS = force_torque_sensor_names(FEET)

ALIVE_BONUS = 0.5
# heading_proj above this earns the full heading bonus
HEADING_FULL_BONUS_PROJ = 0.8
# up_proj above this (torso tilted less than ~22 degrees) earns the up bonus
UP_BONUS_PROJ = 0.93
# |scaled dof position| above this counts as a joint at its limit
AT_LIMIT = 0.99


def observation_group(env: dict) -> ObservationGroup:
    """The 60 observations, in the order of the module docstring."""
    return ObservationGroup(observation_terms(env, NUM_DOFS, len(FEET)))


def observation_terms(env: dict, num_dofs: int, num_feet: int) -> dict[str, ObsTerm]:
    """The runner's terms (shared with Humanoid, which adds to them) for `num_dofs` joints and `num_feet` force/torque sensor pairs."""
    return {
        "torso_height": ObsTerm(lambda task: task.sim.root_pos[:, 2:3], 1),
        "base_lin_vel": ObsTerm(lambda task: task.base_lin_vel, 3),
        "base_ang_vel": ObsTerm(lambda task: task.sim.root_ang_vel_local, 3, float(env.get("angularVelocityScale", 1.0))),
        "yaw_roll_angle_to_target": ObsTerm(lambda task: task.yaw_roll_angle_to_target, 3),
        "up_heading_proj": ObsTerm(lambda task: torch.stack((task.up_proj, task.heading_proj), dim=-1), 2),
        "dof_pos": ObsTerm(lambda task: task.dof_pos_unit, num_dofs),
        "dof_vel": ObsTerm(lambda task: task.dof_vel_scaled, num_dofs),
        "foot_force_torques": ObsTerm(lambda task: task.foot_force_torques, 6 * num_feet, float(env["contactForceScale"])),
        "actions": ObsTerm(lambda task: task.actions, num_dofs),
    }


def reward_terms(env: dict) -> dict[str, tuple[RewardFunction, float]]:
    """IsaacGymEnvs' reward as terms (its names); weights from the yaml, costs negative."""
    return {
        "progress": (lambda task: (task.potentials - task.prev_potentials).float(), 1.0),
        "alive": (lambda task: torch.ones_like(task.up_proj), ALIVE_BONUS),
        "up": (lambda task: (task.up_proj > UP_BONUS_PROJ).float(), float(env["upWeight"])),
        "heading": (heading_bonus, float(env["headingWeight"])),
        "actions_cost": (lambda task: torch.sum(task.actions**2, dim=-1), -float(env["actionsCost"])),
        "energy_cost": (lambda task: torch.sum(torch.abs(task.actions * task.dof_vel_scaled), dim=-1), -float(env["energyCost"])),
        "joints_at_limit": (lambda task: torch.sum(torch.abs(task.dof_pos_unit) > AT_LIMIT, dim=-1), -float(env["jointsAtLimitCost"])),
    }


def heading_bonus(task) -> torch.Tensor:
    """1 facing the target within ~37 degrees (heading_proj > 0.8), proportional below."""
    heading = task.heading_proj
    return torch.where(heading > HEADING_FULL_BONUS_PROJ, torch.ones_like(heading), heading / HEADING_FULL_BONUS_PROJ)


@dataclass(frozen=True)
class RunnerBody:
    """The robot a runner task drives, and the parts sized by it: what Humanoid, the same runner on another body, replaces."""

    default_asset: str  # the model, unless env.asset names another
    num_dofs: int  # actuated hinge joints, one action each
    foot_sensors: tuple[str, ...]  # force/torque sensor pairs of the feet, in observation order
    observation_group: Callable[[dict], ObservationGroup]
    reward_terms: Callable[[dict], dict[str, tuple[RewardFunction, float]]]


class Ant(VecTask):
    body = RunnerBody("mjcf/ant.xml", NUM_DOFS, FOOT_SENSORS, observation_group, reward_terms)

    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture=False, force_render=False):
        env = cfg["env"]
        # a torso below terminationHeight ends the episode, with deathCost for the step's reward
        self.termination_height, self.death_cost = float(env["terminationHeight"]), float(env["deathCost"])
        self.dof_vel_scale, self.power_scale = float(env["dofVelocityScale"]), float(env["powerScale"])
        target = env.get("target", [1000.0, 0.0, 0.0])
        if len(target) != 3:
            raise ValueError(f"env.target must be an [x, y, z] position, got {target!r}")
        self.observations = self.body.observation_group(env)
        env["numObservations"] = self.observations.size
        env["numActions"] = self.body.num_dofs
        super().__init__(cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture, force_render)

        n, dev = self.num_envs, self.device
        self.observations.to(dev)
        self.rewards = RewardTerms(self.body.reward_terms(env), n, dev)
        foot_sensors = self.body.foot_sensors
        try:
            self.foot_sensor_columns = self.sim.sensor_columns(foot_sensors)
        except KeyError as error:
            raise ValueError(f"the {type(self).__name__} model needs force and torque sensors named {list(foot_sensors)}: {error}") from None
        self.dof_lower, self.dof_upper = self.sim.dof_limits.unbind(1)
        # The file's pose puts the ankles at 0, outside their 30..70 degree
        # range: start from the nearest pose inside the limits instead.
        self.default_dof_pos = torch.clamp(self.sim.default_qpos[7:], self.dof_lower, self.dof_upper)
        self.start_root_pose = self.sim.default_qpos[:7]
        self.targets = torch.tensor(target, dtype=torch.float32, device=dev).repeat(n, 1)
        self.start_potentials = compute_potentials(self.start_root_pose[:3].expand(n, 3), self.targets, self.dt)
        self.potentials = self.start_potentials.clone()
        self.prev_potentials = self.start_potentials.clone()
        self.actions = torch.zeros((n, self.body.num_dofs), device=dev)
        # what observations and rewards both read, refreshed by update_state
        self.base_lin_vel = torch.zeros((n, 3), device=dev)
        self.up_proj, self.heading_proj = torch.zeros(n, device=dev), torch.zeros(n, device=dev)
        self.yaw_roll_angle_to_target = torch.zeros((n, 3), device=dev)
        self.dof_pos_unit = torch.zeros((n, self.body.num_dofs), device=dev)
        self.dof_vel_scaled = torch.zeros((n, self.body.num_dofs), device=dev)
        # world +x is toward the target: the observer logs this as Episode/forward_speed (m/s)
        self.forward_speed = torch.zeros(n, device=dev)
        self.extras["episode"] = {"forward_speed": self.forward_speed}
        self.extras["episode_sums"] = self.rewards.episode_extras()

    def create_sim(self) -> Simulation:
        asset = self.cfg["env"].get("asset", self.body.default_asset)
        sim = self.make_sim(asset)
        self.check_floating_robot(sim, asset, self.body.num_dofs)
        return sim

    def pre_physics_step(self, actions: torch.Tensor) -> None:
        self.actions.copy_(actions)
        # the model's motors multiply ctrl by their gear (15)
        self.sim.set_ctrl(actions * self.power_scale)

    @property
    def foot_force_torques(self) -> torch.Tensor:
        return self.sim.sensordata[:, self.foot_sensor_columns]

    def update_state(self) -> None:
        sim = self.sim
        self.potentials.copy_(compute_potentials(sim.root_pos, self.targets, self.dt))
        to_target = self.targets - sim.root_pos
        to_target[:, 2] = 0.0
        up_proj, heading_proj = compute_heading_and_up(sim.root_quat, to_target)
        self.up_proj.copy_(up_proj)
        self.heading_proj.copy_(heading_proj)
        roll, _, yaw = get_euler_xyz(sim.root_quat)
        angle_to_target = normalize_angle(torch.atan2(to_target[:, 1], to_target[:, 0]) - yaw)
        self.yaw_roll_angle_to_target.copy_(torch.stack((yaw, roll, angle_to_target), dim=-1))
        self.base_lin_vel.copy_(quat_rotate_inverse(sim.root_quat, sim.root_lin_vel))
        self.dof_pos_unit.copy_(scale_to_unit(sim.dof_pos, self.dof_lower, self.dof_upper))
        self.dof_vel_scaled.copy_(sim.dof_vel * self.dof_vel_scale)

    def compute_observations(self) -> None:
        self.obs_buf[:] = self.observations.compute(self)

    def compute_reward(self) -> None:
        reward = self.rewards.compute(self)
        self.rew_buf[:], fallen = apply_death_cost(reward, self.sim.root_pos[:, 2], self.termination_height, self.death_cost)
        self.reset_buf[:] = fallen.long()
        # the potential the next step's progress is measured from
        self.prev_potentials.copy_(self.potentials)
        self.forward_speed.copy_(self.sim.root_lin_vel[:, 0])

    def reset_idx(self, env_mask: torch.Tensor) -> None:
        n, num_dofs = self.num_envs, self.body.num_dofs
        # position and velocity noise in one draw (see "Random draws" in isaac_rl/tasks/base/vec_task.py)
        noise = 2.0 * torch.rand((2, n, num_dofs), device=self.device) - 1.0
        dof_pos = torch.clamp(self.default_dof_pos + 0.2 * noise[0], self.dof_lower, self.dof_upper)
        dof_vel = 0.1 * noise[1]
        qpos = torch.cat((self.start_root_pose.expand(n, 7), dof_pos), dim=1)
        qvel = torch.cat((torch.zeros((n, 6), device=self.device), dof_vel), dim=1)
        self.sim.reset_envs(env_mask, qpos, qvel)
        self.potentials.copy_(torch.where(env_mask, self.start_potentials, self.potentials))
        self.prev_potentials.copy_(torch.where(env_mask, self.start_potentials, self.prev_potentials))
        self.rewards.reset(env_mask)


def apply_death_cost(
    reward: torch.Tensor, torso_height: torch.Tensor, termination_height: float, death_cost: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(reward, fallen): a torso below `termination_height` gets `death_cost` instead of its reward, and falls."""
    fallen = torso_height < termination_height
    return torch.where(fallen, torch.full_like(reward, death_cost), reward), fallen


def compute_potentials(torso_pos: torch.Tensor, targets: torch.Tensor, dt: float) -> torch.Tensor:
    """-(horizontal distance to the target)/dt, in float64: its change over one step is the speed toward the target.

    A potential is about -6e4 (a target 1000 m away, over dt), where float32's
    spacing is 4e-3: in float32 the progress reward would carry that much
    rounding, and a step that rounds in another order (torch.compile's fused
    division) would change the reward by as much.
    """
    to_target = (targets.double() - torso_pos.double())[:, :2]
    return -torch.linalg.vector_norm(to_target, dim=-1) / dt


def compute_heading_and_up(torso_quat: torch.Tensor, to_target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(up_proj, heading_proj): world-z of the torso's up axis, and its +x axis dotted with the target direction."""
    up_proj = quat_axis(torso_quat, 2)[:, 2]
    heading_proj = (quat_axis(torso_quat, 0) * normalize(to_target)).sum(dim=-1)
    return up_proj, heading_proj
