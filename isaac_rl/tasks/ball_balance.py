"""BallBalance: tilt a tray on three legs to catch a falling ball and hold it at the centre.

IsaacGymEnvs' BallBalance, on MuJoCo. The tray stands on three two-link legs
whose feet are pinned to the floor (three closed kinematic loops); the knees
are position-driven (IsaacGymEnvs drives DOFs 1, 3 and 5: the lower leg joints),
the joints at the tray are passive. Each reset drops the ball
from 1-2 m above a random point within 0.5 m of the centre, moving down at
5 m/s and sideways toward the centre.

Observations (24), in this order:
  knee joint positions (3) and velocities (3), ball position (3) and
  linear velocity (3) in the world frame, the force leg 0 exerts on the tray
  (3), the torques of all three legs on the tray (9); forces and torques / 20.
Actions (3): knee target velocities; targets += dt x actionSpeedScale x
action, clamped to the joint range.
Reward (one term, `balance`, logged as Episode/rew_balance): 1 / (1 +
distance of the ball from 0.7 m above the centre) x 1 / (1 + ball speed).
The episode ends when the ball drops below 1.5 ball
radii (off the tray, onto the floor), or at maxEpisodeLength.
Success: the episode ran to its full length with the ball on the tray.

Differences from Isaac Gym: the feet are held by equality constraints rather
than rigid-body attractors, the driven joints carry a motor armature that
keeps the stiff drive stable at MuJoCo's 5 ms step, and the passive ones some
damping for the same reason (see the model).
"""

from __future__ import annotations

import torch

from isaac_rl.sim import Simulation
from isaac_rl.tasks.base.observations import ObservationGroup, ObsTerm
from isaac_rl.tasks.base.rewards import RewardTerms
from isaac_rl.tasks.base.vec_task import VecTask

# the joints at the tray (passive), the knees and their position drives, in action order
HIPS = ("upper_leg0", "upper_leg1", "upper_leg2")
KNEES = ("lower_leg0", "lower_leg1", "lower_leg2")
KNEE_DRIVES = ("knee0", "knee1", "knee2")
LEG_SENSORS = ("leg0_force", "leg0_torque", "leg1_torque", "leg2_torque")
# forces and torques enter the observation divided by this (IsaacGymEnvs' scale)
SENSOR_SCALE = 1.0 / 20.0
BALL_TARGET_HEIGHT = 0.7
TRAY_RADIUS = 0.5


def observation_group() -> ObservationGroup:
    """The 24 observations, in the order of the module docstring."""
    return ObservationGroup(
        {
            "knee_pos": ObsTerm(lambda task: task.scene.joint_pos(KNEES), len(KNEES)),
            "knee_vel": ObsTerm(lambda task: task.scene.joint_vel(KNEES), len(KNEES)),
            "ball_pos": ObsTerm(lambda task: task.ball_pos, 3),
            "ball_vel": ObsTerm(lambda task: task.ball_vel, 3),
            "leg_forces_torques": ObsTerm(lambda task: task.sim.sensordata[:, task.sensor_columns], 12, SENSOR_SCALE),
        }
    )


