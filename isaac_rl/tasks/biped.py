"""BipedFlat and BipedTerrain: a humanoid robot tracks commanded base velocities, on flat ground and over rough terrain.

The robot is assets/mjcf/biped_h1like.xml (Unitree H1's facts, 6-DoF legs,
torso yaw, 4-DoF arms; 21 PD position actuators). The task is AnymalTerrain
(isaac_rl/tasks/anymal_terrain.py: the terrain map and its curriculum, the
height scan, pushes) with this robot's joints, feet and terms; BipedFlat is
its config on one level of flat ground without curriculum, simulated as the
model's floor plane (cfg/task/BipedFlat.yaml),
BipedTerrain on the map's ten levels of slopes, stairs and obstacles.
Commands: forward and sideways velocity and a yaw rate (BipedFlat) or a
heading (BipedTerrain), drawn when an episode starts and every
resampleInterval_s.
Observations (262): base velocities, gravity, command, joint positions from
the standing pose and velocities (75 - 21), 187 ground heights around the
pelvis (Isaac Lab's grid: 1.6 m x 1.0 m every 0.1 m, under the feet too), the
last actions (21). Actions (21): PD targets, standing pose +
actionScale x action.
Reward, per second (each term x dt), not clipped at 0 (as Isaac Lab;
`onlyPositiveRewards: true` clips it as legged_gym does): Isaac
Lab's H1 velocity terms (`REWARD_TERMS`: AnymalTerrain's, but its knee
contact, stumble and hip terms) with the biped ones here: feet air time in
single stance (`feet_air_time_biped`), feet sliding, joint deviation
from the standing pose for hips (yaw, roll), arms and torso, the ankles' joint limits;
and, after any clip, terminationRewardScale x dt when a fall ends the
episode (legged_gym adds it the same way). An episode ends when the pelvis or torso
touches the ground, when the pelvis is less than terminationHeight above the
ground, or after episodeLength_s. With pushRobots, every pushInterval_s all
bases get a random horizontal velocity in +-pushVelocity m/s;
`task.randomize` draws friction and payload as legged_gym does for Unitree's
humanoids.

Differences from Isaac Lab's H1 tasks: no undesired-contacts term (only
the feet, pelvis and torso collide, and a pelvis or torso contact ends the
episode). The joint-limit cost covers the ankles (pitch and roll), as Isaac
Lab's (every joint until 2026-12-05: it capped hip yaw and roll at +-0.39 rad,
about what turning at 1 rad/s takes).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from isaac_rl.sim import Simulation
from isaac_rl.tasks.anymal_terrain import AnymalTerrain
from isaac_rl.tasks.base import locomotion
from isaac_rl.tasks.base.commands import VelocityCommands
from isaac_rl.terrain import GRID_SCAN_X, GRID_SCAN_Y

SIDES = ("left", "right")
LEG_JOINTS = ("hip_yaw", "hip_roll", "hip_pitch", "knee", "ankle_pitch", "ankle_roll")
ARM_JOINTS = ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow")
JOINTS = (
    *(f"{side}_{joint}" for side in SIDES for joint in LEG_JOINTS),
    "torso",
    *(f"{side}_{joint}" for side in SIDES for joint in ARM_JOINTS),
)
NUM_DOFS = len(JOINTS)
FEET = ("left_foot", "right_foot")
# a touch of one of these ends the episode
TERMINATION_BODIES = ("pelvis", "torso")
# joint groups whose deviation from the standing pose costs (Isaac Lab's H1)
JOINT_GROUPS = {
    "hip": [i for i, name in enumerate(JOINTS) if name.endswith(("hip_yaw", "hip_roll"))],
    "arms": [i for i, name in enumerate(JOINTS) if name.endswith(ARM_JOINTS)],
    "torso": [JOINTS.index("torso")],
    # the joints whose soft limits cost (Isaac Lab's H1: its ankles; here pitch and roll)
    "ankles": [i for i, name in enumerate(JOINTS) if name.endswith(("ankle_pitch", "ankle_roll"))],
}
# legged_gym's soft joint limits: this fraction of each range, about its middle
SOFT_LIMIT = 0.9


# -- reward terms ----------------------------------------------------------------
def feet_mode_times(task) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(contact, contact_time, air_time), each (num_envs, feet), counting this step: how long each foot has been down or up."""
    contact = locomotion.feet_contact(task)
    contact_time = (task.feet_contact_time + task.dt) * contact
    air_time = (task.feet_air_time + task.dt) * ~contact
    return contact, contact_time, air_time


def feet_air_time_biped(task) -> torch.Tensor:
    """Isaac Lab's biped air time: in single stance, the shorter foot's time in its mode, up to the threshold; when asked to move."""
    contact, contact_time, air_time = feet_mode_times(task)
    in_mode_time = torch.where(contact, contact_time, air_time)
    single_stance = torch.sum(contact, dim=1) == 1
    reward = torch.min(in_mode_time * single_stance[:, None], dim=1).values
    moving = torch.linalg.vector_norm(task.commands[:, :2], dim=1) > 0.1
    return torch.clamp(reward, max=task.air_time_threshold) * moving


def feet_slide(task) -> torch.Tensor:
    """Horizontal speed (m/s) of the feet that are on the ground, summed."""
    foot_speed = torch.linalg.vector_norm(task.feet_velocities[..., :2], dim=-1)
    return torch.sum(foot_speed * locomotion.feet_contact(task), dim=1)


def joint_deviation(task, group: str) -> torch.Tensor:
    """Sum of |joint position - standing pose| (rad) over the joints of `task.joint_groups[group]` (an index tensor)."""
    joints = task.joint_groups[group]
    return torch.sum(torch.abs(task.dof_pos[:, joints] - task.default_dof_pos[joints]), dim=1)


