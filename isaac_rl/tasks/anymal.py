"""Anymal: a quadruped tracks commanded base velocities on flat ground.

IsaacGymEnvs' Anymal, on an ANYmal-C-like model authored here
(assets/mjcf/anymal.xml), built from parts (isaac_rl/tasks/base/legged_task.py).
Each episode draws a command: forward and sideways base velocity and yaw
rate, uniform in `randomCommandVelocityRanges`.
Observations (48), `OBSERVATIONS` below in this order: base linear velocity
x linearVelocityScale (3) and angular velocity x angularVelocityScale (3),
both in the base frame; gravity in the base frame (3); the command scaled
like the velocities (3); joint positions minus the standing pose x
dofPositionScale (12); joint velocities x dofVelocityScale (12); last actions (12).
Actions (12): PD position targets, standing pose + actionScale x action; the
position actuators track them with `control.stiffness` and `control.damping`
(IsaacGymEnvs' keys: kp 85, kd 2, as the model's) within 80 Nm.
Reward, per second of simulated time (each term x dt), clipped at 0:
tracking_lin_vel exp(-|command_xy - base_vel_xy|^2 / 0.25) x
linearVelocityXYRewardScale + tracking_ang_vel exp(-(command_yaw -
yaw_rate)^2 / 0.25) x angularVelocityZRewardScale + torques (sum of squared
joint torques) x torqueRewardScale. An episode ends when the base or a
thigh touches the ground, or after episodeLength_s.

IsaacGymEnvs rotates gravity into the base frame with the base quaternion
rather than its inverse; this task uses the inverse (gravity as the base sees
it), as legged_gym does.
"""

from __future__ import annotations

import torch

from isaac_rl.tasks.base import locomotion
from isaac_rl.tasks.base.legged_task import LeggedTask
from isaac_rl.tasks.base.observations import ObservationGroup, ObsTerm

LEGS = ("LF", "RF", "LH", "RH")
JOINTS = tuple(f"{leg}_{joint}" for leg in LEGS for joint in ("HAA", "HFE", "KFE"))
NUM_DOFS = len(JOINTS)
# an episode ends when one of these touches anything with more than CONTACT_THRESHOLD newtons
TERMINATION_BODIES = ("base", *(f"{leg}_THIGH" for leg in LEGS))


class Anymal(LeggedTask):
    # a three-quarter view from behind, following the base
    video_camera = {"distance": 2.5, "azimuth": 150.0, "elevation": -20.0}
    joints = JOINTS
    reward_terms = {
        "tracking_lin_vel": (locomotion.tracking_lin_vel, "linearVelocityXYRewardScale"),
        "tracking_ang_vel": (locomotion.tracking_ang_vel, "angularVelocityZRewardScale"),
        "torques": (locomotion.torques, "torqueRewardScale"),
    }

    def observation_group(self, learn: dict) -> ObservationGroup:
        return ObservationGroup({**self.proprioception(learn), "actions": ObsTerm(locomotion.last_actions, NUM_DOFS)})

    def build_index_plans(self) -> None:
        self.sim.scene.body_contact_forces(TERMINATION_BODIES)

    def compute_reward(self) -> None:
        super().compute_reward()
        contacts = self.sim.scene.body_contact_forces(TERMINATION_BODIES)
        fallen = torch.any(torch.linalg.vector_norm(contacts, dim=-1) > locomotion.CONTACT_THRESHOLD, dim=1)
        self.reset_buf[:] = fallen.long()
