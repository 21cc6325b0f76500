"""Anymal: a quadruped tracks commanded base velocities on flat ground.

IsaacGymEnvs' Anymal, on an ANYmal-C-like model authored here
(assets/mjcf/anymal.xml). Each episode draws a command: forward and sideways
base velocity and yaw rate, uniform in `randomCommandVelocityRanges`.
Observations (48), in this order: base linear velocity x linearVelocityScale
(3) and angular velocity x angularVelocityScale (3), both in the base frame;
gravity in the base frame (3); the command scaled like the velocities (3);
joint positions minus the standing pose x dofPositionScale (12); joint
velocities x dofVelocityScale (12); last actions (12).
Actions (12): PD position targets, standing pose + actionScale x action; the
model's position actuators (kp 85, kd 2, 80 Nm) track them.
Reward, per second of simulated time (each term x dt): exp(-|command_xy -
base_vel_xy|^2 / 0.25) x linearVelocityXYRewardScale + exp(-(command_yaw -
yaw_rate)^2 / 0.25) x angularVelocityZRewardScale + sum of squared joint
torques x torqueRewardScale, clipped at 0. An episode ends when the base or a
thigh touches the ground, or after episodeLength_s.

IsaacGymEnvs rotates gravity into the base frame with the base quaternion
rather than its inverse; this task uses the inverse (gravity as the base sees
it), as legged_gym does.
"""

from __future__ import annotations

import torch

from isaac_rl.sim import Simulation
from isaac_rl.tasks.base.vec_task import VecTask
from isaac_rl.utils.torch_math import quat_rotate_inverse

LEGS = ("LF", "RF", "LH", "RH")
JOINTS = tuple(f"{leg}_{joint}" for leg in LEGS for joint in ("HAA", "HFE", "KFE"))
NUM_DOFS = len(JOINTS)
NUM_OBS = 3 + 3 + 3 + 3 + NUM_DOFS + NUM_DOFS + NUM_DOFS
# an episode ends when one of these touches anything with more than CONTACT_THRESHOLD newtons
TERMINATION_BODIES = ("base", *(f"{leg}_THIGH" for leg in LEGS))
CONTACT_THRESHOLD = 1.0
# the tracking rewards' scale: exp(-squared error / TRACKING_SIGMA)
TRACKING_SIGMA = 0.25


