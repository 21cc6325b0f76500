"""`Draw`: one random quantity: its distribution, how it changes a value, its schedule and bounds.

The one draw machinery of events (isaac_rl/tasks/base/events.py): model
parameters, pushes' velocities and observation/action noise all draw here.

    Draw((0.8, 1.2))                                   # x uniform [0.8, 1.2]
    Draw((0.0, 0.05), "gaussian", "add")               # + gaussian, mean 0, std 0.05
    Draw((0.5, 2.0), "loguniform", "scale", bounds=(None, 1.5))
    Draw((1.0, 1.0), operation="abs")                  # set to 1

`range` is [low, high] for uniform and loguniform and [mean, std] for
gaussian. `operation` adds the draw to a value, scales the value by it, or
sets the value to it (abs). The result is clamped to `bounds` (either end
None: open); events add each quantity's physical bounds (mass > 0, friction
>= 0), so no draw, however wide its gaussian, gives a negative mass.
`schedule` grows the spread from nothing (the value unchanged) to the full
draw: linearly over `schedule_steps` env steps, or at once at `schedule_steps`
(constant), as IsaacGymEnvs' randomization schedules do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

DISTRIBUTIONS = ("uniform", "gaussian", "loguniform")
OPERATIONS = ("add", "scale", "abs")
SCHEDULES = ("linear", "constant")


@dataclass(frozen=True)
class Draw:
    range: tuple[float, float]
    distribution: str = "uniform"
    operation: str = "scale"
    bounds: tuple[float | None, float | None] = (None, None)
    schedule: str | None = None
    schedule_steps: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.range, (list, tuple)) or len(self.range) != 2 or not all(_is_number(x) for x in self.range):
            raise ValueError(f"range must be two numbers, got {self.range!r}")
        low, high = self.range
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution={self.distribution!r}; accepted: {', '.join(DISTRIBUTIONS)}")
        if self.operation not in OPERATIONS:
            raise ValueError(f"operation={self.operation!r}; accepted: {', '.join(OPERATIONS)}")
        if self.distribution != "gaussian" and low > high:
            raise ValueError(f"range={list(self.range)}: expected [low, high]")
        if self.distribution == "loguniform" and low <= 0:
            raise ValueError(f"range={list(self.range)}: loguniform needs low > 0")
        if self.distribution == "gaussian" and high < 0:
            raise ValueError(f"range={list(self.range)}: gaussian takes [mean, std] with std >= 0")
        if self.schedule is not None and self.schedule not in SCHEDULES:
            raise ValueError(f"schedule={self.schedule!r}; accepted: {', '.join(SCHEDULES)} (or none)")
        if self.schedule is not None and (not isinstance(self.schedule_steps, int) or self.schedule_steps <= 0):
            raise ValueError(f"schedule_steps must be a positive integer with a schedule, got {self.schedule_steps!r}")
        if self.schedule is not None and self.operation == "abs":
            raise ValueError("a schedule grows a change from nothing: it takes operation add or scale, not abs")
        lower, upper = self.bounds
        if lower is not None and upper is not None and lower > upper:
            raise ValueError(f"bounds={list(self.bounds)}: expected [lower, upper]")

    def sample(self, shape: tuple[int, ...], device: torch.device, step: torch.Tensor | None = None) -> torch.Tensor:
        """Raw draws of `shape`, pulled towards the neutral draw (add 0, scale 1) as the schedule says at env step `step`."""
        low, high = self.range
        if self.distribution == "uniform":
            value = low + (high - low) * torch.rand(shape, device=device)
        elif self.distribution == "loguniform":
            value = torch.exp(math.log(low) + (math.log(high) - math.log(low)) * torch.rand(shape, device=device))
        else:
            value = low + high * torch.randn(shape, device=device)
        if self.schedule is None:
            return value
        if self.schedule == "linear":
            strength = torch.clamp(step.float() / self.schedule_steps, max=1.0)
        else:
            strength = (step >= self.schedule_steps).float()
        neutral = 1.0 if self.operation == "scale" else 0.0
        return neutral + (value - neutral) * strength

    def apply(self, value: torch.Tensor, draws: torch.Tensor, lower: float | None = None) -> torch.Tensor:
        """`value` changed by `draws` and clamped to the bounds, the lower one raised to `lower` (a physical bound)."""
        if self.operation == "add":
            out = value + draws
        elif self.operation == "scale":
            out = value * draws
        else:
            out = draws
        low, high = self.bounds
        if lower is not None:
            low = lower if low is None else max(low, lower)
        if low is None and high is None:
            return out
        return torch.clamp(out, min=low, max=high)

    def __call__(self, value: torch.Tensor, step: torch.Tensor | None = None, lower: float | None = None) -> torch.Tensor:
        """`value` with one fresh draw per element."""
        return self.apply(value, self.sample(tuple(value.shape), value.device, step), lower)


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)
