"""FrankaCabinet: a Franka Panda arm grasps the top drawer's handle of a cabinet and pulls it open.

IsaacGymEnvs' FrankaCabinet, on MuJoCo: two articulations in one scene, the
arm (7 joints and 2 finger slides, position-driven) and the cabinet (a fixed
carcass whose top drawer slides out 0.4 m). Each reset puts the arm near its
default pose (each joint +-0.125 rad, the fingers +-0.125 m within their
range) with its position targets there, and closes the drawer.

Observations (23), in this order:
  arm and finger joint positions scaled to [-1, 1] over their ranges (9),
  their velocities x dofVelocityScale (9), the handle's grasp point minus the
  gripper's (3), drawer opening (1) and its velocity (1).
Actions (9): joint target velocities; targets += dt x actionScale x action
(the fingers at a tenth of that), clamped to the joint ranges.
Reward (IsaacGymEnvs' terms and scales): gripper-to-handle distance, the
hand's alignment with the handle, fingers on either side of it and close to
it, the drawer's opening (doubled while the fingers are around the handle),
an action penalty, bonuses past 0.01, 0.2 and 0.39 m, and -1 whenever a
finger goes past the handle into the cabinet. The episode ends with the
drawer open beyond 0.39 m, or at maxEpisodeLength.
Success: the drawer stands open at least `successOpening` (0.2 m) when the
episode ends.

Differences from IsaacGymEnvs: the models are authored here from Franka's
public kinematics (see assets/mjcf/franka_cabinet.xml), the cabinet stands
0.1 m nearer the arm, and there are no props in the drawer (IsaacGymEnvs'
default places 16 boxes there).
"""

from __future__ import annotations

import torch

from isaac_rl.sim import Simulation
from isaac_rl.tasks.base.vec_task import VecTask
from isaac_rl.utils.torch_math import quat_axis, scale_to_unit

ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8)) + ("panda_finger_joint1", "panda_finger_joint2")
DRAWER_JOINT = "drawer_top_joint"
# bodies: the point between the finger pads, the handle's grasp point, the fingers, the hand
GRASP, HANDLE, FINGERS, HAND = "panda_grasp", "drawer_handle", ("panda_leftfinger", "panda_rightfinger"), "panda_hand"
NUM_OBS = 2 * len(ARM_JOINTS) + 3 + 2
# IsaacGymEnvs' default arm pose, fingers open
DEFAULT_ARM_POS = (1.157, -1.066, -0.155, -2.239, -1.841, 1.003, 0.469, 0.035, 0.035)
FINGER_SPEED_SCALE = 0.1
RESET_NOISE = 0.25
# a finger this far (m) past the handle, into the cabinet, costs the step's reward
DIST_X_OFFSET = 0.04


class FrankaCabinet(VecTask):
    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture=False, force_render=False):
        env = cfg["env"]
        self.action_scale = float(env["actionScale"])
        self.dof_vel_scale = float(env["dofVelocityScale"])
        self.reward_scales = {
            key: float(env[name])
            for key, name in (
                ("dist_scale", "distRewardScale"), ("rot_scale", "rotRewardScale"), ("around_handle_scale", "aroundHandleRewardScale"),
                ("open_scale", "openRewardScale"), ("finger_dist_scale", "fingerDistRewardScale"), ("action_penalty_scale", "actionPenaltyScale"),
            )
        }  # fmt: skip
        self.success_opening = float(env["successOpening"])
        cfg["env"]["numObservations"] = NUM_OBS
        cfg["env"]["numActions"] = len(ARM_JOINTS)
        super().__init__(cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture, force_render)

        self.scene = self.sim.scene
        self.arm_lower, self.arm_upper = self.sim.ctrl_range.unbind(1)
        self.default_arm_pos = torch.tensor(DEFAULT_ARM_POS, device=self.device)
        self.speed_scales = torch.ones(len(ARM_JOINTS), device=self.device)
        self.speed_scales[-2:] = FINGER_SPEED_SCALE
        self.arm_targets = self.default_arm_pos.repeat(self.num_envs, 1)
        self.actions = torch.zeros((self.num_envs, len(ARM_JOINTS)), device=self.device)
        self.success_buf = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        # how far the drawer is open, logged per step as Episode/drawer_opening
        self.drawer_opening = torch.zeros(self.num_envs, device=self.device)
        self.extras["episode"] = {"drawer_opening": self.drawer_opening}

    def create_sim(self) -> Simulation:
        asset = self.cfg["env"].get("asset", "mjcf/franka_cabinet.xml")
        sim = self.make_sim(asset)
        scene = sim.scene
        missing = [name for name in (*ARM_JOINTS, DRAWER_JOINT) if name not in scene.joint_names("scalar")]
        missing += [name for name in (GRASP, HANDLE, HAND, *FINGERS) if name not in scene.body_names]
        if missing or sim.info.nu != len(ARM_JOINTS):
            raise ValueError(
                f"the FrankaCabinet task needs a model with joints {ARM_JOINTS + (DRAWER_JOINT,)}, bodies "
                f"{(GRASP, HANDLE, HAND) + FINGERS} and {len(ARM_JOINTS)} position actuators (arm, then fingers); "
                f"{asset!r} lacks {missing or 'the actuators'}"
            )
        return sim

    def build_index_plans(self) -> None:
        scene = self.sim.scene
        for joints in (ARM_JOINTS, DRAWER_JOINT):
            scene.joint_pos(joints)
        for bodies in (GRASP, HANDLE, FINGERS, HAND):
            scene.body_pos(bodies)

    def pre_physics_step(self, actions: torch.Tensor) -> None:
        self.actions.copy_(actions)
        targets = self.arm_targets + self.speed_scales * self.dt * self.action_scale * actions
        self.arm_targets.copy_(torch.clamp(targets, self.arm_lower, self.arm_upper))
        self.sim.set_ctrl(self.arm_targets)

    def compute_observations(self) -> None:
        scene = self.scene
        self.obs_buf[:] = compute_franka_observations(
            scene.joint_pos(ARM_JOINTS), scene.joint_vel(ARM_JOINTS), self.arm_lower, self.arm_upper,
            scene.body_pos(GRASP)[:, 0], scene.body_pos(HANDLE)[:, 0],
            scene.joint_pos(DRAWER_JOINT), scene.joint_vel(DRAWER_JOINT), self.dof_vel_scale,
        )  # fmt: skip

    def compute_reward(self) -> None:
        scene = self.scene
        fingers = scene.body_pos(FINGERS)
        hand_quat = scene.body_quat(HAND)[:, 0]
        drawer = scene.joint_pos(DRAWER_JOINT)[:, 0]
        self.rew_buf[:], self.reset_buf[:] = compute_franka_reward(
            scene.body_pos(GRASP)[:, 0], scene.body_pos(HANDLE)[:, 0], quat_axis(hand_quat, 2), quat_axis(hand_quat, 1),
            fingers[:, 0], fingers[:, 1], drawer, self.actions,
            **self.reward_scales,
        )  # fmt: skip
        self.drawer_opening.copy_(drawer)
        self.success_buf.copy_(drawer >= self.success_opening)

    def reset_idx(self, env_mask: torch.Tensor) -> None:
        n = self.num_envs
        noise = RESET_NOISE * (torch.rand((n, len(ARM_JOINTS)), device=self.device) - 0.5)
        arm_pos = torch.clamp(self.default_arm_pos + noise, self.arm_lower, self.arm_upper)
        # arm, fingers, then the closed drawer: the model's qpos order
        qpos = torch.cat((arm_pos, torch.zeros((n, 1), device=self.device)), dim=1)
        self.sim.reset_envs(env_mask, qpos, torch.zeros_like(self.sim.qvel))
        self.arm_targets.copy_(torch.where(env_mask[:, None], arm_pos, self.arm_targets))


