"""ShadowHand: a 24-joint hand turns a cube in its palm to random goal orientations.

IsaacGymEnvs' ShadowHand (OpenAI's "Learning Dexterity" set-up) on MuJoCo,
with OpenAI's hand model from gymnasium-robotics (`pip install -e ".[hands]"`,
composed with this project's cube and goal marker in isaac_rl/sim/shadow_hand.py).

Actions (20): joint targets of the 20 position actuators, [-1, 1] scaled to
each actuator's control range, then averaged with the previous targets
(`actionsMovingAverage`; 1 keeps the new targets only). The four distal
finger joints follow the middle ones through the model's tendons.
Observations (`observationType`, sizes as IsaacGymEnvs'; quaternions wxyz):
- `openai` (42): fingertip positions (15), cube position (3), cube-to-goal
  rotation (4), last actions (20);
- `full_no_vel` (77): joint positions scaled to [-1, 1] (24), cube pose (7),
  goal pose (7), cube-to-goal rotation (4), fingertip positions (15), actions (20);
- `full` (157): joint positions (24) and velocities x 0.2 (24), cube pose (7),
  velocity (3) and angular velocity x 0.2 (3), goal pose (7), cube-to-goal
  rotation (4), fingertip states (65: position, quaternion, velocity, angular
  velocity), actions (20);
- `full_state` (211): `full` plus actuator joint forces x 10 (24, after the
  velocities) and fingertip force-torque sensors x 10 (30, after the
  fingertip states).
`asymmetric_observations: True` gives the critic the `full_state` vector
(numStates 211) whatever the actor sees.
Reward (terms, each logged as Episode/rew_<name>): distance of the cube to
the goal position x distRewardScale, 1 / (rotation distance + rotEps) x
rotRewardScale, sum of squared actions x actionPenaltyScale, reachGoalBonus
when the rotation distance is within successTolerance, fallPenalty when the
cube is fallDistance from the goal position (which also ends the episode).
A reached goal gets a new random orientation at the next step, the hand and
cube carrying on. `consecutive_successes` is IsaacGymEnvs' running average
(factor averFactor) of the goals reached in the episodes that end, logged
every epoch as Episode/consecutive_successes; `maxConsecutiveSuccesses` > 0
ends an episode after that many goals.
Reset: joints at 0 plus resetDofPosRandomInterval x a random fraction of
their range, the cube dropped above the palm (resetPositionNoise) in a random
orientation, a new goal orientation.
Pushes (`forceScale` > 0, IsaacGymEnvs' random forces): each env pushes the
cube with its own probability per step, drawn log-uniformly from
`forceProbRange` at every reset; a push is forceScale x the cube's mass x
N(0, 1) per axis (N, in the cube's frame: it turns with the cube, as
IsaacGymEnvs applies it in LOCAL_SPACE), held on the cube until the next one
and decaying each env step by forceDecay ** (sim.dt / forceDecayInterval), as
IsaacGymEnvs decays it (by one sim.dt per env step, whatever
controlFrequencyInv); a reset clears it.
`resetTime` > 0 sets the episode length in seconds (ShadowHandOpenAI_FF's 8 s).
"""

from __future__ import annotations

import math

import torch

from isaac_rl.sim import Simulation
from isaac_rl.sim.shadow_hand import FINGERTIP_BODIES, FINGERTIP_SENSORS, shadow_hand_scene
from isaac_rl.tasks.base.draws import Draw
from isaac_rl.tasks.base.observations import ObservationGroup, ObsTerm
from isaac_rl.tasks.base.rewards import RewardFunction, RewardTerms
from isaac_rl.tasks.base.vec_task import VecTask
from isaac_rl.utils.torch_math import quat_conjugate, quat_from_angle_axis, quat_mul, quat_rotate, scale_to_unit

NUM_DOFS = 24
NUM_ACTIONS = 20
OBSERVATION_TYPES = ("openai", "full_no_vel", "full", "full_state")
VEL_OBS_SCALE = 0.2
FORCE_TORQUE_OBS_SCALE = 10.0
# IsaacGymEnvs' goal position: 4 cm below where the cube is dropped, about where it rests on the palm
GOAL_BELOW_START = 0.04


