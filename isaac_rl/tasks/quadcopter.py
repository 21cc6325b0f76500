"""Quadcopter: fly a free quadrotor to a target 1 m above the origin and hover there.

IsaacGymEnvs' Quadcopter, on MuJoCo, driven only by external forces: each
rotor's thrust (along the chassis' up axis) and its drag torque (about that
axis, alternating in sign around the frame) are written into the rotor
bodies' `xfrc_applied` every step. Resets place the quadrotor at a random
point within +-1.5 m horizontally and -0.2..+1.5 m vertically of the target.

Observations (13), in this order:
  target - position / 3 (3), orientation quaternion wxyz (4), linear velocity
  / 2 (3), angular velocity / pi (3), all in the world frame.
Actions (4): rotor thrusts, mapped from [-1, 1] to [0, maxThrust] N.
Reward: pos + pos x (up + spin) + precision, with pos = 1 / (1 + distance^2),
up = 1 / (1 + (1 - up_z)^2), spin = 1 / (1 + yaw_rate^2): uprightness and
spinning count only near the target; precision = precisionWeight /
(1 + (distance / precisionScale)^2). The episode ends farther than 3 m from
the target, below 0.3 m, or at maxEpisodeLength.
Success: within `successRadius` of the target for the last `holdSteps` steps
of an episode that ran its full length.

Differences from IsaacGymEnvs: its rotors tilt on eight position-driven
joints (12 actions, 21 observations) and its thrusts are integrated from the
actions as rates; here the frame is rigid, each action sets its rotor's
thrust directly and yaw comes from rotor drag, as on a real quadrotor. The
precision term is new: IsaacGymEnvs' reward is almost flat within 0.3 m of
the target (0.92 of its peak there), and policies trained on it alone hover
0.15-0.3 m off; precisionWeight=0 gives IsaacGymEnvs' reward.
"""

from __future__ import annotations

import torch

from isaac_rl.sim import Simulation
from isaac_rl.tasks.base.vec_task import VecTask
from isaac_rl.utils.torch_math import quat_axis

ROTORS = ("rotor0", "rotor1", "rotor2", "rotor3")
# rotor spin directions (+ counter-clockwise seen from above): diagonal pairs turn alike, so drag torques cancel in a hover
ROTOR_SPIN = (1.0, -1.0, 1.0, -1.0)
NUM_OBS = 13
TARGET = (0.0, 0.0, 1.0)
MAX_TARGET_DISTANCE = 3.0
MIN_HEIGHT = 0.3