class Anymal(VecTask):
    # a three-quarter view from behind, following the base
    video_camera = {"distance": 2.5, "azimuth": 150.0, "elevation": -20.0}

    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture=False, force_render=False):
        self.cfg = cfg
        env = cfg["env"]
        learn, control = env["learn"], env["control"]
        self.lin_vel_scale = float(learn["linearVelocityScale"])
        self.ang_vel_scale = float(learn["angularVelocityScale"])
        self.dof_pos_scale = float(learn["dofPositionScale"])
        self.dof_vel_scale = float(learn["dofVelocityScale"])
        self.action_scale = float(control["actionScale"])
        self.command_ranges = command_ranges(env["randomCommandVelocityRanges"])
        self.standing_pose = standing_pose(env["defaultJointAngles"])
        self.base_init_pos = [float(v) for v in env["baseInitState"]["pos"]]
        # IsaacGymEnvs counts the episode in seconds of simulated time
        step_dt = float(cfg["sim"]["dt"]) * int(env.get("controlFrequencyInv", 1))
        env["maxEpisodeLength"] = int(float(learn["episodeLength_s"]) / step_dt + 0.5)
        env["numObservations"] = NUM_OBS
        env["numActions"] = NUM_DOFS
        super().__init__(cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture, force_render)

        # IsaacGymEnvs scales each reward term by dt: rewards per second of simulated time
        self.rew_scales = {
            "lin_vel_xy": float(learn["linearVelocityXYRewardScale"]) * self.dt,
            "ang_vel_z": float(learn["angularVelocityZRewardScale"]) * self.dt,
            "torque": float(learn["torqueRewardScale"]) * self.dt,
        }
        dev = self.device
        self.default_dof_pos = torch.tensor(self.standing_pose, device=dev)
        self.commands = torch.zeros((self.num_envs, 3), device=dev)
        self.command_scale = torch.tensor([self.lin_vel_scale, self.lin_vel_scale, self.ang_vel_scale], device=dev)
        self.actions = torch.zeros((self.num_envs, NUM_DOFS), device=dev)
        self.gravity = torch.tensor([0.0, 0.0, -1.0], device=dev).expand(self.num_envs, 3)
        self.torques = self.sim.actuator_force
        # logged per epoch (Episode/<key>): how well the commands are tracked, in m/s and rad/s
        self.lin_vel_error = torch.zeros(self.num_envs, device=dev)
        self.ang_vel_error = torch.zeros(self.num_envs, device=dev)
        self.extras["episode"] = {"lin_vel_error": self.lin_vel_error, "ang_vel_error": self.ang_vel_error}

    def create_sim(self) -> Simulation:
        asset = self.cfg["env"].get("asset", "mjcf/anymal.xml")
        sim = self.make_sim(asset, contact_forces=True)
        if not sim.info.has_free_root or sim.info.num_dofs != NUM_DOFS or sim.info.nu != NUM_DOFS:
            raise ValueError(
                f"the Anymal task needs a model with a free root joint and {NUM_DOFS} position-actuated hinge joints; "
                f"{asset!r} has {sim.info.num_dofs} dofs and {sim.info.nu} actuators"
            )
        names = sim.scene.joint_names()
        if [name for name in names if name in JOINTS] != list(JOINTS):
            raise ValueError(f"the Anymal task needs joints named {list(JOINTS)} in that order; {asset!r} has {names}")
        return sim

    # -- actions in ----------------------------------------------------------
    def pre_physics_step(self, actions: torch.Tensor) -> None:
        self.actions.copy_(actions)
        self.sim.set_ctrl(self.default_dof_pos + self.action_scale * actions)

    # -- observations and rewards out ----------------------------------------
    def compute_observations(self) -> None:
        sim = self.sim
        self.obs_buf[:] = compute_anymal_observations(
            sim.root_quat, sim.root_lin_vel, sim.root_ang_vel_local, self.gravity, self.commands, self.command_scale,
            sim.dof_pos, self.default_dof_pos, sim.dof_vel, self.actions,
            self.lin_vel_scale, self.ang_vel_scale, self.dof_pos_scale, self.dof_vel_scale,
        )  # fmt: skip

    def compute_reward(self) -> None:
        sim = self.sim
        base_lin_vel = quat_rotate_inverse(sim.root_quat, sim.root_lin_vel)
        contacts = sim.scene.body_contact_forces(TERMINATION_BODIES)
        self.rew_buf[:], self.reset_buf[:], lin_error, ang_error = compute_anymal_reward(
            base_lin_vel, sim.root_ang_vel_local, self.commands, self.torques, contacts, self.progress_buf,
            self.max_episode_length, self.rew_scales["lin_vel_xy"], self.rew_scales["ang_vel_z"], self.rew_scales["torque"],
        )  # fmt: skip
        self.lin_vel_error.copy_(lin_error)
        self.ang_vel_error.copy_(ang_error)

    # -- resets --------------------------------------------------------------
    def reset_idx(self, env_mask: torch.Tensor) -> None:
        n, dev = self.num_envs, self.device
        # as IsaacGymEnvs: the standing pose scaled by 0.5-1.5 per joint, small joint velocities
        dof_pos = self.default_dof_pos * torch.empty((n, NUM_DOFS), device=dev).uniform_(0.5, 1.5)
        dof_vel = torch.empty((n, NUM_DOFS), device=dev).uniform_(-0.1, 0.1)
        root = torch.tensor([*self.base_init_pos, 1.0, 0.0, 0.0, 0.0], device=dev).expand(n, 7)
        qpos = torch.cat((root, dof_pos), dim=1)
        qvel = torch.cat((torch.zeros((n, 6), device=dev), dof_vel), dim=1)
        self.sim.reset_envs(env_mask, qpos, qvel)
        self.commands.copy_(torch.where(env_mask[:, None], sample_commands(n, self.command_ranges, dev), self.commands))
        self.actions.masked_fill_(env_mask[:, None], 0.0)
        self.progress_buf.masked_fill_(env_mask, 0)
        self.reset_buf.masked_fill_(env_mask, 0)