def observation_group(obs_type: str) -> ObservationGroup:
    """The observation vector of one `observationType`, in the order of the module docstring."""
    n_tips = len(FINGERTIP_BODIES)
    terms = {
        "dof_pos": ObsTerm(lambda task: scale_to_unit(task.sim.dof_pos, task.dof_lower, task.dof_upper), NUM_DOFS),
        "dof_vel": ObsTerm(lambda task: task.sim.dof_vel, NUM_DOFS, VEL_OBS_SCALE),
        "dof_force": ObsTerm(lambda task: task.dof_force, NUM_DOFS, FORCE_TORQUE_OBS_SCALE),
        "object_pos": ObsTerm(lambda task: task.object_state[:, 0:3], 3),
        "object_pose": ObsTerm(lambda task: task.object_state[:, 0:7], 7),
        "object_lin_vel": ObsTerm(lambda task: task.object_state[:, 7:10], 3),
        "object_ang_vel": ObsTerm(lambda task: task.object_state[:, 10:13], 3, VEL_OBS_SCALE),
        "goal_pose": ObsTerm(lambda task: torch.cat((task.goal_pos, task.goal_rot), dim=-1), 7),
        "goal_rel_rot": ObsTerm(lambda task: task.goal_rel_rot, 4),
        "fingertip_pos": ObsTerm(lambda task: task.scene.body_pos(FINGERTIP_BODIES).reshape(task.num_envs, -1), 3 * n_tips),
        "fingertip_state": ObsTerm(lambda task: task.fingertip_state.reshape(task.num_envs, -1), 13 * n_tips),
        "fingertip_force_torque": ObsTerm(lambda task: task.fingertip_force_torque, 6 * n_tips, FORCE_TORQUE_OBS_SCALE),
        "actions": ObsTerm(lambda task: task.actions, NUM_ACTIONS),
    }
    layouts = {
        "openai": ("fingertip_pos", "object_pos", "goal_rel_rot", "actions"),
        "full_no_vel": ("dof_pos", "object_pose", "goal_pose", "goal_rel_rot", "fingertip_pos", "actions"),
        "full": ("dof_pos", "dof_vel", "object_pose", "object_lin_vel", "object_ang_vel", "goal_pose", "goal_rel_rot",
                 "fingertip_state", "actions"),
        "full_state": ("dof_pos", "dof_vel", "dof_force", "object_pose", "object_lin_vel", "object_ang_vel", "goal_pose",
                       "goal_rel_rot", "fingertip_state", "fingertip_force_torque", "actions"),
    }
    if obs_type not in layouts:
        raise ValueError(f"env.observationType {obs_type!r}: accepted {', '.join(OBSERVATION_TYPES)}")
    return ObservationGroup({name: terms[name] for name in layouts[obs_type]})


def reward_terms(env: dict) -> dict[str, tuple[RewardFunction, float]]:
    """IsaacGymEnvs' reward as terms; weights from the yaml (a zero weight drops a term)."""
    timeout_penalty = 0.5 * float(env["fallPenalty"]) if int(env["maxConsecutiveSuccesses"]) > 0 else 0.0
    return {
        "goal_dist": (lambda task: task.goal_dist, float(env["distRewardScale"])),
        "rot": (lambda task: 1.0 / (torch.abs(task.rot_dist) + task.rot_eps), float(env["rotRewardScale"])),
        "action_penalty": (lambda task: torch.sum(task.actions**2, dim=-1), float(env["actionPenaltyScale"])),
        "reach_goal_bonus": (lambda task: task.goal_reached.float(), float(env["reachGoalBonus"])),
        "fall_penalty": (lambda task: task.fallen.float(), float(env["fallPenalty"])),
        # with maxConsecutiveSuccesses, an episode that runs out of time before the last goal pays half the fall penalty
        "timeout_penalty": (lambda task: task.timeout_buf.float(), timeout_penalty),
    }


