"""Events: what is done to envs at start-up, when they reset and at intervals (Isaac Lab's EventManager, in VecTask).

A task declares its events by name in `events()`, values from its yaml:

    def events(self) -> dict[str, Event | Noise]:
        learn = self.cfg["env"]["learn"]
        return {
            "base_mass": Event(randomize_field, "startup", {"quantity": "mass", "names": "base", "draw": Draw((-5.0, 5.0), operation="add")}),
            "foot_friction": Event(randomize_field, "reset", {"quantity": "friction", "names": ".*_FOOT", "draw": Draw((0.5, 1.25))}),
            "push": Event(push_by_setting_velocity, "interval", {"velocity_range": {"x": (-1, 1), "y": (-1, 1)}}, interval_s=learn["pushInterval_s"]),
            "action_noise": Noise("actions", Draw((0.0, 0.02), "gaussian", "add")),
        }

Modes:
- startup: once for every env, after the sim is built and before the first step.
- reset: for the envs that reset, before the task's `reset_idx` puts them in
  their new state (so the state is computed with the new parameters). With
  `min_steps_between_resets`, an env's event waits until it last fired that
  many env steps ago (IsaacGymEnvs' randomization `frequency`).
- interval: every `interval_s` seconds of env time, per env; `(min, max)`
  draws each env's interval anew after each firing and at each of its
  resets; `global_time` keeps one clock for all envs, which fire together.
  Intervals are whole env steps (rounded, at least one).

An event's function is called `func(env, env_mask, **params)` with the task
and a bool (num_envs,) mask of the envs it fires for. A class in its place is
built once, `func(env, **params)`, and the instance is called
`(env, env_mask)`: the place to resolve names into index tensors, so that the
call is tensor work alone. Every call gets a full-size mask (no envs picked
out with `nonzero()`), so events run inside VecTask's captured CUDA step
graph without host synchronisation.

`Noise` changes every step's actions (before `pre_physics_step` and the
action clip) or observations (as they leave the step, before the clip) with a
fresh `Draw` per element.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from isaac_rl.tasks.base.draws import Draw

MODES = ("startup", "reset", "interval")
NOISE_TARGETS = ("actions", "observations")


@dataclass(frozen=True)
class Event:
    func: Callable[..., Any]
    mode: str
    params: dict[str, Any] = field(default_factory=dict)
    interval_s: float | tuple[float, float] | None = None
    """interval mode: seconds between firings, or (min, max) drawn per env."""
    global_time: bool = False
    """interval mode: one clock for all envs."""
    min_steps_between_resets: int = 0
    """reset mode: skip an env's reset until the event last fired for it this many env steps ago."""

    def __post_init__(self) -> None:
        if not callable(self.func):
            raise ValueError(f"an event's func must be a function or a class, got {self.func!r}")
        if self.mode not in MODES:
            raise ValueError(f"event mode {self.mode!r}; accepted: {', '.join(MODES)}")
        if not isinstance(self.params, Mapping):
            raise ValueError(f"an event's params must be a mapping of keyword arguments, got {self.params!r}")
        if (self.mode == "interval") != (self.interval_s is not None):
            raise ValueError(f"interval_s is for mode 'interval' and needed there; got mode {self.mode!r} with interval_s={self.interval_s!r}")
        if self.mode == "interval":
            low, high = _interval_range(self.interval_s)
            if not 0 < low <= high:
                raise ValueError(f"interval_s must be seconds > 0 or [min, max] with 0 < min <= max, got {self.interval_s!r}")
        elif self.global_time:
            raise ValueError(f"global_time is for mode 'interval', not {self.mode!r}")
        steps = self.min_steps_between_resets
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"min_steps_between_resets must be an integer >= 0 (env steps), got {steps!r}")
        if steps and self.mode != "reset":
            raise ValueError(f"min_steps_between_resets is for mode 'reset', not {self.mode!r}")


@dataclass(frozen=True)
class Noise:
    target: str
    """'actions' or 'observations'."""
    draw: Draw

    def __post_init__(self) -> None:
        if self.target not in NOISE_TARGETS:
            raise ValueError(f"noise target {self.target!r}; accepted: {', '.join(NOISE_TARGETS)}")


@dataclass
class _Scheduled:
    """A declared event bound to its env, with its clock."""

    name: str
    event: Event
    run: Callable[[torch.Tensor], None]
    interval_steps: tuple[int, int] = (0, 0)
    steps_left: torch.Tensor | None = None
    """interval mode: env steps until the next firing, (num_envs,) or () with global_time."""
    steps_since: torch.Tensor | None = None
    """reset mode with min_steps_between_resets: env steps since the event last fired, (num_envs,)."""


