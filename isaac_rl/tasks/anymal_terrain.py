"""AnymalTerrain: the quadruped tracks velocity commands over rough terrain, with a curriculum.

IsaacGymEnvs' AnymalTerrain on the model of `Anymal` (assets/mjcf/anymal.xml)
standing on a generated heightfield (isaac_rl/terrain): slopes, stairs and
obstacles in rows of increasing difficulty. Each env starts on a tile of its
column (terrain kind) and row (level); when its episode ends the curriculum
moves it a row up if it walked off its tile, down if it walked less than a
quarter of what its command asked.

Commands: forward and sideways velocity, and a heading; the yaw-rate command
steers toward the heading (0.5 x heading error, within +-1 rad/s). Commands
under 0.25 m/s are zeroed (standing still is practised too).
Observations (188), in this order: base linear and angular velocity (base
frame, scaled), gravity in the base frame, the command (x, y, yaw rate,
scaled), joint positions minus the standing pose, joint velocities (scaled),
140 ground heights around the base (base height - 0.5 - ground, clipped to
+-1 m, x heightMeasurementScale) and the last actions; with `addNoise`,
uniform noise of IsaacGymEnvs' sizes is added.
Reward, per second (each term x dt), clipped at 0: velocity tracking (as
Anymal) and penalties on vertical base velocity, roll/pitch rates, tilt,
base height, torques, joint accelerations, thigh (knee) contacts, feet
stumbling, action rate and hip motion, plus a reward for feet air time on
touchdown. An episode ends when the base touches the ground or after
episodeLength_s. Every pushInterval_s all robots are pushed: their base gets
a random horizontal velocity in +-1 m/s.

Deviations from IsaacGymEnvs: the ground is MuJoCo heightfields (pieces of
the one grid) rather than a triangle mesh, so stair risers are one-sample
ramps rather than vertical; joint positions are observed relative to the standing pose
(as legged_gym; IsaacGymEnvs observes them raw here); the height scan
interpolates the grid bilinearly; the model's actuators keep kp 85 (Anymal's)
where IsaacGymEnvs' terrain task uses 80; envs that pass the top row go to a
random row (legged_gym) instead of row 0.
"""

from __future__ import annotations

import math

import torch

from isaac_rl.sim import Simulation
from isaac_rl.tasks.anymal import JOINTS, LEGS, NUM_DOFS, TRACKING_SIGMA, command_ranges, sample_commands, standing_pose
from isaac_rl.tasks.base.vec_task import VecTask
from isaac_rl.terrain import ANYMAL_SCAN_X, ANYMAL_SCAN_Y, KINDS, HeightScan, TerrainConfig, generate_terrain, update_terrain_levels
from isaac_rl.utils.torch_math import quat_rotate, quat_rotate_inverse

NUM_HEIGHT_POINTS = len(ANYMAL_SCAN_X) * len(ANYMAL_SCAN_Y)
NUM_OBS = 3 + 3 + 3 + 3 + NUM_DOFS + NUM_DOFS + NUM_HEIGHT_POINTS + NUM_DOFS
FEET = tuple(f"{leg}_FOOT" for leg in LEGS)
KNEES = tuple(f"{leg}_THIGH" for leg in LEGS)
CONTACT_THRESHOLD = 1.0
# IsaacGymEnvs' base height target (m, above the ground under the scan) for the (off by default) base height penalty
BASE_HEIGHT_TARGET = 0.52
# reward keys: config key in env.learn -> name used in the reward dict
REWARD_SCALE_KEYS = {
    "lin_vel_xy": "linearVelocityXYRewardScale",
    "ang_vel_z": "angularVelocityZRewardScale",
    "lin_vel_z": "linearVelocityZRewardScale",
    "ang_vel_xy": "angularVelocityXYRewardScale",
    "orient": "orientationRewardScale",
    "base_height": "baseHeightRewardScale",
    "torque": "torqueRewardScale",
    "joint_acc": "jointAccRewardScale",
    "collision": "kneeCollisionRewardScale",
    "stumble": "feetStumbleRewardScale",
    "action_rate": "actionRateRewardScale",
    "air_time": "feetAirTimeRewardScale",
    "hip": "hipRewardScale",
}


