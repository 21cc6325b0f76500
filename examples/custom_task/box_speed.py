"""BoxSpeed: a box on a rail runs at a commanded speed; a user's task built from isaac_rl's parts alone.

Nothing here but declarations and the physics that is this task's own
(docs/tasks.md):
- commands (isaac_rl/tasks/base/commands.py): a target speed along the rail,
  drawn in `commandRanges.linear_x`, redrawn every `resampleEvery_s`,
  zeroed under `commandDeadband` (standing still is practised too);
- an observation group (observations.py): command, speed (noisy), position
  (clipped, scaled), last action; its size is the task's numObservations;
- reward terms (rewards.py), weights from `rewards:` in the yaml, each x dt
  (per second of simulated time); a zero weight costs nothing; each term's
  episode sum is logged (Episode/rew_<name>);
- the episode is VecTask's: `maxEpisodeLength`, time-outs and resets, here in
  legged_gym's order (`resetInSameStep`); the task says only what terminates
  (the box more than `maxDistance` from the start).

    PYTHONPATH=examples/custom_task python scripts/train.py task=BoxSpeed \
        hydra.searchpath=[file://$PWD/examples/custom_task/cfg]
"""

from __future__ import annotations

from pathlib import Path

import torch

from isaac_rl.sim import Simulation
from isaac_rl.tasks.base.commands import VelocityCommands
from isaac_rl.tasks.base.observations import ObservationGroup, ObsTerm
from isaac_rl.tasks.base.rewards import RewardTerms
from isaac_rl.tasks.base.vec_task import VecTask

MODEL = Path(__file__).resolve().parent / "push_box.xml"


def speed_error_sq(task) -> torch.Tensor:
    return torch.square(task.commands[:, 0] - task.sim.dof_vel[:, 0])


REWARD_TERMS = {
    "tracking_speed": lambda task: torch.exp(-speed_error_sq(task) / 0.25),
    "action_rate": lambda task: torch.sum(torch.square(task.actions - task.last_actions), dim=1),
    "effort": lambda task: torch.sum(torch.square(task.actions), dim=1),
}


class BoxSpeed(VecTask):
    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture=False, force_render=False):
        self.cfg = cfg
        env = cfg["env"]
        self.max_effort = float(env["maxEffort"])
        self.max_distance = float(env["maxDistance"])
        self.observations = ObservationGroup(
            {
                "command": ObsTerm(lambda task: task.commands[:, :1], 1),
                "speed": ObsTerm(lambda task: task.sim.dof_vel, 1, noise=0.05),
                "position": ObsTerm(lambda task: task.sim.dof_pos, 1, scale=1.0 / self.max_distance, clip=self.max_distance),
                "last_action": ObsTerm(lambda task: task.actions, 1),
            },
            noise_level=env.get("noiseLevel"),
        )
        env["numObservations"] = self.observations.size
        env["numActions"] = 1
        super().__init__(cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture, force_render)

        n, dev = self.num_envs, self.device
        self.observations.to(dev)
        weights = {name: (fn, float(env["rewards"][name]) * self.dt) for name, fn in REWARD_TERMS.items()}
        self.rewards = RewardTerms(weights, n, dev)
        resample_steps, deadband = round(float(env["resampleEvery_s"]) / self.dt), float(env["commandDeadband"])
        self.speed_commands = VelocityCommands(env["commandRanges"], n, dev, deadband=deadband, resampling_steps=resample_steps)
        self.commands = self.speed_commands.commands
        self.actions = torch.zeros((n, 1), device=dev)
        self.last_actions = torch.zeros((n, 1), device=dev)
        self.zeros = torch.zeros((n, self.sim.info.num_dofs), device=dev)
        self.extras["episode_sums"] = self.rewards.episode_extras()

    def create_sim(self) -> Simulation:
        return self.make_sim(str(MODEL))

    def pre_physics_step(self, actions: torch.Tensor) -> None:
        self.last_actions.copy_(self.actions)
        self.actions.copy_(actions)
        self.sim.set_ctrl(actions * self.max_effort)

    def update_state(self) -> None:
        self.speed_commands.update()

    def compute_observations(self) -> None:
        self.obs_buf[:] = self.observations.compute(self)

    def compute_reward(self) -> None:
        self.rew_buf[:] = self.rewards.compute(self)
        self.reset_buf[:] = (self.sim.dof_pos[:, 0].abs() > self.max_distance).long()

    def reset_idx(self, env_mask: torch.Tensor) -> None:
        self.sim.reset_envs(env_mask, self.zeros, self.zeros)
        self.speed_commands.resample(env_mask)
        self.actions.masked_fill_(env_mask[:, None], 0.0)
        self.last_actions.masked_fill_(env_mask[:, None], 0.0)
        self.rewards.reset(env_mask)