class EventManager:
    """Runs a task's events; VecTask calls `startup`, `on_step` and `on_reset`."""

    def __init__(self, env: Any, declared: Mapping[str, Event | Noise], step_dt: float) -> None:
        self.env = env
        self.num_envs = env.num_envs
        self.device = env.device
        self.step_count = torch.zeros((), dtype=torch.long, device=self.device)
        """Env steps since the task was built (for draws' schedules)."""
        self.noise: dict[str, list[Draw]] = {target: [] for target in NOISE_TARGETS}
        self.scheduled: dict[str, list[_Scheduled]] = {mode: [] for mode in MODES}
        for name, item in declared.items():
            if isinstance(item, Noise):
                self.noise[item.target].append(item.draw)
            elif isinstance(item, Event):
                self.scheduled[item.mode].append(self._schedule(name, item, step_dt))
            else:
                raise ValueError(f"event {name!r} is a {type(item).__name__}; accepted: Event or Noise")

    def _schedule(self, name: str, event: Event, step_dt: float) -> _Scheduled:
        scheduled = _Scheduled(name, event, _bind(name, event, self.env))
        long = dict(dtype=torch.long, device=self.device)
        if event.mode == "interval":
            low, high = _interval_range(event.interval_s)
            scheduled.interval_steps = (max(round(low / step_dt), 1), max(round(high / step_dt), 1))
            scheduled.steps_left = self._draw_interval(scheduled, () if event.global_time else (self.num_envs,))
        if event.min_steps_between_resets:
            scheduled.steps_since = torch.zeros(self.num_envs, **long)
        return scheduled

    def _draw_interval(self, scheduled: _Scheduled, shape: tuple[int, ...]) -> torch.Tensor:
        low, high = scheduled.interval_steps
        return torch.randint(low, high + 1, shape, dtype=torch.long, device=self.device)

    # -- called by VecTask -----------------------------------------------------
    def startup(self) -> None:
        """Run the startup events for every env (once, before the first step)."""
        everyone = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        for scheduled in self.scheduled["startup"]:
            scheduled.run(everyone)

    def on_step(self) -> None:
        """Count an env step; fire the interval events whose time has come."""
        self.step_count.add_(1)
        for scheduled in self.scheduled["reset"]:
            if scheduled.steps_since is not None:
                scheduled.steps_since.add_(1)
        for scheduled in self.scheduled["interval"]:
            scheduled.steps_left.sub_(1)
            due = scheduled.steps_left <= 0
            scheduled.steps_left.copy_(torch.where(due, self._draw_interval(scheduled, tuple(due.shape)), scheduled.steps_left))
            scheduled.run(due.expand(self.num_envs))

    def on_reset(self, env_mask: torch.Tensor) -> None:
        """Fire the reset events for the envs in `env_mask` (bool, (num_envs,)) and restart their interval clocks."""
        for scheduled in self.scheduled["reset"]:
            due = env_mask
            if scheduled.steps_since is not None:
                due = env_mask & (scheduled.steps_since >= scheduled.event.min_steps_between_resets)
                scheduled.steps_since.masked_fill_(due, 0)
            scheduled.run(due)
        for scheduled in self.scheduled["interval"]:
            if not scheduled.event.global_time:
                redrawn = self._draw_interval(scheduled, (self.num_envs,))
                scheduled.steps_left.copy_(torch.where(env_mask, redrawn, scheduled.steps_left))

    def noisy_actions(self, actions: torch.Tensor) -> torch.Tensor:
        for draw in self.noise["actions"]:
            actions = draw(actions, self.step_count)
        return actions

    def noisy_observations(self, obs: torch.Tensor) -> torch.Tensor:
        for draw in self.noise["observations"]:
            obs = draw(obs, self.step_count)
        return obs


def _bind(name: str, event: Event, env: Any) -> Callable[[torch.Tensor], None]:
    """`event`'s function as `run(env_mask)`; a class is built here, once, and errors name the event."""
    if not isinstance(event.func, type):
        return lambda env_mask: event.func(env, env_mask, **event.params)
    try:
        term = event.func(env, **event.params)
    except (KeyError, ValueError, TypeError) as error:
        message = error.args[0] if error.args else str(error)
        raise ValueError(f"event {name!r}: {message}") from error
    return lambda env_mask: term(env, env_mask)


def _interval_range(interval_s: Any) -> tuple[float, float]:
    if isinstance(interval_s, (int, float)) and not isinstance(interval_s, bool):
        return float(interval_s), float(interval_s)
    if isinstance(interval_s, (list, tuple)) and len(interval_s) == 2 and all(isinstance(x, (int, float)) for x in interval_s):
        return float(interval_s[0]), float(interval_s[1])
    raise ValueError(f"interval_s must be seconds > 0 or [min, max] with 0 < min <= max, got {interval_s!r}")
