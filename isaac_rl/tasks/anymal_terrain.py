"""AnymalTerrain: the quadruped tracks velocity commands over rough terrain, with a curriculum.

IsaacGymEnvs' AnymalTerrain on the model of `Anymal` (assets/mjcf/anymal.xml)
standing on a generated heightfield (isaac_rl/terrain): slopes, stairs and
obstacles in rows of increasing difficulty. Each env starts on a tile of its
column (terrain kind) and row (level); when its episode ends the curriculum
moves it a row up if it walked off its tile, down if it walked less than a
quarter of what its command asked.

Built from parts like `Anymal` (isaac_rl/tasks/base/legged_task.py).
Commands: forward and sideways velocity, and a heading; the yaw-rate command
steers toward the heading (0.5 x heading error, within +-1 rad/s), refreshed
each step before observations and reward read it. Commands under 0.25 m/s
are zeroed (standing still is practised too).
Observations (188), in this order: Anymal's but the last actions (48 - 12),
140 ground heights around the base (base height - 0.5 - ground, clipped to
+-1 m, x heightMeasurementScale), the last actions; with `addNoise`, uniform
noise of IsaacGymEnvs' sizes is added (`task.observations.describe()`).
Reward, per second (each term x dt), clipped at 0: `REWARD_TERMS` below,
velocity tracking (as Anymal) and penalties on vertical base velocity,
roll/pitch rates, tilt, base height, torques, joint accelerations, thigh
(knee) contacts, feet stumbling, action rate and hip motion, plus a reward
for feet air time on touchdown; each term's episode sum is logged
(Episode/rew_<name>). An episode ends when the base touches the ground or
after episodeLength_s. Every pushInterval_s all robots are pushed: their
base gets a random horizontal velocity in +-1 m/s.

Each step resets the envs that are done within it (`reset_in_same_step`), as
IsaacGymEnvs' AnymalTerrain does.

Deviations from IsaacGymEnvs: the ground is MuJoCo heightfields (pieces of
the one grid) rather than a triangle mesh, so stair risers are one-sample
ramps rather than vertical; joint positions are observed relative to the standing pose
(as legged_gym; IsaacGymEnvs observes them raw here); the height scan
interpolates the grid bilinearly; envs that pass the top row go to a
random row (legged_gym) instead of row 0; actions are clipped at +-100
(`clipActions`, legged_gym's) where IsaacGymEnvs' are not clipped at all.
"""

from __future__ import annotations

import torch

from isaac_rl.tasks.anymal import JOINTS, LEGS
from isaac_rl.tasks.base import locomotion as terms
from isaac_rl.tasks.base.commands import VelocityCommands
from isaac_rl.tasks.base.event_terms import push_by_setting_velocity
from isaac_rl.tasks.base.events import Event
from isaac_rl.tasks.base.legged_task import LeggedTask
from isaac_rl.tasks.base.observations import ObservationGroup, ObsTerm
from isaac_rl.terrain import ANYMAL_SCAN_X, ANYMAL_SCAN_Y, HeightScan, TerrainConfig, generate_terrain, update_terrain_levels

FEET = tuple(f"{leg}_FOOT" for leg in LEGS)
KNEES = tuple(f"{leg}_THIGH" for leg in LEGS)
# a drawn command slower than this (m/s) becomes zero, heading included
COMMAND_DEADBAND = 0.25
# name (legged_gym's) -> (term, env.learn key of its weight), in IsaacGymEnvs' order
REWARD_TERMS = {
    "tracking_lin_vel": (terms.tracking_lin_vel, "linearVelocityXYRewardScale"),
    "tracking_ang_vel": (terms.tracking_ang_vel, "angularVelocityZRewardScale"),
    "lin_vel_z": (terms.lin_vel_z, "linearVelocityZRewardScale"),
    "ang_vel_xy": (terms.ang_vel_xy, "angularVelocityXYRewardScale"),
    "orientation": (terms.orientation, "orientationRewardScale"),
    "base_height": (terms.base_height, "baseHeightRewardScale"),
    "torques": (terms.torques, "torqueRewardScale"),
    "joint_acc": (terms.joint_acc, "jointAccRewardScale"),
    "collision": (terms.collision, "kneeCollisionRewardScale"),
    "stumble": (terms.stumble, "feetStumbleRewardScale"),
    "action_rate": (terms.action_rate, "actionRateRewardScale"),
    "feet_air_time": (terms.feet_air_time, "feetAirTimeRewardScale"),
    "hip": (terms.hip, "hipRewardScale"),
}