class Quadcopter(VecTask):
    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture=False, force_render=False):
        env = cfg["env"]
        self.max_thrust, self.drag_torque_ratio = float(env["maxThrust"]), float(env["dragTorqueRatio"])
        # success: within successRadius (m) of the target for the last holdSteps steps of a full-length episode
        self.success_radius, self.hold_steps = float(env["successRadius"]), int(env["holdSteps"])
        self.precision_weight, self.precision_scale = float(env["precisionWeight"]), float(env["precisionScale"])
        cfg["env"]["numObservations"] = NUM_OBS
        cfg["env"]["numActions"] = len(ROTORS)
        super().__init__(cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture, force_render)

        self.scene = self.sim.scene
        self.rotor_ids = torch.tensor(self.scene.body_ids(ROTORS), dtype=torch.long, device=self.device)
        self.rotor_spin = torch.tensor(ROTOR_SPIN, device=self.device)
        self.targets = torch.tensor(TARGET, device=self.device).repeat(self.num_envs, 1)
        self.start_state = self.scene.actor_root_state("chassis")[0, 0].clone()
        self.thrusts = torch.zeros((self.num_envs, len(ROTORS)), device=self.device)
        self.success_buf = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        self.target_distance = torch.zeros(self.num_envs, device=self.device)
        self.extras["episode"] = {"target_distance": self.target_distance}
        # consecutive steps within successRadius of the target
        self.steps_near_target = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)

    def create_sim(self) -> Simulation:
        asset = self.cfg["env"].get("asset", "mjcf/quadcopter.xml")
        sim = self.make_sim(asset)
        missing = [name for name in ROTORS if name not in sim.scene.body_names]
        if missing or sim.scene.actor_names[:1] != ["chassis"] or not sim.info.has_free_root:
            raise ValueError(
                f"the Quadcopter task needs a model whose first body is a free 'chassis' with rotor bodies {ROTORS}; "
                f"{asset!r} has actors {sim.scene.actor_names} and lacks bodies {missing}"
            )
        return sim

    def build_index_plans(self) -> None:
        self.sim.scene.actor_root_state("chassis")

    def pre_physics_step(self, actions: torch.Tensor) -> None:
        self.thrusts.copy_(0.5 * (actions + 1.0) * self.max_thrust)
        self.sim.scene.xfrc_applied[:, self.rotor_ids] = rotor_wrenches(
            self.thrusts, self.sim.root_quat, self.rotor_spin, self.drag_torque_ratio
        )

    def compute_observations(self) -> None:
        self.obs_buf[:] = compute_quadcopter_observations(
            self.sim.root_pos, self.sim.root_quat, self.sim.root_lin_vel, self.sim.root_ang_vel, self.targets
        )

    def compute_reward(self) -> None:
        self.rew_buf[:], self.reset_buf[:] = compute_quadcopter_reward(
            self.sim.root_pos, self.sim.root_quat, self.sim.root_ang_vel, self.targets,
            precision_weight=self.precision_weight, precision_scale=self.precision_scale,
        )  # fmt: skip
        self.target_distance.copy_(torch.linalg.vector_norm(self.targets - self.sim.root_pos, dim=-1))
        near = self.target_distance < self.success_radius
        self.steps_near_target.copy_(torch.where(near, self.steps_near_target + 1, torch.zeros_like(self.steps_near_target)))
        self.success_buf.copy_(self.timeout_buf.bool() & (self.steps_near_target >= self.hold_steps))

    def reset_idx(self, env_mask: torch.Tensor) -> None:
        n = self.num_envs
        states = self.start_state.expand(n, 13).clone()
        # the offsets along x, y and z in one draw (see "Random draws" in isaac_rl/tasks/base/vec_task.py)
        u = torch.rand((n, 3), device=self.device)
        states[:, 0:2] += -1.5 + 3.0 * u[:, 0:2]
        states[:, 2] += -0.2 + 1.7 * u[:, 2]
        # a reset clears xfrc_applied: the rotors are idle until the next action
        self.sim.reset_envs(env_mask, self.sim.default_qpos.expand(n, -1), torch.zeros_like(self.sim.qvel))
        self.scene.write_root_state(env_mask, "chassis", states[:, None])
        self.steps_near_target.masked_fill_(env_mask, 0)


def rotor_wrenches(thrusts: torch.Tensor, chassis_quat: torch.Tensor, spin: torch.Tensor, drag_torque_ratio: float) -> torch.Tensor:
    """(num_envs, 4, 6) world-frame force and torque per rotor: thrust along the chassis' up axis, drag torque about it.

    A rotor spinning counter-clockwise (spin +1) pushes the frame clockwise:
    its drag torque is -spin x ratio x thrust about the up axis.
    """
    up = quat_axis(chassis_quat, 2)[:, None, :]
    force = thrusts[..., None] * up
    torque = (-drag_torque_ratio * spin * thrusts)[..., None] * up
    return torch.cat((force, torque), dim=-1)


def compute_quadcopter_observations(
    pos: torch.Tensor, quat: torch.Tensor, lin_vel: torch.Tensor, ang_vel: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """The (num_envs, 13) observation; see the module docstring for the layout and scales."""
    return torch.cat(((targets - pos) / 3.0, quat, lin_vel / 2.0, ang_vel / torch.pi), dim=-1)


def compute_quadcopter_reward(
    pos: torch.Tensor,
    quat: torch.Tensor,
    ang_vel: torch.Tensor,
    targets: torch.Tensor,
    precision_weight: float = 0.0,
    precision_scale: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(reward, terminated): IsaacGymEnvs' position, uprightness and spin terms, plus the precision term; terminated when lost or too low."""
    distance = torch.linalg.vector_norm(targets - pos, dim=-1)
    pos_reward = 1.0 / (1.0 + distance * distance)
    tilt = torch.abs(1.0 - quat_axis(quat, 2)[:, 2])
    up_reward = 1.0 / (1.0 + tilt * tilt)
    spin = torch.abs(ang_vel[:, 2])
    spin_reward = 1.0 / (1.0 + spin * spin)
    precision_reward = precision_weight / (1.0 + (distance / precision_scale) ** 2)
    reward = pos_reward + pos_reward * (up_reward + spin_reward) + precision_reward
    lost = (distance > MAX_TARGET_DISTANCE) | (pos[:, 2] < MIN_HEIGHT)
    return reward, lost.long()