class ShadowHand(VecTask):
    # the palm and the cube from the fingers' side, a little from above, the goal cube in view (videos, filmstrips)
    video_camera = {"lookat": [0.0, -0.05, 0.5], "distance": 0.5, "azimuth": 60.0, "elevation": -35.0}

    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture=False, force_render=False):
        self.cfg = cfg
        env = cfg["env"]
        self.obs_type = str(env["observationType"])
        self.asymmetric_obs = bool(env["asymmetric_observations"])
        self.observations = observation_group(self.obs_type)
        self.states = observation_group("full_state") if self.asymmetric_obs else None
        self.rot_eps = float(env["rotEps"])
        self.success_tolerance = float(env["successTolerance"])
        self.fall_distance = float(env["fallDistance"])
        self.max_consecutive_successes = int(env["maxConsecutiveSuccesses"])
        self.av_factor = float(env["averFactor"])
        self.act_moving_average = float(env["actionsMovingAverage"])
        self.reset_position_noise = float(env["resetPositionNoise"])
        self.reset_dof_pos_noise = float(env["resetDofPosRandomInterval"])
        self.reset_dof_vel_noise = float(env["resetDofVelRandomInterval"])
        self.force_scale = float(env["forceScale"])
        sim_dt, control_freq_inv = float(cfg["sim"]["dt"]), int(env["controlFrequencyInv"])
        self.force_decay = float(env["forceDecay"]) ** (sim_dt / float(env["forceDecayInterval"]))
        if float(env["resetTime"]) > 0.0:
            env["maxEpisodeLength"] = round(float(env["resetTime"]) / (sim_dt * control_freq_inv))
        env["numObservations"] = self.observations.size
        env["numStates"] = self.states.size if self.states is not None else 0
        env["numActions"] = NUM_ACTIONS
        super().__init__(cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture, force_render)

        n, dev = self.num_envs, self.device
        self.observations.to(dev)
        if self.states is not None:
            self.states.to(dev)
        self.rewards = RewardTerms(reward_terms(env), n, dev)
        self.scene = self.sim.scene
        self.dof_lower, self.dof_upper = self.sim.dof_limits.unbind(1)
        self.target_lower, self.target_upper = self.sim.ctrl_range.unbind(1)
        # each position actuator drives the joint of its name (robot0:A_FFJ3 -> robot0:FFJ3)
        self.actuated_dofs = torch.tensor(
            [self.sim.info.dof_index(name.replace(":A_", ":")) for name in self.sim.info.actuator_names], device=dev
        )
        self.fingertip_sensor_columns = self.sim.sensor_columns(FINGERTIP_SENSORS) if self.sim.info.sensor_names else None
        object_start = self.scene.actor_root_state("cube")[0, 0]
        self.object_start_state = object_start.clone()
        self.goal_pos = (object_start[0:3] - torch.tensor([0.0, 0.0, GOAL_BELOW_START], device=dev)).repeat(n, 1)
        self.goal_marker_pos = self.scene.actor_root_state("goal")[0, 0, 0:3].clone()
        self.goal_rot = torch.zeros((n, 4), device=dev)
        self.goal_rot[:, 0] = 1.0
        self.x_axis = torch.tensor([1.0, 0.0, 0.0], device=dev).expand(n, 3)
        self.y_axis = torch.tensor([0.0, 1.0, 0.0], device=dev).expand(n, 3)
        self.cube_body = self.scene.body_ids("cube")[0]
        self.cube_push_scale = self.force_scale * float(self.sim.info.body_mass[self.cube_body])
        # each env's push probability, log-uniform in forceProbRange (drawn again at each reset), and its push (cube frame)
        self.push_prob_draw = Draw(tuple(float(p) for p in env["forceProbRange"]), "loguniform")
        self.push_prob = self.push_prob_draw.sample((n,), dev)
        self.cube_push = torch.zeros((n, 3), device=dev)

        self.actions = torch.zeros((n, NUM_ACTIONS), device=dev)
        self.prev_targets = torch.zeros((n, NUM_ACTIONS), device=dev)
        # what observations and rewards both read, refreshed by update_state (what observations alone read, such as
        # the fingertips, their terms compute: an observation type that leaves them out does not pay for them)
        self.object_state = torch.zeros((n, 13), device=dev)
        self.goal_rel_rot = torch.zeros((n, 4), device=dev)
        self.goal_dist = torch.zeros(n, device=dev)
        self.rot_dist = torch.zeros(n, device=dev)
        self.goal_reached = torch.zeros(n, dtype=torch.bool, device=dev)
        self.fallen = torch.zeros(n, dtype=torch.bool, device=dev)
        # goals reached in each env's running episode, and IsaacGymEnvs' running average over the episodes that end
        self.successes = torch.zeros(n, device=dev)
        self.consecutive_successes = torch.zeros(1, device=dev)
        self.extras["consecutive_successes"] = self.consecutive_successes
        self.extras["episode"] = {"consecutive_successes": self.consecutive_successes}
        # per env, read where an episode ends (scripts/evaluate.py's consecutive successes of played episodes)
        self.extras["goals_reached"] = self.successes
        self.extras["episode_sums"] = self.rewards.episode_extras()

    def create_sim(self) -> Simulation:
        sim_cfg = self.cfg.get("sim", {})
        needs_sensors = self.obs_type == "full_state" or self.asymmetric_obs
        scene = shadow_hand_scene(
            iterations=int(sim_cfg.get("iterations", 10)),
            ls_iterations=int(sim_cfg.get("ls_iterations", 10)),
            cone=str(sim_cfg.get("cone", "pyramidal")),
            impratio=float(sim_cfg.get("impratio", 1.0)),
            fingertip_sensors=needs_sensors,
        )
        sim = self.make_sim(scene)
        # resets write the hand's joints as the first 24 qpos/qvel columns, before the cube's and the goal's free joints
        if sim.info.num_dofs != NUM_DOFS or sim.info.nu != NUM_ACTIONS or list(sim.info.dof_qpos_index) != list(range(NUM_DOFS)):
            raise ValueError(
                f"the ShadowHand task needs the hand's {NUM_DOFS} joints first and {NUM_ACTIONS} actuators; "
                f"the composed model has {sim.info.num_dofs} joints and {sim.info.nu} actuators"
            )
        return sim

    def build_index_plans(self) -> None:
        scene = self.sim.scene
        scene.body_pos(FINGERTIP_BODIES)  # body_quat's plan too
        groups = [self.observations] + ([self.states] if self.states is not None else [])
        if any("fingertip_state" in group.terms for group in groups):
            scene.body_vel(FINGERTIP_BODIES)  # not otherwise: on MuJoCo C the first call starts copying cvel each step
        for actor in ("cube", "goal"):
            scene.actor_root_state(actor)

    # -- actions -------------------------------------------------------------
    def pre_physics_step(self, actions: torch.Tensor) -> None:
        self.actions.copy_(actions)
        targets = self.target_lower + 0.5 * (actions + 1.0) * (self.target_upper - self.target_lower)
        targets = self.act_moving_average * targets + (1.0 - self.act_moving_average) * self.prev_targets
        targets = torch.clamp(targets, self.target_lower, self.target_upper)
        self.prev_targets.copy_(targets)
        self.sim.set_ctrl(targets)
        if self.force_scale > 0.0:
            self.push_cube()

    def push_cube(self) -> None:
        """IsaacGymEnvs' random forces: the last push decays, and some envs push anew (module docstring)."""
        new_push = torch.rand(self.num_envs, device=self.device) < self.push_prob
        fresh = self.cube_push_scale * torch.randn((self.num_envs, 3), device=self.device)
        self.cube_push.copy_(torch.where(new_push[:, None], fresh, self.force_decay * self.cube_push))
        self.sim.scene.xfrc_applied[:, self.cube_body, 0:3] = quat_rotate(self.object_state[:, 3:7], self.cube_push)

    # -- state, observations, reward -----------------------------------------
    @property
    def dof_force(self) -> torch.Tensor:
        """(num_envs, 24) the actuators' forces on their joints (0 on the tendon-driven distal joints)."""
        forces = torch.zeros((self.num_envs, NUM_DOFS), device=self.device)
        return forces.index_copy(1, self.actuated_dofs, self.sim.actuator_force)

    @property
    def fingertip_state(self) -> torch.Tensor:
        """(num_envs, 5, 13) each fingertip's position, quaternion, linear and angular velocity (world frame)."""
        tips = FINGERTIP_BODIES
        return torch.cat((self.scene.body_pos(tips), self.scene.body_quat(tips), self.scene.body_vel(tips)), dim=-1)

    @property
    def fingertip_force_torque(self) -> torch.Tensor:
        return self.sim.sensordata[:, self.fingertip_sensor_columns]

    def update_state(self) -> None:
        # goals reached at the last step, and the envs reset since (reset_idx marks them), get their new orientation
        # before anything reads them: one draw and one marker write per step, whatever ended
        self.reset_goals(self.goal_reached)
        self.object_state.copy_(self.scene.actor_root_state("cube")[:, 0])
        self.goal_rel_rot.copy_(quat_mul(self.object_state[:, 3:7], quat_conjugate(self.goal_rot)))
        self.goal_dist.copy_(torch.linalg.vector_norm(self.object_state[:, 0:3] - self.goal_pos, dim=-1))
        self.rot_dist.copy_(rotation_distance(self.goal_rel_rot))

    def compute_observations(self) -> None:
        self.obs_buf[:] = self.observations.compute(self)
        if self.states is not None:
            self.states_buf[:] = self.states.compute(self)

    def compute_reward(self) -> None:
        self.goal_reached.copy_(self.rot_dist <= self.success_tolerance)
        self.fallen.copy_(self.goal_dist >= self.fall_distance)
        if self.max_consecutive_successes > 0:
            # each goal restarts the time limit before the time-out is judged (and paid for), as IsaacGymEnvs: a goal
            # reached at the last step goes on; the episode ends after the last goal
            self.progress_buf.masked_fill_(self.goal_reached, 0)
            self._mark_time_outs()
        self.rew_buf[:] = self.rewards.compute(self)
        self.successes += self.goal_reached.float()
        done = self.fallen
        if self.max_consecutive_successes > 0:
            done = done | (self.successes >= self.max_consecutive_successes)
        self.reset_buf[:] = done.long()
        self.consecutive_successes.copy_(
            running_consecutive_successes(self.consecutive_successes, self.successes, done | self.timeout_buf.bool(), self.av_factor)
        )

    # -- resets --------------------------------------------------------------
    def reset_goals(self, env_mask: torch.Tensor) -> None:
        """A new random goal orientation where `env_mask` is set; the goal cube beyond the fingertips shows it."""
        self.goal_rot.copy_(torch.where(env_mask[:, None], random_orientation(self.x_axis, self.y_axis), self.goal_rot))
        marker = torch.zeros((self.num_envs, 13), device=self.device)
        marker[:, 0:3] = self.goal_marker_pos
        marker[:, 3:7] = self.goal_rot
        self.scene.write_root_state(env_mask, "goal", marker[:, None])
        self.goal_reached.masked_fill_(env_mask, False)

    def reset_idx(self, env_mask: torch.Tensor) -> None:
        n, dev = self.num_envs, self.device
        # joints at 0 plus a random fraction of their range, as IsaacGymEnvs (0 lies inside every range)
        fraction = torch.rand((n, NUM_DOFS), device=dev)
        dof_pos = self.reset_dof_pos_noise * (self.dof_lower + fraction * (self.dof_upper - self.dof_lower))
        dof_vel = self.reset_dof_vel_noise * (2.0 * torch.rand((n, NUM_DOFS), device=dev) - 1.0)
        qpos = self.sim.default_qpos.expand(n, -1).clone()
        qvel = torch.zeros_like(self.sim.qvel)
        qpos[:, 0:NUM_DOFS] = dof_pos
        qvel[:, 0:NUM_DOFS] = dof_vel
        self.sim.reset_envs(env_mask, qpos, qvel)
        self.prev_targets.copy_(torch.where(env_mask[:, None], dof_pos[:, self.actuated_dofs], self.prev_targets))
        # the cube above the palm in a random orientation, at rest
        cube = self.object_start_state.expand(n, 13).clone()
        cube[:, 0:3] += self.reset_position_noise * (2.0 * torch.rand((n, 3), device=dev) - 1.0)
        cube[:, 3:7] = random_orientation(self.x_axis, self.y_axis)
        cube[:, 7:13] = 0.0
        self.scene.write_root_state(env_mask, "cube", cube[:, None])
        if self.force_scale > 0.0:  # no push carried into the new episode, and a new chance of one
            self.cube_push.masked_fill_(env_mask[:, None], 0.0)
            self.push_prob.copy_(torch.where(env_mask, self.push_prob_draw.sample((self.num_envs,), self.device), self.push_prob))
        # a new goal: update_state, which follows every reset, draws it with those of the goals reached
        self.goal_reached.masked_fill_(env_mask, True)
        self.successes.masked_fill_(env_mask, 0.0)
        self.rewards.reset(env_mask)