class AnymalTerrain(LeggedTask):
    video_camera = {"distance": 3.0, "azimuth": 150.0, "elevation": -25.0}
    # IsaacGymEnvs' AnymalTerrain (as legged_gym and Isaac Lab) resets the envs that are done within the step: the
    # observation returned with a done flag is the new episode's first, and no action is spent on a fallen robot
    reset_in_same_step = True
    joints = JOINTS
    reward_terms = REWARD_TERMS
    # what another robot on this terrain (BipedTerrain) replaces: feet, bodies whose
    # contacts the collision term counts, the body whose contact ends an episode, the height scan's grid
    feet = FEET
    knees = KNEES
    base_body = "base"
    scan_x, scan_y = ANYMAL_SCAN_X, ANYMAL_SCAN_Y

    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture=False, force_render=False):
        self.terrain = generate_terrain(TerrainConfig.from_task_cfg(cfg["env"]["terrain"]))
        super().__init__(cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture, force_render)

        dev, n = self.device, self.num_envs
        self.last_actions = torch.zeros((n, len(self.joints)), device=dev)
        self.last_dof_vel = torch.zeros((n, len(self.joints)), device=dev)
        self.feet_air_time = torch.zeros((n, len(self.feet)), device=dev)

        # the curriculum: each env's row (level) and column (terrain kind), and where it started
        config = self.terrain.config
        self.tile_origins = torch.as_tensor(self.terrain.origins, dtype=torch.float32, device=dev)
        max_init = config.max_init_level if config.curriculum else config.num_levels - 1
        self.terrain_levels = torch.randint(0, max_init + 1, (n,), device=dev)
        self.terrain_types = torch.randint(0, config.num_terrains, (n,), device=dev)
        self.env_origins = self.tile_origins[self.terrain_levels, self.terrain_types]
        self.height_scan = HeightScan(self.terrain.heightfield, self.scan_x, self.scan_y, dev)
        self.measured_heights = torch.zeros((n, self.height_scan.num_points), device=dev)

        # logged per epoch (Episode/<key>), with the tracking errors and reward terms
        self.mean_terrain_level = torch.zeros((), device=dev)
        # and per terrain kind: where the curriculum holds each kind's envs tells which kind holds the mean back
        self.level_kinds = [kind for kind in config.kinds if kind in self.terrain.kinds]
        column_kinds = torch.tensor([self.level_kinds.index(kind) for kind in self.terrain.kinds], device=dev)
        self.column_kinds = torch.nn.functional.one_hot(column_kinds, len(self.level_kinds)).float()  # (columns, kinds)
        self.mean_level_per_kind = torch.zeros(len(self.level_kinds), device=dev)
        self.kind_averaging = torch.zeros((n, len(self.level_kinds)), device=dev)  # levels @ it: each kind's mean
        self._set_kind_averaging()
        self.extras["episode"].update(
            terrain_level=self.mean_terrain_level,
            **{f"terrain_level_{kind}": self.mean_level_per_kind[i] for i, kind in enumerate(self.level_kinds)},
        )

    def observation_group(self, learn: dict) -> ObservationGroup:
        heights = ObsTerm(terms.height_scan, len(self.scan_x) * len(self.scan_y), float(learn["heightMeasurementScale"]), clip=1.0,
                          noise=float(learn["heightMeasurementNoise"]))  # fmt: skip
        observations = {**self.proprioception(learn), "heights": heights, "actions": ObsTerm(terms.last_actions, len(self.joints))}
        return ObservationGroup(observations, noise_level=float(learn["noiseLevel"]) if learn["addNoise"] else None)

    def make_commands(self, ranges: dict) -> VelocityCommands:
        return VelocityCommands(ranges, self.num_envs, self.device, heading_control=True, deadband=COMMAND_DEADBAND)

    # -- what the terms read ---------------------------------------------------
    @property
    def base_height(self) -> torch.Tensor:
        return self.root_pos[:, 2] - self.measured_heights.mean(dim=1)

    @property
    def feet_forces(self) -> torch.Tensor:
        return self.sim.scene.body_contact_forces(self.feet)

    @property
    def collision_forces(self) -> torch.Tensor:
        return self.sim.scene.body_contact_forces(self.knees)

    def build_index_plans(self) -> None:
        scene = self.sim.scene
        for bodies in (self.feet, self.base_body, *((self.knees,) if self.knees else ())):
            scene.body_contact_forces(bodies)

    # -- physics: pushes --------------------------------------------------------
    def events(self) -> dict[str, Event]:
        """Every pushInterval_s (one clock for all envs) the bases get a horizontal velocity in +-pushVelocity m/s."""
        learn = self.cfg["env"]["learn"]
        if not learn["pushRobots"]:
            return {}
        speed = float(learn.get("pushVelocity", 1.0))
        push = {"velocity_range": {"x": (-speed, speed), "y": (-speed, speed)}}
        return {"push_robots": Event(push_by_setting_velocity, "interval", push, interval_s=float(learn["pushInterval_s"]), global_time=True)}

    def post_physics_step(self) -> None:
        super().post_physics_step()
        self.last_actions.copy_(self.actions)
        self.last_dof_vel.copy_(self.sim.dof_vel)

    # -- observations and rewards out ----------------------------------------
    def refresh_state(self) -> None:
        super().refresh_state()
        self.measured_heights[:] = self.height_scan.scan(self.sim.root_pos, self.sim.root_quat)

    def compute_reward(self) -> None:
        super().compute_reward()
        self.feet_air_time[:] = terms.next_feet_air_time(self)
        base_contacts = self.sim.scene.body_contact_forces(self.base_body)[:, 0]
        self.reset_buf[:] = (torch.linalg.vector_norm(base_contacts, dim=-1) > terms.CONTACT_THRESHOLD).long()

    # -- checkpoints: a resumed run's curriculum goes on where it stopped -------------
    def get_env_state(self) -> dict:
        return {"terrain_levels": self.terrain_levels.cpu().clone(), "terrain_types": self.terrain_types.cpu().clone()}

    def set_env_state(self, env_state: dict | None) -> None:
        if not env_state or "terrain_levels" not in env_state:
            return  # a checkpoint without a curriculum (another task's, or an old one)
        levels = env_state["terrain_levels"].to(self.device).clamp(0, self.terrain.config.num_levels - 1)
        types = env_state["terrain_types"].to(self.device).clamp(0, self.terrain.config.num_terrains - 1)
        if levels.numel() != self.num_envs:
            # another num_envs: rows drawn from the saved ones, columns as drawn at start-up
            levels, types = levels[torch.randint(0, levels.numel(), (self.num_envs,), device=self.device)], self.terrain_types
        self.terrain_levels.copy_(levels)
        self.terrain_types.copy_(types)
        self.env_origins.copy_(self.tile_origins[self.terrain_levels, self.terrain_types])
        self._set_kind_averaging()
        self._update_level_means()

    def _set_kind_averaging(self) -> None:
        """Envs keep their column (kind) until set_env_state: the per-kind averaging is set here, not every step."""
        env_kinds = self.column_kinds[self.terrain_types]  # (envs, kinds)
        self.kind_averaging.copy_(env_kinds / env_kinds.sum(dim=0).clamp_min(1.0))

    def _update_level_means(self) -> None:
        levels = self.terrain_levels.float()
        self.mean_terrain_level.copy_(levels.mean())
        self.mean_level_per_kind.copy_(levels @ self.kind_averaging)

    # -- resets --------------------------------------------------------------
    def reset_idx(self, env_mask: torch.Tensor) -> None:
        config = self.terrain.config
        # the curriculum judges finished episodes (progress > 0), not the first reset
        if config.curriculum:
            judged = env_mask & (self.progress_buf > 0)
            distance = torch.linalg.vector_norm(self.sim.root_pos[:, :2] - self.env_origins[:, :2], dim=1)
            command_speed = torch.linalg.vector_norm(self.commands[:, :2], dim=1)
            new_levels = update_terrain_levels(
                self.terrain_levels, distance, command_speed, self.episode_length_s, config.map_length, config.num_levels
            )
            self.terrain_levels.copy_(torch.where(judged, new_levels, self.terrain_levels))
            self.env_origins.copy_(self.tile_origins[self.terrain_levels, self.terrain_types])
        self._update_level_means()

        super().reset_idx(env_mask)
        for buffer in (self.last_actions, self.last_dof_vel, self.feet_air_time):
            buffer.masked_fill_(env_mask[:, None], 0.0)

    def root_start_positions(self) -> torch.Tensor:
        """Each env's tile origin + baseInitState, shifted within +-0.5 m."""
        root_pos = self.env_origins + self.base_init_pos
        root_pos[:, :2] += torch.empty((self.num_envs, 2), device=self.device).uniform_(-0.5, 0.5)
        return root_pos