def command_ranges(ranges: dict) -> list[tuple[float, float]]:
    """`randomCommandVelocityRanges` as [(min, max)] for linear_x, linear_y and yaw, checked."""
    parsed = [tuple(map(float, ranges[key])) for key in ("linear_x", "linear_y", "yaw")]
    for key, (low, high) in zip(("linear_x", "linear_y", "yaw"), parsed):
        if low > high:
            raise ValueError(f"env.randomCommandVelocityRanges.{key}=[{low}, {high}]: expected [min, max]")
    return parsed


def standing_pose(angles: dict) -> list[float]:
    """`defaultJointAngles` (rad) in JOINTS order, checked for a value per joint."""
    missing = sorted(set(JOINTS) - set(angles))
    if missing:
        raise ValueError(f"env.defaultJointAngles lacks {missing}; it needs an angle (rad) for each of {list(JOINTS)}")
    return [float(angles[name]) for name in JOINTS]


def sample_commands(n: int, ranges: list[tuple[float, float]], device: torch.device) -> torch.Tensor:
    """(n, 3) commands: forward and sideways velocity (m/s) and yaw rate (rad/s), each uniform in its range."""
    low = torch.tensor([r[0] for r in ranges], device=device)
    high = torch.tensor([r[1] for r in ranges], device=device)
    return low + (high - low) * torch.rand((n, 3), device=device)


def compute_anymal_observations(
    base_quat: torch.Tensor,
    lin_vel_world: torch.Tensor,
    ang_vel_local: torch.Tensor,
    gravity: torch.Tensor,
    commands: torch.Tensor,
    command_scale: torch.Tensor,
    dof_pos: torch.Tensor,
    default_dof_pos: torch.Tensor,
    dof_vel: torch.Tensor,
    actions: torch.Tensor,
    lin_vel_scale: float,
    ang_vel_scale: float,
    dof_pos_scale: float,
    dof_vel_scale: float,
) -> torch.Tensor:
    """The (num_envs, 48) observation; see the module docstring for the layout."""
    return torch.cat(
        (
            quat_rotate_inverse(base_quat, lin_vel_world) * lin_vel_scale,
            ang_vel_local * ang_vel_scale,
            quat_rotate_inverse(base_quat, gravity),
            commands * command_scale,
            (dof_pos - default_dof_pos) * dof_pos_scale,
            dof_vel * dof_vel_scale,
            actions,
        ),
        dim=-1,
    )


def compute_anymal_reward(
    base_lin_vel: torch.Tensor,
    base_ang_vel: torch.Tensor,
    commands: torch.Tensor,
    torques: torch.Tensor,
    termination_contacts: torch.Tensor,
    progress_buf: torch.Tensor,
    max_episode_length: int,
    lin_vel_xy_scale: float,
    ang_vel_z_scale: float,
    torque_scale: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(reward, reset, linear velocity error (m/s), yaw rate error (rad/s)); velocities in the base frame.

    The scales already include dt. `termination_contacts` is (num_envs, bodies, 3):
    any of them above CONTACT_THRESHOLD newtons ends the episode.
    """
    lin_vel_error = torch.sum(torch.square(commands[:, :2] - base_lin_vel[:, :2]), dim=1)
    ang_vel_error = torch.square(commands[:, 2] - base_ang_vel[:, 2])
    reward = (
        torch.exp(-lin_vel_error / TRACKING_SIGMA) * lin_vel_xy_scale
        + torch.exp(-ang_vel_error / TRACKING_SIGMA) * ang_vel_z_scale
        + torch.sum(torch.square(torques), dim=1) * torque_scale
    )
    fallen = torch.any(torch.linalg.vector_norm(termination_contacts, dim=-1) > CONTACT_THRESHOLD, dim=1)
    timed_out = progress_buf >= max_episode_length - 1
    reset = (fallen | timed_out).long()
    return torch.clamp(reward, min=0.0), reset, torch.sqrt(lin_vel_error), torch.sqrt(ang_vel_error)