def joint_limits(task, group: str = "ankles") -> torch.Tensor:
    """How far (rad) the joints of `task.joint_groups[group]` are past their soft limits, summed."""
    joints = task.joint_groups[group]
    below = torch.clamp(task.dof_pos[:, joints] - task.soft_dof_lower[joints], max=0.0)
    above = torch.clamp(task.dof_pos[:, joints] - task.soft_dof_upper[joints], min=0.0)
    return torch.sum(above - below, dim=1)


def base_height(task) -> torch.Tensor:
    """(pelvis height above the ground - target)^2."""
    return torch.square(task.base_height - task.base_height_target)


# AnymalTerrain's terms a biped has no use for: knee (thigh) contacts, feet hitting risers, hip abduction
QUADRUPED_TERMS = ("collision", "stumble", "hip")
# name (Isaac Lab's / legged_gym's) -> (term, env.learn key of its weight): AnymalTerrain's terms but the quadruped's,
# the biped's base height and feet air time in their places, then the biped's own
REWARD_TERMS = {name: term for name, term in AnymalTerrain.reward_terms.items() if name not in QUADRUPED_TERMS} | {
    "base_height": (base_height, "baseHeightRewardScale"),
    "feet_air_time": (feet_air_time_biped, "feetAirTimeRewardScale"),
    "feet_slide": (feet_slide, "feetSlideRewardScale"),
    "joint_deviation_hip": (functools.partial(joint_deviation, group="hip"), "hipDeviationRewardScale"),
    "joint_deviation_arms": (functools.partial(joint_deviation, group="arms"), "armDeviationRewardScale"),
    "joint_deviation_torso": (functools.partial(joint_deviation, group="torso"), "torsoDeviationRewardScale"),
    "joint_limits": (joint_limits, "jointLimitRewardScale"),
}


class Biped(AnymalTerrain):
    video_camera = {"distance": 3.5, "azimuth": 150.0, "elevation": -15.0}
    joints = JOINTS
    reward_terms = REWARD_TERMS
    feet = FEET
    knees = ()
    base_body = "pelvis"
    scan_x, scan_y = GRID_SCAN_X, GRID_SCAN_Y

    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture=False, force_render=False):
        env = cfg["env"]
        learn = env["learn"]
        self.termination_height = float(env["terminationHeight"])
        self.base_height_target = float(learn["baseHeightTarget"])
        self.air_time_threshold = float(learn["feetAirTimeThreshold"])
        super().__init__(cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture, force_render)

        dev, n = self.device, self.num_envs
        # weighted by dt like the other terms; added after any clip at 0
        self.termination_reward = float(learn["terminationRewardScale"]) * self.dt
        self.feet_contact_time = torch.zeros((n, len(FEET)), device=dev)
        self.joint_groups = {name: torch.tensor(ids, device=dev) for name, ids in JOINT_GROUPS.items()}
        lower, upper = self.sim.dof_limits.unbind(1)
        middle, half_range = (lower + upper) / 2, (upper - lower) / 2
        self.soft_dof_lower, self.soft_dof_upper = middle - SOFT_LIMIT * half_range, middle + SOFT_LIMIT * half_range

    def create_sim(self) -> Simulation:
        """BipedFlat's map (`env.terrain.plane`) is all level ground at z = 0: the model's floor plane stands for it,
        without the heightfield's prism-by-prism collisions (a fifth of the physics' speed for AnymalTerrain)."""
        if not self.cfg["env"]["terrain"].get("plane", False):
            return super().create_sim()
        if np.any(self.terrain.heightfield.heights != 0.0):
            raise ValueError("env.terrain.plane: true needs a map of level ground (numLevels: 1, terrainKinds: [smooth_slope])")
        terrain, self.terrain = self.terrain, None  # LeggedTask builds the sim on self.terrain's heightfield, if any
        try:
            return super().create_sim()
        finally:
            self.terrain = terrain

    def make_commands(self, ranges: dict) -> VelocityCommands:
        learn = self.cfg["env"]["learn"]
        resampling_steps = int(float(learn["resampleInterval_s"]) / self.step_dt(self.cfg) + 0.5)
        return VelocityCommands(
            ranges, self.num_envs, self.device, heading_control=bool(learn["headingCommand"]),
            deadband=float(learn["commandDeadband"]), resampling_steps=resampling_steps,
        )  # fmt: skip

    def build_index_plans(self) -> None:
        super().build_index_plans()
        self.sim.scene.body_vel(FEET)
        self.sim.scene.body_contact_forces(TERMINATION_BODIES)

    @property
    def feet_velocities(self) -> torch.Tensor:
        return self.sim.scene.body_vel(FEET)

    def fallen(self) -> torch.Tensor:
        """(num_envs,) bool: the pelvis or torso touches something, or the pelvis is below terminationHeight above the ground."""
        contacts = self.sim.scene.body_contact_forces(TERMINATION_BODIES)
        touching = torch.any(torch.linalg.vector_norm(contacts, dim=-1) > locomotion.CONTACT_THRESHOLD, dim=1)
        return touching | (self.base_height < self.termination_height)

    def compute_reward(self) -> None:
        # the feet's times in the air and on the ground before AnymalTerrain's reward updates its own air time
        _, contact_time, air_time = feet_mode_times(self)
        super().compute_reward()
        self.feet_contact_time.copy_(contact_time)
        self.feet_air_time.copy_(air_time)
        fallen = self.fallen()
        self.rew_buf += self.termination_reward * fallen
        self.reset_buf[:] = fallen.long()

    def reset_idx(self, env_mask: torch.Tensor) -> None:
        super().reset_idx(env_mask)
        self.feet_contact_time.masked_fill_(env_mask[:, None], 0.0)
