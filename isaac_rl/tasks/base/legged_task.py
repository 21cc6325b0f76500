"""`LeggedTask`: a VecTask for robots that walk on velocity commands, assembled from parts.

What the Anymal tasks (and legged tasks to come) share: the standing pose and
PD targets (standing pose + actionScale x action; IsaacGymEnvs' `control.stiffness`
and `control.damping`, where given, set every actuator's gains), velocity commands
(commands.py), the observation group and reward terms a subclass declares
(observations.py, rewards.py, with terms from locomotion.py), base-frame
velocities and gravity refreshed once per step (`update_state`), and
IsaacGymEnvs' robot reset (joints at the standing pose x U(0.5, 1.5),
velocities in +-0.1 rad/s). Rewards are per second of simulated time: each
weight is its yaml value x dt, and the sum is clipped at 0, as IsaacGymEnvs'
(`env.learn.onlyPositiveRewards: false` keeps it whole, as Isaac Lab).
Logged per epoch: each reward term's episode sum (Episode/rew_<name>) and how
well the commands are tracked (Episode/lin_vel_error in m/s,
Episode/ang_vel_error in rad/s): the error at each step, averaged over every
step of every env in the epoch; scripts/evaluate.py reports the same per-step
mean for the episodes it plays (docs/locomotion.md, "Tracking errors in
training and in play").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from isaac_rl.sim import Simulation
from isaac_rl.tasks.base import locomotion
from isaac_rl.tasks.base.commands import VelocityCommands
from isaac_rl.tasks.base.observations import ObservationGroup, ObsTerm
from isaac_rl.tasks.base.rewards import RewardTerms
from isaac_rl.tasks.base.vec_task import VecTask
from isaac_rl.terrain import Terrain
from isaac_rl.utils.torch_math import quat_rotate_inverse

# yaml keys of the observation scales and noises, by term
OBS_KEYS = {
    "base_lin_vel": ("linearVelocityScale", "linearVelocityNoise"),
    "base_ang_vel": ("angularVelocityScale", "angularVelocityNoise"),
    "projected_gravity": (None, "gravityNoise"),
    "dof_pos": ("dofPositionScale", "dofPositionNoise"),
    "dof_vel": ("dofVelocityScale", "dofVelocityNoise"),
}


class LeggedTask(VecTask):
    joints: tuple[str, ...] = ()
    # the ground: a generated terrain (isaac_rl/terrain) set before VecTask.__init__, or the model's floor
    terrain: Terrain | None = None
    # name -> (term function, env.learn key of its weight); zero weights are not computed
    reward_terms: dict[str, tuple[Callable[[Any], torch.Tensor], str]] = {}

    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture=False, force_render=False):
        env = cfg["env"]
        learn = env["learn"]
        self.action_scale = float(env["control"]["actionScale"])
        self.standing_pose = standing_pose(env["defaultJointAngles"], self.joints)
        self.observations = self.observation_group(learn)
        # IsaacGymEnvs counts the episode in seconds of simulated time
        self.episode_length_s = float(learn["episodeLength_s"])
        env["maxEpisodeLength"] = int(self.episode_length_s / self.step_dt(cfg) + 0.5)
        env["numObservations"] = self.observations.size
        env["numActions"] = len(self.joints)
        super().__init__(cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture, force_render)

        n, dev = self.num_envs, self.device
        self.observations.to(dev)
        # IsaacGymEnvs scales each reward term by dt: rewards per second of simulated time
        weights = {name: (fn, float(learn[key]) * self.dt) for name, (fn, key) in self.reward_terms.items()}
        self.rewards = RewardTerms(weights, n, dev, clip_min=0.0 if learn.get("onlyPositiveRewards", True) else None)
        self.velocity_commands = self.make_commands(env["randomCommandVelocityRanges"])
        self.commands = self.velocity_commands.commands
        self.default_dof_pos = torch.tensor(self.standing_pose, device=dev)
        self.base_init_pos = torch.tensor([float(v) for v in env["baseInitState"]["pos"]], device=dev)
        self.upright = torch.tensor([1.0, 0.0, 0.0, 0.0], device=dev).expand(n, 4)
        self.gravity = torch.tensor([0.0, 0.0, -1.0], device=dev).expand(n, 3)
        self.actions = torch.zeros((n, len(self.joints)), device=dev)
        self.torques = self.sim.actuator_force
        self.base_lin_vel = torch.zeros((n, 3), device=dev)
        self.base_ang_vel = torch.zeros((n, 3), device=dev)
        self.projected_gravity = torch.zeros((n, 3), device=dev)
        self.lin_vel_error = torch.zeros(n, device=dev)
        self.ang_vel_error = torch.zeros(n, device=dev)
        self.extras["episode"] = {"lin_vel_error": self.lin_vel_error, "ang_vel_error": self.ang_vel_error}
        self.extras["episode_sums"] = self.rewards.episode_extras()

    @staticmethod
    def step_dt(cfg: dict) -> float:
        """Seconds of simulated time per env step, from the config (before the sim exists)."""
        return float(cfg["sim"]["dt"]) * int(cfg["env"].get("controlFrequencyInv", 1))

    def observation_group(self, learn: dict) -> ObservationGroup:
        """The observation; subclasses add to `proprioception()`."""
        raise NotImplementedError

    def proprioception(self, learn: dict) -> dict[str, ObsTerm]:
        """Base velocities, gravity and commands, joint positions and velocities, scaled (and noisy) as env.learn says."""
        scale = {name: float(learn[key]) if key else 1.0 for name, (key, _) in OBS_KEYS.items()}
        noise = {name: float(learn.get(key, 0.0)) for name, (_, key) in OBS_KEYS.items()}
        num_dofs = len(self.joints)
        command_scale = (scale["base_lin_vel"], scale["base_lin_vel"], scale["base_ang_vel"])
        return {
            "base_lin_vel": ObsTerm(locomotion.base_lin_vel, 3, scale["base_lin_vel"], noise=noise["base_lin_vel"]),
            "base_ang_vel": ObsTerm(locomotion.base_ang_vel, 3, scale["base_ang_vel"], noise=noise["base_ang_vel"]),
            "projected_gravity": ObsTerm(locomotion.projected_gravity, 3, noise=noise["projected_gravity"]),
            "commands": ObsTerm(locomotion.velocity_commands, 3, command_scale),
            "dof_pos": ObsTerm(locomotion.dof_pos_from_standing, num_dofs, scale["dof_pos"], noise=noise["dof_pos"]),
            "dof_vel": ObsTerm(locomotion.dof_vel, num_dofs, scale["dof_vel"], noise=noise["dof_vel"]),
        }

    def make_commands(self, ranges: dict) -> VelocityCommands:
        return VelocityCommands(ranges, self.num_envs, self.device)

    def create_sim(self) -> Simulation:
        asset = self.cfg["env"].get("asset", "mjcf/anymal.xml")
        control = self.cfg["env"]["control"]
        sim = self.make_sim(
            asset,
            contact_forces=True,
            heightfield=self.terrain.heightfield if self.terrain is not None else None,
            position_gains=(control.get("stiffness"), control.get("damping")),
        )
        self.check_floating_robot(sim, asset, len(self.joints))
        names = sim.scene.joint_names()
        if [name for name in names if name in self.joints] != list(self.joints):
            raise ValueError(f"the {type(self).__name__} task needs joints named {list(self.joints)} in that order; {asset!r} has {names}")
        return sim

    # -- the sim's state, as the terms read it ---------------------------------------
    @property
    def root_pos(self) -> torch.Tensor:
        return self.sim.root_pos

    @property
    def dof_pos(self) -> torch.Tensor:
        return self.sim.dof_pos

    @property
    def dof_vel(self) -> torch.Tensor:
        return self.sim.dof_vel

    # -- actions in ----------------------------------------------------------
    def pre_physics_step(self, actions: torch.Tensor) -> None:
        self.actions.copy_(actions)
        self.sim.set_ctrl(self.default_dof_pos + self.action_scale * actions)

    # -- observations and rewards out ----------------------------------------
    def update_state(self) -> None:
        self.velocity_commands.advance()  # once per step: the commands' resampling clock
        self.refresh_state()

    def refresh_state(self) -> None:
        quat = self.sim.root_quat
        self.base_lin_vel.copy_(quat_rotate_inverse(quat, self.sim.root_lin_vel))
        self.base_ang_vel.copy_(self.sim.root_ang_vel_local)
        self.projected_gravity.copy_(quat_rotate_inverse(quat, self.gravity))
        self.velocity_commands.steer(quat)

    def compute_observations(self) -> None:
        self.obs_buf[:] = self.observations.compute(self)

    def compute_reward(self) -> None:
        self.rew_buf[:] = self.rewards.compute(self)
        self.lin_vel_error.copy_(torch.sqrt(locomotion.lin_vel_error_sq(self)))
        self.ang_vel_error.copy_(torch.sqrt(locomotion.ang_vel_error_sq(self)))

    # -- resets --------------------------------------------------------------
    def root_start_positions(self) -> torch.Tensor:
        """(num_envs, 3) where each env's base starts (m)."""
        return self.base_init_pos.expand(self.num_envs, 3)

    def reset_idx(self, env_mask: torch.Tensor) -> None:
        n, dev = self.num_envs, self.device
        # as IsaacGymEnvs: the standing pose scaled by 0.5-1.5 per joint, small joint velocities
        dof_pos = self.default_dof_pos * torch.empty((n, len(self.joints)), device=dev).uniform_(0.5, 1.5)
        dof_vel = torch.empty((n, len(self.joints)), device=dev).uniform_(-0.1, 0.1)
        qpos = torch.cat((self.root_start_positions(), self.upright, dof_pos), dim=1)
        qvel = torch.cat((torch.zeros((n, 6), device=dev), dof_vel), dim=1)
        self.sim.reset_envs(env_mask, qpos, qvel)
        self.velocity_commands.resample(env_mask)
        self.actions.masked_fill_(env_mask[:, None], 0.0)
        self.rewards.reset(env_mask)


def standing_pose(angles: dict, joints: tuple[str, ...]) -> list[float]:
    """`defaultJointAngles` (rad) in `joints` order, checked for a value per joint."""
    missing = sorted(set(joints) - set(angles))
    if missing:
        raise ValueError(f"env.defaultJointAngles lacks {missing}; it needs an angle (rad) for each of {list(joints)}")
    return [float(angles[name]) for name in joints]