class AnymalTerrain(VecTask):
    video_camera = {"distance": 3.0, "azimuth": 150.0, "elevation": -25.0}

    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture=False, force_render=False):
        self.cfg = cfg
        env = cfg["env"]
        learn, control = env["learn"], env["control"]
        self.lin_vel_scale = float(learn["linearVelocityScale"])
        self.ang_vel_scale = float(learn["angularVelocityScale"])
        self.dof_pos_scale = float(learn["dofPositionScale"])
        self.dof_vel_scale = float(learn["dofVelocityScale"])
        self.height_scale = float(learn["heightMeasurementScale"])
        self.action_scale = float(control["actionScale"])
        self.command_ranges = command_ranges(env["randomCommandVelocityRanges"])
        self.standing_pose = standing_pose(env["defaultJointAngles"])
        self.base_init_pos = [float(v) for v in env["baseInitState"]["pos"]]
        self.terrain = generate_terrain(TerrainConfig.from_task_cfg(env["terrain"]))
        step_dt = float(cfg["sim"]["dt"]) * int(env.get("controlFrequencyInv", 1))
        self.episode_length_s = float(learn["episodeLength_s"])
        env["maxEpisodeLength"] = int(self.episode_length_s / step_dt + 0.5)
        self.push_interval = max(int(float(learn["pushInterval_s"]) / step_dt + 0.5), 1) if learn["pushRobots"] else 0
        env["numObservations"] = NUM_OBS
        env["numActions"] = NUM_DOFS
        super().__init__(cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture, force_render)

        dev, n = self.device, self.num_envs
        # IsaacGymEnvs scales each reward term by dt: rewards per second of simulated time
        self.rew_scales = {name: float(learn[key]) * self.dt for name, key in REWARD_SCALE_KEYS.items()}
        self.default_dof_pos = torch.tensor(self.standing_pose, device=dev)
        self.command_scale = torch.tensor([self.lin_vel_scale, self.lin_vel_scale, self.ang_vel_scale], device=dev)
        # x, y velocity, yaw rate (steered toward the heading), heading
        self.commands = torch.zeros((n, 4), device=dev)
        self.actions = torch.zeros((n, NUM_DOFS), device=dev)
        self.last_actions = torch.zeros((n, NUM_DOFS), device=dev)
        self.last_dof_vel = torch.zeros((n, NUM_DOFS), device=dev)
        self.feet_air_time = torch.zeros((n, len(FEET)), device=dev)
        self.gravity = torch.tensor([0.0, 0.0, -1.0], device=dev).expand(n, 3)
        self.forward = torch.tensor([1.0, 0.0, 0.0], device=dev).expand(n, 3)
        self.torques = self.sim.actuator_force
        self.noise_scale = observation_noise_scale(learn, dev) if learn["addNoise"] else None
        self.step_counter = torch.zeros((), dtype=torch.long, device=dev)

        # the curriculum: each env's row (level) and column (terrain kind), and where it started
        config = self.terrain.config
        self.tile_origins = torch.as_tensor(self.terrain.origins, dtype=torch.float32, device=dev)
        max_init = config.max_init_level if config.curriculum else config.num_levels - 1
        self.terrain_levels = torch.randint(0, max_init + 1, (n,), device=dev)
        self.terrain_types = torch.randint(0, config.num_terrains, (n,), device=dev)
        self.env_origins = self.tile_origins[self.terrain_levels, self.terrain_types]
        self.height_scan = HeightScan(self.terrain.heightfield, ANYMAL_SCAN_X, ANYMAL_SCAN_Y, dev)
        self.measured_heights = torch.zeros((n, self.height_scan.num_points), device=dev)

        # logged per epoch (Episode/<key>)
        self.lin_vel_error = torch.zeros(n, device=dev)
        self.ang_vel_error = torch.zeros(n, device=dev)
        self.mean_terrain_level = torch.zeros((), device=dev)
        # and per terrain kind: where the curriculum holds each kind's envs tells which kind holds the mean back
        self.level_kinds = [kind for kind in KINDS if kind in self.terrain.kinds]
        column_kinds = torch.tensor([self.level_kinds.index(kind) for kind in self.terrain.kinds], device=dev)
        self.column_kinds = torch.nn.functional.one_hot(column_kinds, len(self.level_kinds)).float()  # (columns, kinds)
        self.mean_level_per_kind = torch.zeros(len(self.level_kinds), device=dev)
        self.kind_averaging = torch.zeros((n, len(self.level_kinds)), device=dev)  # levels @ it: each kind's mean
        self._set_kind_averaging()
        self.extras["episode"] = {
            "lin_vel_error": self.lin_vel_error,
            "ang_vel_error": self.ang_vel_error,
            "terrain_level": self.mean_terrain_level,
            **{f"terrain_level_{kind}": self.mean_level_per_kind[i] for i, kind in enumerate(self.level_kinds)},
        }

    def create_sim(self) -> Simulation:
        asset = self.cfg["env"].get("asset", "mjcf/anymal.xml")
        sim = self.make_sim(asset, contact_forces=True, heightfield=self.terrain.heightfield)
        if not sim.info.has_free_root or [name for name in sim.scene.joint_names() if name in JOINTS] != list(JOINTS):
            raise ValueError(f"the AnymalTerrain task needs a model with a free root and joints named {list(JOINTS)} in that order")
        return sim

    # -- actions in ----------------------------------------------------------
    def pre_physics_step(self, actions: torch.Tensor) -> None:
        self.actions.copy_(actions)
        self.sim.set_ctrl(self.default_dof_pos + self.action_scale * actions)

    # -- physics: pushes -------------------------------------------------------
    def post_physics_step(self) -> None:
        self.step_counter += 1
        if self.push_interval:
            self.push_robots(self.step_counter % self.push_interval == 0)
        super().post_physics_step()
        self.last_actions.copy_(self.actions)
        self.last_dof_vel.copy_(self.sim.dof_vel)

    def push_robots(self, push: torch.Tensor) -> None:
        """Where `push` (a bool scalar or (num_envs,)) is set, give the base a random horizontal velocity in +-1 m/s."""
        actor = self.sim.scene.actor_names[0]
        state = self.sim.scene.actor_root_state(actor)
        state[:, 0, 7:9] = 2.0 * torch.rand((self.num_envs, 2), device=self.device) - 1.0
        self.sim.scene.write_root_state(push.expand(self.num_envs), actor, state)

    # -- observations and rewards out ----------------------------------------
    def compute_observations(self) -> None:
        sim = self.sim
        self.measured_heights[:] = self.height_scan.scan(sim.root_pos, sim.root_quat)
        obs = compute_anymal_terrain_observations(
            sim.root_quat, sim.root_pos, sim.root_lin_vel, sim.root_ang_vel_local, self.gravity, self.commands[:, :3],
            self.command_scale, sim.dof_pos, self.default_dof_pos, sim.dof_vel, self.measured_heights, self.actions,
            self.lin_vel_scale, self.ang_vel_scale, self.dof_pos_scale, self.dof_vel_scale, self.height_scale,
        )  # fmt: skip
        if self.noise_scale is not None:
            obs = obs + (2.0 * torch.rand_like(obs) - 1.0) * self.noise_scale
        self.obs_buf[:] = obs

    def compute_reward(self) -> None:
        sim, scene = self.sim, self.sim.scene
        quat = sim.root_quat
        # the yaw-rate command steers toward the commanded heading
        forward = quat_rotate(quat, self.forward)
        heading = torch.atan2(forward[:, 1], forward[:, 0])
        self.commands[:, 2] = torch.clamp(0.5 * wrap_to_pi(self.commands[:, 3] - heading), -1.0, 1.0)
        base_contacts = scene.body_contact_forces("base")[:, 0]
        feet_contacts = scene.body_contact_forces(FEET)
        knee_contacts = scene.body_contact_forces(KNEES)
        terms, self.feet_air_time[:] = anymal_terrain_reward_terms(
            quat_rotate_inverse(quat, sim.root_lin_vel), sim.root_ang_vel_local, quat_rotate_inverse(quat, self.gravity),
            sim.root_pos[:, 2] - self.measured_heights.mean(dim=1), self.commands[:, :3], self.torques, self.last_dof_vel, sim.dof_vel, sim.dof_pos,
            self.default_dof_pos, self.last_actions, self.actions, feet_contacts, knee_contacts, self.feet_air_time, self.dt,
        )  # fmt: skip
        reward = sum(terms[name] * scale for name, scale in self.rew_scales.items())
        self.rew_buf[:] = torch.clamp(reward, min=0.0)
        fallen = torch.linalg.vector_norm(base_contacts, dim=-1) > CONTACT_THRESHOLD
        timed_out = self.progress_buf >= self.max_episode_length - 1
        self.reset_buf[:] = (fallen | timed_out).long()
        self.lin_vel_error.copy_(terms["lin_vel_error"])
        self.ang_vel_error.copy_(terms["ang_vel_error"])

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
        n, dev = self.num_envs, self.device
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

        dof_pos = self.default_dof_pos * torch.empty((n, NUM_DOFS), device=dev).uniform_(0.5, 1.5)
        dof_vel = torch.empty((n, NUM_DOFS), device=dev).uniform_(-0.1, 0.1)
        root_pos = self.env_origins + torch.tensor(self.base_init_pos, device=dev)
        root_pos[:, :2] += torch.empty((n, 2), device=dev).uniform_(-0.5, 0.5)
        upright = torch.tensor([1.0, 0.0, 0.0, 0.0], device=dev).expand(n, 4)
        qpos = torch.cat((root_pos, upright, dof_pos), dim=1)
        qvel = torch.cat((torch.zeros((n, 6), device=dev), dof_vel), dim=1)
        self.sim.reset_envs(env_mask, qpos, qvel)

        commands = sample_commands(n, self.command_ranges, dev)
        # standing still is practised too: commands under 0.25 m/s become zero (heading included)
        commands = commands * (torch.linalg.vector_norm(commands[:, :2], dim=1, keepdim=True) > 0.25)
        new_commands = torch.cat((commands[:, :2], torch.zeros((n, 1), device=dev), commands[:, 2:3]), dim=1)
        self.commands.copy_(torch.where(env_mask[:, None], new_commands, self.commands))
        for buffer in (self.actions, self.last_actions, self.last_dof_vel, self.feet_air_time):
            buffer.masked_fill_(env_mask[:, None], 0.0)
        self.progress_buf.masked_fill_(env_mask, 0)
        self.reset_buf.masked_fill_(env_mask, 0)


