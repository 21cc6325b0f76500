"""Velocity commands for legged robots: what each env is asked to walk at.

`commands` is (num_envs, 3): forward and sideways base velocity (m/s) and yaw
rate (rad/s), drawn uniformly from IsaacGymEnvs' `randomCommandVelocityRanges`
(`linear_x`, `linear_y`, `yaw`). Options, as legged_gym's command manager:
- heading control: `yaw` is the range of a heading (rad) instead, and each
  `update` sets the yaw-rate command to stiffness x heading error, within
  +-max_yaw_rate;
- deadband: a draw whose horizontal velocity is at most `deadband` m/s is
  zeroed whole (heading included): standing still is practised too;
- resampling interval: every `resampling_steps` env steps an env draws anew
  (0: only when its episode starts). Each command holds for exactly that many
  steps, the one drawn at a reset too: a task updates in the step that resets
  (VecTask's `update_state` after `reset_idx`), and that update counts as the
  command's first step. An episode of k intervals thus ends on the last step
  of its k-th command, not on a fresh draw the robot has had no step to follow.
All tensor work, built once: it runs inside the captured step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from isaac_rl.utils.torch_math import quat_rotate

RANGE_KEYS = ("linear_x", "linear_y", "yaw")


def command_ranges(ranges: Mapping[str, Sequence[float]]) -> list[tuple[float, float]]:
    """`randomCommandVelocityRanges` as [(min, max)] for linear_x, linear_y and yaw, checked."""
    missing = [key for key in RANGE_KEYS if key not in ranges]
    if missing:
        raise ValueError(f"env.randomCommandVelocityRanges lacks {missing}; it needs [min, max] for each of {list(RANGE_KEYS)}")
    parsed = [tuple(map(float, ranges[key])) for key in RANGE_KEYS]
    for key, bounds in zip(RANGE_KEYS, parsed):
        if len(bounds) != 2 or bounds[0] > bounds[1]:
            raise ValueError(f"env.randomCommandVelocityRanges.{key}={list(bounds)}: expected [min, max]")
    return parsed


def wrap_to_pi(angles: torch.Tensor) -> torch.Tensor:
    """Angles (rad) wrapped into [-pi, pi)."""
    return torch.remainder(angles + math.pi, 2 * math.pi) - math.pi


class VelocityCommands:
    def __init__(
        self,
        ranges: Mapping[str, Sequence[float]],
        num_envs: int,
        device: torch.device | str,
        *,
        heading_control: bool = False,
        heading_stiffness: float = 0.5,
        max_yaw_rate: float = 1.0,
        deadband: float = 0.0,
        resampling_steps: int = 0,
    ) -> None:
        if resampling_steps < 0 or deadband < 0 or max_yaw_rate <= 0:
            raise ValueError(
                f"commands: resampling_steps >= 0, deadband >= 0 and max_yaw_rate > 0 expected; "
                f"got {resampling_steps}, {deadband}, {max_yaw_rate}"
            )
        bounds = command_ranges(ranges)
        self.num_envs, self.device = num_envs, torch.device(device)
        self.low = torch.tensor([low for low, _ in bounds], device=self.device)
        self.high = torch.tensor([high for _, high in bounds], device=self.device)
        self.heading_control = heading_control
        self.heading_stiffness, self.max_yaw_rate = float(heading_stiffness), float(max_yaw_rate)
        self.deadband = float(deadband)
        self.resampling_steps = int(resampling_steps)
        self.commands = torch.zeros((num_envs, 3), device=self.device)
        self.heading = torch.zeros(num_envs, device=self.device)
        self.steps_to_resample = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self._forward = torch.tensor([1.0, 0.0, 0.0], device=self.device).expand(num_envs, 3)

    def sample(self) -> torch.Tensor:
        """(num_envs, 3) fresh draws, uniform in the ranges, the deadband applied."""
        draws = self.low + (self.high - self.low) * torch.rand((self.num_envs, 3), device=self.device)
        if self.deadband > 0:
            draws = draws * (torch.linalg.vector_norm(draws[:, :2], dim=1, keepdim=True) > self.deadband)
        return draws

    def resample(self, env_mask: torch.Tensor) -> None:
        """New commands where `env_mask` (bool, (num_envs,)) is set; with heading control the yaw rate waits for `update`."""
        draws = self.sample()
        if self.heading_control:
            self.heading.copy_(torch.where(env_mask, draws[:, 2], self.heading))
            draws = torch.cat((draws[:, :2], torch.zeros_like(draws[:, 2:])), dim=1)
        self.commands.copy_(torch.where(env_mask[:, None], draws, self.commands))
        self.steps_to_resample.masked_fill_(env_mask, self.resampling_steps)

    def update(self, base_quat: torch.Tensor | None = None) -> None:
        """Once per step, before observations and rewards: resample envs whose interval ran out; steer toward the heading.

        `base_quat` (num_envs, 4), the base orientation, is needed with heading control only.
        """
        self.advance()
        self.steer(base_quat)

    def advance(self) -> None:
        """The step's tick of the resampling clock (once per step): envs whose interval ran out get new commands."""
        if self.resampling_steps:
            # the count is checked before this step is taken off it: the command drawn at a reset (whose step
            # runs this update too) then holds for resampling_steps steps, as every later one does
            self.resample(self.steps_to_resample <= 0)
            self.steps_to_resample -= 1

    def steer(self, base_quat: torch.Tensor | None = None) -> None:
        """With heading control, the yaw-rate command toward each env's heading from `base_quat` (any number of times)."""
        if self.heading_control:
            if base_quat is None:
                raise ValueError("VelocityCommands.steer (and update): heading control needs the base orientation (base_quat)")
            forward = quat_rotate(base_quat, self._forward)
            heading = torch.atan2(forward[:, 1], forward[:, 0])
            yaw_rate = self.heading_stiffness * wrap_to_pi(self.heading - heading)
            self.commands[:, 2] = torch.clamp(yaw_rate, -self.max_yaw_rate, self.max_yaw_rate)
