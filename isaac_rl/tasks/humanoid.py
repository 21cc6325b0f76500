"""Humanoid: a 21-joint humanoid runs toward a target 1000 m along +x.

IsaacGymEnvs' Humanoid, on MuJoCo (assets/mjcf/humanoid.xml, its
nv_humanoid's facts). It is Ant's runner on another body, as in
IsaacGymEnvs, so it is `Ant` with another `ant.RunnerBody`: this model and
these parts:
- Observations (108): Ant's terms for 21 joints, the angular velocity
  x angularVelocityScale, joint torques x contactForceScale after the
  joint velocities, and the two ankles' force/torque sensors (12).
- Actions (21): joint torques = action x motor gear (the model's, 22.5 to
  135 N m) x powerScale.
- Reward: alive bonus 2.0; the energy cost weighs each joint by its gear
  over the largest gear, and a joint past 98% of its range costs in
  proportion to how far past (and to its gear ratio); the rest as Ant
  (progress, up, heading, actions cost); deathCost once the torso falls
  below terminationHeight (0.8 m), which also ends the episode.
Success (`success_buf`, scripts/evaluate.py's success rate): an episode that
reaches the time limit at a mean forward speed (x distance from the start
over the episode's time) of at least successSpeed m/s; that mean speed so far
is logged as Episode/mean_forward_speed.
"""

from __future__ import annotations

import torch

from isaac_rl.sim import force_torque_sensor_names
from isaac_rl.tasks import ant
from isaac_rl.tasks.base.observations import ObservationGroup, ObsTerm
from isaac_rl.tasks.base.rewards import RewardFunction

NUM_DOFS = 21
FOOT_SENSORS = force_torque_sensor_names(("right_foot", "left_foot"))

ALIVE_BONUS = 2.0
# |scaled dof position| above this starts the joints-at-limit cost, which grows to 1 at the limit
AT_LIMIT = 0.98


def observation_group(env: dict) -> ObservationGroup:
    """The 108 observations, in IsaacGymEnvs' order (the module docstring)."""
    terms = ant.observation_terms(env, NUM_DOFS, len(FOOT_SENSORS) // 2)
    dof_force = ObsTerm(lambda task: task.dof_force, NUM_DOFS, float(env["contactForceScale"]))
    ordered: dict[str, ObsTerm] = {}
    for name, term in terms.items():
        ordered[name] = term
        if name == "dof_vel":
            ordered["dof_force"] = dof_force
    return ObservationGroup(ordered)


def reward_terms(env: dict) -> dict[str, tuple[RewardFunction, float]]:
    """Ant's terms with Humanoid's alive bonus, gear-weighted energy cost and graded joints-at-limit cost."""
    terms = ant.reward_terms(env)
    terms["alive"] = (terms["alive"][0], ALIVE_BONUS)
    terms["energy_cost"] = (energy_cost, terms["energy_cost"][1])
    terms["joints_at_limit"] = (joints_at_limit_cost, terms["joints_at_limit"][1])
    return terms


def energy_cost(task) -> torch.Tensor:
    """sum |action x scaled joint velocity| x gear / largest gear."""
    return torch.sum(torch.abs(task.actions * task.dof_vel_scaled) * task.motor_effort_ratio, dim=-1)


def joints_at_limit_cost(task) -> torch.Tensor:
    """sum over joints past 98% of their range of (|scaled position| - 0.98) / 0.02 x gear / largest gear."""
    excess = torch.abs(task.dof_pos_unit) - AT_LIMIT
    return torch.sum(torch.clamp(excess, min=0.0) / (1.0 - AT_LIMIT) * task.motor_effort_ratio, dim=-1)


class Humanoid(ant.Ant):
    body = ant.RunnerBody("mjcf/humanoid.xml", NUM_DOFS, FOOT_SENSORS, observation_group, reward_terms)

    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture=False, force_render=False):
        super().__init__(cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture, force_render)
        # IsaacGymEnvs' motor efforts: the gears, in action order; the model
        # names each motor after its joint, so dof order = actuator order is checked by name
        info = self.sim.info
        if info.actuator_names != info.dof_names:
            raise ValueError(f"the Humanoid model's actuators must be named after its dofs, in dof order {info.dof_names}; got {info.actuator_names}")
        self.motor_efforts = torch.as_tensor(info.actuator_gear, dtype=torch.float32, device=self.device)
        self.motor_effort_ratio = self.motor_efforts / self.motor_efforts.max()
        # taken once here, so the step (and its CUDA graph) reads the same array every time
        self.actuator_force = self.sim.actuator_force
        self.success_speed = float(cfg["env"]["successSpeed"])
        self.mean_forward_speed = torch.zeros(self.num_envs, device=self.device)
        self.success_buf = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        self.extras["episode"]["mean_forward_speed"] = self.mean_forward_speed

    def compute_reward(self) -> None:
        super().compute_reward()
        elapsed = self.progress_buf.clamp(min=1) * self.dt
        self.mean_forward_speed.copy_((self.sim.root_pos[:, 0] - self.start_root_pose[0]) / elapsed)
        self.success_buf.copy_(self.timeout_buf.bool() & (self.mean_forward_speed >= self.success_speed))

    @property
    def dof_force(self) -> torch.Tensor:
        """(num_envs, 21) joint torques (N m) the motors applied in the last physics step."""
        return self.actuator_force * self.motor_efforts