def wrap_to_pi(angles: torch.Tensor) -> torch.Tensor:
    """Angles (rad) wrapped into (-pi, pi]."""
    return torch.remainder(angles + math.pi, 2 * math.pi) - math.pi


def observation_noise_scale(learn: dict, device: torch.device) -> torch.Tensor:
    """(NUM_OBS,) half-widths of the uniform observation noise, each x its observation scale and x noiseLevel."""
    level = float(learn["noiseLevel"])
    parts = [
        (3, float(learn["linearVelocityNoise"]) * float(learn["linearVelocityScale"])),
        (3, float(learn["angularVelocityNoise"]) * float(learn["angularVelocityScale"])),
        (3, float(learn["gravityNoise"])),
        (3, 0.0),  # commands
        (NUM_DOFS, float(learn["dofPositionNoise"]) * float(learn["dofPositionScale"])),
        (NUM_DOFS, float(learn["dofVelocityNoise"]) * float(learn["dofVelocityScale"])),
        (NUM_HEIGHT_POINTS, float(learn["heightMeasurementNoise"]) * float(learn["heightMeasurementScale"])),
        (NUM_DOFS, 0.0),  # last actions
    ]
    return torch.cat([torch.full((count,), value * level) for count, value in parts]).to(device)


def compute_anymal_terrain_observations(
    base_quat: torch.Tensor,
    base_pos: torch.Tensor,
    lin_vel_world: torch.Tensor,
    ang_vel_local: torch.Tensor,
    gravity: torch.Tensor,
    commands: torch.Tensor,
    command_scale: torch.Tensor,
    dof_pos: torch.Tensor,
    default_dof_pos: torch.Tensor,
    dof_vel: torch.Tensor,
    ground_heights: torch.Tensor,
    actions: torch.Tensor,
    lin_vel_scale: float,
    ang_vel_scale: float,
    dof_pos_scale: float,
    dof_vel_scale: float,
    height_scale: float,
) -> torch.Tensor:
    """The (num_envs, 188) observation; see the module docstring for the layout."""
    heights = torch.clamp(base_pos[:, 2:3] - 0.5 - ground_heights, -1.0, 1.0) * height_scale
    return torch.cat(
        (
            quat_rotate_inverse(base_quat, lin_vel_world) * lin_vel_scale,
            ang_vel_local * ang_vel_scale,
            quat_rotate_inverse(base_quat, gravity),
            commands * command_scale,
            (dof_pos - default_dof_pos) * dof_pos_scale,
            dof_vel * dof_vel_scale,
            heights,
            actions,
        ),
        dim=-1,
    )