def rotation_distance(quat_diff: torch.Tensor) -> torch.Tensor:
    """Angle (radians, 0 to pi) of the rotation `quat_diff` (wxyz): IsaacGymEnvs' 2 asin |xyz|."""
    return 2.0 * torch.asin(torch.clamp(torch.linalg.vector_norm(quat_diff[:, 1:4], dim=-1), max=1.0))


def random_orientation(x_axis: torch.Tensor, y_axis: torch.Tensor) -> torch.Tensor:
    """(n, 4) IsaacGymEnvs' random rotation: about x by U(-pi, pi), then composed with one about y by U(-pi, pi)."""
    angles = (2.0 * torch.rand((x_axis.shape[0], 2), device=x_axis.device) - 1.0) * math.pi
    return quat_mul(quat_from_angle_axis(angles[:, 0], x_axis), quat_from_angle_axis(angles[:, 1], y_axis))


def running_consecutive_successes(
    average: torch.Tensor, successes: torch.Tensor, done: torch.Tensor, av_factor: float
) -> torch.Tensor:
    """IsaacGymEnvs' statistic: where episodes end this step, average <- av_factor x their mean goals reached + (1 - av_factor) x average."""
    num_done = done.float().sum()
    finished = (successes * done.float()).sum()
    updated = av_factor * finished / num_done.clamp_min(1.0) + (1.0 - av_factor) * average
    return torch.where(num_done > 0, updated, average)