class BallBalance(VecTask):
    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture=False, force_render=False):
        self.observations = observation_group()
        env = cfg["env"]
        self.action_speed_scale, self.ball_radius = float(env["actionSpeedScale"]), float(env["ballRadius"])
        # where and how each episode's ball is dropped (see drop_ball_states)
        self.drop_height = tuple(float(h) for h in env["dropHeight"])
        self.drop_radius, self.drop_speed = float(env["dropRadius"]), float(env["dropSpeed"])
        self.max_horizontal_speed = float(env["maxHorizontalSpeed"])
        env["numObservations"] = self.observations.size
        env["numActions"] = len(KNEES)
        super().__init__(cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture, force_render)
        self.observations.to(self.device)
        self.rewards = RewardTerms({"balance": (balance_reward, 1.0)}, self.num_envs, self.device)

        self.scene = self.sim.scene
        # the position actuators' ranges are the knees' joint ranges
        self.target_lower, self.target_upper = self.sim.ctrl_range.unbind(1)
        self.sensor_columns = self.sim.sensor_columns(LEG_SENSORS)
        self.leg_targets = torch.zeros((self.num_envs, len(KNEES)), device=self.device)
        self.success_buf = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        # height of the ball above the tray, logged per step as Episode/ball_height
        self.ball_height = torch.zeros(self.num_envs, device=self.device)
        self.extras["episode"] = {"ball_height": self.ball_height}
        self.extras["episode_sums"] = self.rewards.episode_extras()

    def create_sim(self) -> Simulation:
        asset = self.cfg["env"].get("asset", "mjcf/ball_balance.xml")
        sim = self.make_sim(asset)
        joints, actors, sensors = sim.scene.joint_names("scalar"), sim.scene.actor_names, sim.info.sensor_slices
        missing = [n for n in (*HIPS, *KNEES) if n not in joints] + [n for n in ("tray", "ball") if n not in actors]
        missing += [n for n in LEG_SENSORS if n not in sensors]
        if missing or sim.info.actuator_names != list(KNEE_DRIVES):
            needs = f"joints {HIPS + KNEES}, sensors {LEG_SENSORS} and exactly the position actuators {KNEE_DRIVES} (on the knees)"
            lacks = f"{asset!r} lacks {missing or 'them'} (its actuators: {sim.info.actuator_names})"
            raise ValueError(f"the BallBalance task needs a model with free actors 'tray' and 'ball', {needs}; {lacks}")
        return sim

    def build_index_plans(self) -> None:
        scene = self.sim.scene
        scene.joint_pos(KNEES)
        for actor in ("ball", "tray"):
            scene.actor_root_state(actor)

    def pre_physics_step(self, actions: torch.Tensor) -> None:
        step = self.dt * self.action_speed_scale * actions
        self.leg_targets.copy_(torch.clamp(self.leg_targets + step, self.target_lower, self.target_upper))
        self.sim.set_ctrl(self.leg_targets)

    @property
    def ball_pos(self) -> torch.Tensor:
        return self.scene.actor_root_state("ball")[:, 0, 0:3]

    @property
    def ball_vel(self) -> torch.Tensor:
        return self.scene.actor_root_state("ball")[:, 0, 7:10]

    def compute_observations(self) -> None:
        self.obs_buf[:] = self.observations.compute(self)

    def compute_reward(self) -> None:
        ball_pos, tray_pos = self.ball_pos, self.scene.actor_root_state("tray")[:, 0, 0:3]
        self.rew_buf[:] = self.rewards.compute(self)
        # the ball dropped below 1.5 radii: off the tray, onto the floor
        self.reset_buf[:] = (ball_pos[:, 2] < 1.5 * self.ball_radius).long()
        self.success_buf.copy_(ball_on_tray(ball_pos, tray_pos, self.ball_radius) & self.timeout_buf.bool())
        self.ball_height.copy_(ball_pos[:, 2] - tray_pos[:, 2])

    def reset_idx(self, env_mask: torch.Tensor) -> None:
        n = self.num_envs
        # the table back at rest, every joint at 0
        qpos = self.sim.default_qpos.expand(n, -1).clone()
        qvel = torch.zeros_like(self.sim.qvel)
        self.sim.reset_envs(env_mask, qpos, qvel)
        # then the ball, dropped from a random point above the tray
        self.scene.write_root_state(env_mask, "ball", self.drop_ball_states(n)[:, None])
        self.leg_targets.masked_fill_(env_mask[:, None], 0.0)
        self.rewards.reset(env_mask)

    def drop_ball_states(self, n: int) -> torch.Tensor:
        """(n, 13) ball root states: within `dropRadius` of the centre, falling at `dropSpeed`, drifting inward.

        The farther out the ball starts, the faster (up to maxHorizontalSpeed)
        it moves toward the centre, as in IsaacGymEnvs.
        """
        dev = self.device
        # one draw for all of the drop's random numbers (see "Random draws" in isaac_rl/tasks/base/vec_task.py)
        u = torch.rand((4, n), device=dev)
        dist = 0.001 + (self.drop_radius - 0.001) * u[0]
        angle = torch.pi * (2.0 * u[1] - 1.0)
        direction = torch.stack((torch.cos(angle), torch.sin(angle)), dim=1)
        speed = (dist / self.drop_radius) * self.max_horizontal_speed * u[2]
        low, high = self.drop_height
        height = low + (high - low) * u[3]
        state = torch.zeros((n, 13), device=dev)
        state[:, 0:2] = dist[:, None] * direction
        state[:, 2] = height
        state[:, 3] = 1.0
        state[:, 7:9] = -speed[:, None] * direction
        state[:, 9] = -self.drop_speed
        return state


def balance_reward(task) -> torch.Tensor:
    """Highest (1) for a still ball 0.7 m above the centre: 1 / (1 + distance) x 1 / (1 + speed)."""
    ball_pos = task.ball_pos
    # no tensor from host data here: this runs inside the captured step
    to_target = torch.cat((ball_pos[:, 0:2], ball_pos[:, 2:3] - BALL_TARGET_HEIGHT), dim=-1)
    pos_reward = 1.0 / (1.0 + torch.linalg.vector_norm(to_target, dim=-1))
    speed_reward = 1.0 / (1.0 + torch.linalg.vector_norm(task.ball_vel, dim=-1))
    return pos_reward * speed_reward


def ball_on_tray(ball_pos: torch.Tensor, tray_pos: torch.Tensor, ball_radius: float) -> torch.Tensor:
    """True where the ball is above the tray's disc and not below its top."""
    horizontal = torch.linalg.vector_norm((ball_pos - tray_pos)[:, :2], dim=-1)
    return (horizontal < TRAY_RADIUS) & (ball_pos[:, 2] > tray_pos[:, 2] + 0.5 * ball_radius)