def anymal_terrain_reward_terms(
    base_lin_vel: torch.Tensor,
    base_ang_vel: torch.Tensor,
    projected_gravity: torch.Tensor,
    base_height: torch.Tensor,
    commands: torch.Tensor,
    torques: torch.Tensor,
    last_dof_vel: torch.Tensor,
    dof_vel: torch.Tensor,
    dof_pos: torch.Tensor,
    default_dof_pos: torch.Tensor,
    last_actions: torch.Tensor,
    actions: torch.Tensor,
    feet_contacts: torch.Tensor,
    knee_contacts: torch.Tensor,
    feet_air_time: torch.Tensor,
    dt: float,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Each reward term unscaled (num_envs,), keyed as REWARD_SCALE_KEYS, and the feet's new air times.

    Velocities are in the base frame; contact forces (num_envs, bodies, 3) in
    the world frame. Also returns the tracking errors as `lin_vel_error` (m/s)
    and `ang_vel_error` (rad/s) for logging.
    """
    lin_vel_error = torch.sum(torch.square(commands[:, :2] - base_lin_vel[:, :2]), dim=1)
    ang_vel_error = torch.square(commands[:, 2] - base_ang_vel[:, 2])
    # a foot touching down after time in the air earns (air time - 0.5 s): long steps, no shuffling
    contact = feet_contacts[..., 2] > CONTACT_THRESHOLD
    air_time = feet_air_time + dt
    first_contact = (feet_air_time > 0.0) & contact
    moving = torch.linalg.vector_norm(commands[:, :2], dim=1) > 0.1
    stumble = (torch.linalg.vector_norm(feet_contacts[..., :2], dim=-1) > 5.0) & (feet_contacts[..., 2].abs() < 1.0)
    terms = {
        "lin_vel_xy": torch.exp(-lin_vel_error / TRACKING_SIGMA),
        "ang_vel_z": torch.exp(-ang_vel_error / TRACKING_SIGMA),
        "lin_vel_z": torch.square(base_lin_vel[:, 2]),
        "ang_vel_xy": torch.sum(torch.square(base_ang_vel[:, :2]), dim=1),
        "orient": torch.sum(torch.square(projected_gravity[:, :2]), dim=1),
        "base_height": torch.square(base_height - BASE_HEIGHT_TARGET),
        "torque": torch.sum(torch.square(torques), dim=1),
        "joint_acc": torch.sum(torch.square(last_dof_vel - dof_vel), dim=1),
        "collision": torch.sum(torch.linalg.vector_norm(knee_contacts, dim=-1) > CONTACT_THRESHOLD, dim=1).float(),
        "stumble": torch.sum(stumble, dim=1).float(),
        "action_rate": torch.sum(torch.square(last_actions - actions), dim=1),
        "air_time": torch.sum((air_time - 0.5) * first_contact, dim=1) * moving,
        "hip": torch.sum(torch.abs(dof_pos[:, 0::3] - default_dof_pos[0::3]), dim=1),
        "lin_vel_error": torch.sqrt(lin_vel_error),
        "ang_vel_error": torch.sqrt(ang_vel_error),
    }
    return terms, air_time * ~contact