def compute_franka_observations(
    arm_pos: torch.Tensor,
    arm_vel: torch.Tensor,
    arm_lower: torch.Tensor,
    arm_upper: torch.Tensor,
    grasp_pos: torch.Tensor,
    handle_pos: torch.Tensor,
    drawer_pos: torch.Tensor,
    drawer_vel: torch.Tensor,
    dof_vel_scale: float,
) -> torch.Tensor:
    """The (num_envs, 23) observation; see the module docstring for the layout."""
    return torch.cat(
        (scale_to_unit(arm_pos, arm_lower, arm_upper), arm_vel * dof_vel_scale, handle_pos - grasp_pos, drawer_pos, drawer_vel),
        dim=-1,
    )


def compute_franka_reward(
    grasp_pos: torch.Tensor,
    handle_pos: torch.Tensor,
    hand_forward: torch.Tensor,
    hand_up: torch.Tensor,
    left_finger_pos: torch.Tensor,
    right_finger_pos: torch.Tensor,
    drawer_pos: torch.Tensor,
    actions: torch.Tensor,
    *,
    dist_scale: float,
    rot_scale: float,
    around_handle_scale: float,
    open_scale: float,
    finger_dist_scale: float,
    action_penalty_scale: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(reward, terminated): IsaacGymEnvs' FrankaCabinet reward, in the world frame of this scene.

    The drawer opens along +x: its inward axis is -x and its up axis +z, so
    the hand should point its approach axis (`hand_forward`, its z) along -x
    and its finger axis (`hand_up`, its y) along +z.
    """
    d = torch.linalg.vector_norm(grasp_pos - handle_pos, dim=-1)
    dist_reward = (1.0 / (1.0 + d**2)) ** 2
    dist_reward = torch.where(d <= 0.02, 2.0 * dist_reward, dist_reward)

    forward_alignment = -hand_forward[:, 0]
    up_alignment = hand_up[:, 2]
    rot_reward = 0.5 * (torch.sign(forward_alignment) * forward_alignment**2 + torch.sign(up_alignment) * up_alignment**2)

    handle_z = handle_pos[:, 2]
    around = (left_finger_pos[:, 2] > handle_z) & (right_finger_pos[:, 2] < handle_z)
    around_handle_reward = 0.5 * around.float()
    finger_dist_reward = torch.where(
        around, (0.04 - torch.abs(left_finger_pos[:, 2] - handle_z)) + (0.04 - torch.abs(right_finger_pos[:, 2] - handle_z)), 0.0
    )
    open_reward = drawer_pos * around_handle_reward + drawer_pos
    reward = (
        dist_scale * dist_reward
        + rot_scale * rot_reward
        + around_handle_scale * around_handle_reward
        + open_scale * open_reward
        + finger_dist_scale * finger_dist_reward
        - action_penalty_scale * torch.sum(actions**2, dim=-1)
    )
    reward = reward + torch.where(drawer_pos > 0.01, 0.5, 0.0)
    reward = reward + torch.where(drawer_pos > 0.2, around_handle_reward, 0.0)
    reward = reward + torch.where(drawer_pos > 0.39, 2.0 * around_handle_reward, 0.0)
    past_handle = (left_finger_pos[:, 0] < handle_pos[:, 0] - DIST_X_OFFSET) | (right_finger_pos[:, 0] < handle_pos[:, 0] - DIST_X_OFFSET)
    reward = torch.where(past_handle, -1.0, reward)
    # the drawer fully open ends the episode
    return reward, (drawer_pos > 0.39).long()
