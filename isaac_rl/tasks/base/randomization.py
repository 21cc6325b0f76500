"""Domain randomization, configured like IsaacGymEnvs' `task.randomize` + `task.randomization_params`.

    task:
      randomize: True
      randomization_params:
        frequency: 600                  # env steps before an env's physics may be drawn again (at its next reset)
        observations: {range: [0, 0.002], operation: additive, distribution: gaussian}
        actions: {range: [0, 0.02], operation: additive, distribution: gaussian}
        sim_params:
          gravity: {range: [0, 0.4], operation: additive, distribution: gaussian, schedule: linear, schedule_steps: 3000}
        actor_params:
          base:                         # an actor: a body on the world body (isaac_rl/sim/layout.py)
            rigid_body_properties:
              mass: {range: [0.8, 1.2], operation: scaling, distribution: uniform, setup_only: True}
              com: {range: [-0.05, 0.05], operation: additive, distribution: uniform, names: [base]}
            rigid_shape_properties:
              friction: {range: [0.5, 1.25], operation: scaling, distribution: uniform}
            dof_properties:
              damping: {range: [0.5, 1.5], operation: scaling, distribution: uniform}
              armature: {range: [0.0, 0.01], operation: additive, distribution: uniform}
            actuator_properties:
              stiffness: {range: [0.9, 1.1], operation: scaling, distribution: uniform}
              damping: {range: [0.9, 1.1], operation: scaling, distribution: uniform}

Each entry draws one value per env and element (body, geom, dof, actuator,
axis) from `distribution`: uniform in [low, high], gaussian with range
[mean, std] (IsaacGymEnvs calls the second number var and uses it as the
standard deviation), or loguniform in [low, high]. `operation` adds the draw
to the model file's value or scales it. `schedule: linear` grows the spread
from nothing to the full range over `schedule_steps` env steps; `constant`
switches it on at `schedule_steps`. `names` limits an entry to the actor's
bodies, geoms, joints or actuators of those names (regexes allowed).

Observation and action noise are drawn every step. Physics parameters are
drawn for every env at start-up, then again for an env when it resets at
least `frequency` steps after its last draw (never, with `setup_only`).
All of it is tensor work inside the step: no host synchronisation, so it
stays in the step's CUDA graph. The parameters themselves are the per-env
model fields of `sim.parameters` (isaac_rl/sim/parameters.py), on both
backends.

Mapping from IsaacGymEnvs: `mass` also scales the body's inertia by the same
factor (same density); `com` is new (MuJoCo's body_ipos, per axis);
`friction` is the geom's sliding friction, and as MuJoCo takes the larger of
two touching geoms' friction, a robot's draws only decide its contacts where
the ground's friction is at most the range's low end; `dof_properties` are
MuJoCo's joint damping and armature, and the PD gains that IsaacGymEnvs
keeps in dof_properties (stiffness, damping) are `actuator_properties` of
position actuators here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from isaac_rl.sim import Simulation

DISTRIBUTIONS = ("uniform", "gaussian", "loguniform")
OPERATIONS = ("additive", "scaling")
SCHEDULES = ("linear", "constant")
PROPERTIES = {
    "rigid_body_properties": ("mass", "com"),
    "rigid_shape_properties": ("friction",),
    "dof_properties": ("damping", "armature"),
    "actuator_properties": ("stiffness", "damping"),
}
_ENTRY_KEYS = {"range", "operation", "distribution", "schedule", "schedule_steps", "setup_only", "names"}


@dataclass(frozen=True)
class Draw:
    """How one quantity is randomized."""

    low: float
    high: float
    distribution: str = "uniform"
    operation: str = "additive"
    schedule: str | None = None
    schedule_steps: int = 0
    setup_only: bool = False
    names: Any = None

    @classmethod
    def from_cfg(cls, cfg: Any, where: str) -> Draw:
        if not isinstance(cfg, dict):
            raise ValueError(f"{where} must be a mapping with range, operation and distribution, got {cfg!r}")
        unknown = set(cfg) - _ENTRY_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; accepted: {sorted(_ENTRY_KEYS)}")
        bounds = cfg.get("range")
        if not isinstance(bounds, (list, tuple)) or len(bounds) != 2 or not all(isinstance(b, (int, float)) for b in bounds):
            raise ValueError(f"{where}.range must be two numbers, got {bounds!r}")
        draw = cls(
            float(bounds[0]),
            float(bounds[1]),
            cfg.get("distribution", "uniform"),
            cfg.get("operation", "additive"),
            cfg.get("schedule"),
            cfg.get("schedule_steps", 0),
            cfg.get("setup_only", False),
            cfg.get("names"),
        )
        for key, value, accepted in (("distribution", draw.distribution, DISTRIBUTIONS), ("operation", draw.operation, OPERATIONS)):
            if value not in accepted:
                raise ValueError(f"{where}.{key}={value!r}; accepted: {', '.join(accepted)}")
        if draw.schedule is not None and draw.schedule not in SCHEDULES:
            raise ValueError(f"{where}.schedule={draw.schedule!r}; accepted: {', '.join(SCHEDULES)} (or leave it out)")
        if draw.schedule is not None and (not isinstance(draw.schedule_steps, int) or draw.schedule_steps <= 0):
            raise ValueError(f"{where}.schedule_steps must be a positive integer with a schedule, got {draw.schedule_steps!r}")
        if draw.distribution != "gaussian" and draw.low > draw.high:
            raise ValueError(f"{where}.range={list(bounds)}: expected [low, high]")
        if draw.distribution == "loguniform" and draw.low <= 0:
            raise ValueError(f"{where}.range={list(bounds)}: loguniform needs low > 0")
        if draw.distribution == "gaussian" and draw.high < 0:
            raise ValueError(f"{where}.range={list(bounds)}: gaussian takes [mean, std] with std >= 0")
        return draw

    def sample(self, shape: tuple[int, ...], step: torch.Tensor, device: torch.device) -> torch.Tensor:
        """Draws of `shape`, pulled towards the neutral value (0 added, x1) as the schedule says at env step `step`."""
        u = torch.rand(shape, device=device)
        if self.distribution == "uniform":
            value = self.low + (self.high - self.low) * u
        elif self.distribution == "loguniform":
            value = torch.exp(math.log(self.low) + (math.log(self.high) - math.log(self.low)) * u)
        else:
            value = self.low + self.high * torch.randn(shape, device=device)
        if self.schedule is None:
            return value
        if self.schedule == "linear":
            strength = torch.clamp(step.float() / self.schedule_steps, max=1.0)
        else:
            strength = (step >= self.schedule_steps).float()
        neutral = 1.0 if self.operation == "scaling" else 0.0
        return neutral + (value - neutral) * strength

    def apply(self, nominal: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
        return nominal * draws if self.operation == "scaling" else nominal + draws


@dataclass
class _Target:
    """A per-env model field and the rows/columns of it one draw decides."""

    draw: Draw
    field: str
    index: tuple
    """Indexes the (num_envs, ...) field: (slice(None), rows[, column])."""
    nominal: torch.Tensor
    """The model file's values there, x sign."""
    sign: float = 1.0
    """-1 where MuJoCo stores the negated quantity (a position servo's kv in biasprm)."""
    inertia: torch.Tensor | None = None
    """For masses: the bodies' nominal inertia, which follows the mass."""


@dataclass(frozen=True)
class RandomizationParams:
    """`task.randomization_params`, checked (before any sim is built)."""

    frequency: int = 1
    observations: Draw | None = None
    actions: Draw | None = None
    gravity: Draw | None = None
    actors: dict[str, dict[tuple[str, str], Draw]] = field(default_factory=dict)
    """actor -> (property group, property) -> draw."""

    @classmethod
    def from_cfg(cls, params: Any) -> RandomizationParams:
        where = "task.randomization_params"
        if not isinstance(params, dict):
            raise ValueError(f"{where} must be a mapping, got {params!r}")
        known = {"frequency", "observations", "actions", "sim_params", "actor_params"}
        unknown = set(params) - known
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; accepted: {sorted(known)}")
        frequency = params.get("frequency", 1)
        if isinstance(frequency, bool) or not isinstance(frequency, int) or frequency < 1:
            raise ValueError(f"{where}.frequency must be a positive integer (env steps), got {frequency!r}")
        noise = {key: Draw.from_cfg(params[key], f"{where}.{key}") for key in ("observations", "actions") if key in params}
        sim_params = params.get("sim_params") or {}
        for name in sim_params:
            if name != "gravity":
                raise ValueError(f"{where}.sim_params.{name}: accepted: gravity")
        gravity = Draw.from_cfg(sim_params["gravity"], f"{where}.sim_params.gravity") if "gravity" in sim_params else None
        actors: dict[str, dict[tuple[str, str], Draw]] = {}
        for actor, groups in (params.get("actor_params") or {}).items():
            actors[actor] = {}
            for group, entries in (groups or {}).items():
                if group not in PROPERTIES:
                    raise ValueError(f"{where}.actor_params.{actor}.{group}: accepted property groups: {', '.join(PROPERTIES)}")
                for prop, cfg in (entries or {}).items():
                    if prop not in PROPERTIES[group]:
                        raise ValueError(f"{where}.actor_params.{actor}.{group}.{prop}: accepted: {', '.join(PROPERTIES[group])}")
                    actors[actor][group, prop] = Draw.from_cfg(cfg, f"{where}.actor_params.{actor}.{group}.{prop}")
        return cls(frequency, noise.get("observations"), noise.get("actions"), gravity, actors)


class DomainRandomizer:
    def __init__(self, params: RandomizationParams, sim: Simulation, device: torch.device) -> None:
        self.frequency = params.frequency
        self.observation_noise = params.observations
        self.action_noise = params.actions
        self.sim = sim
        self.device = device
        self.targets: list[_Target] = []
        self._touches_mass = False
        if params.gravity is not None:
            self._add(params.gravity, "gravity", (slice(None),))
        for actor, draws in params.actors.items():
            self._add_actor(actor, draws)
        self.step_count = torch.zeros((), dtype=torch.long, device=device)
        self.steps_since_draw = torch.zeros(sim.num_envs, dtype=torch.long, device=device)
        self.draw_physics(torch.ones(sim.num_envs, dtype=torch.bool, device=device), setup=True)

    def _add_actor(self, actor: str, draws: dict[tuple[str, str], Draw]) -> None:
        p = self.sim.parameters
        p.actor_bodies(actor)  # an unknown actor fails here, with the names there are
        for (group, prop), draw in draws.items():
            if group == "rigid_body_properties":
                rows = p.actor_bodies(actor, draw.names)
                if prop == "mass":
                    self._touches_mass = True
                    self._add(draw, "body_mass", (slice(None), rows), inertia=p.nominal("body_inertia")[rows])
                else:
                    self._add(draw, "body_ipos", (slice(None), rows))
            elif group == "rigid_shape_properties":
                self._add(draw, "geom_friction", (slice(None), p.actor_geoms(actor, draw.names), 0))
            elif group == "dof_properties":
                self._add(draw, f"dof_{prop}", (slice(None), p.actor_dofs(actor, draw.names)))
            else:
                actuators = p.actor_actuators(actor, draw.names)
                p.check_position_servos(actuators)
                if prop == "stiffness":
                    self._add(draw, "actuator_gainprm", (slice(None), actuators, 0))
                else:
                    self._add(draw, "actuator_biasprm", (slice(None), actuators, 2), sign=-1.0)

    def _add(self, draw: Draw, name: str, index: tuple, sign: float = 1.0, inertia: torch.Tensor | None = None) -> None:
        nominal = sign * self.sim.parameters.nominal(name).unsqueeze(0)[index]
        self.targets.append(_Target(draw, name, index, nominal, sign, inertia))

    # -- in the step -----------------------------------------------------------
    def noisy_actions(self, actions: torch.Tensor) -> torch.Tensor:
        if self.action_noise is None:
            return actions
        return self.action_noise.apply(actions, self.action_noise.sample(actions.shape, self.step_count, actions.device))

    def noisy_observations(self, obs: torch.Tensor) -> torch.Tensor:
        if self.observation_noise is None:
            return obs
        return self.observation_noise.apply(obs, self.observation_noise.sample(obs.shape, self.step_count, obs.device))

    def on_step(self, resetting: torch.Tensor) -> None:
        """Count the step; envs in `resetting` whose last draw is `frequency` steps old get new physics."""
        self.step_count += 1
        self.steps_since_draw += 1
        self.draw_physics(resetting & (self.steps_since_draw >= self.frequency), setup=False)

    def draw_physics(self, mask: torch.Tensor, setup: bool) -> None:
        """New physics parameters for the envs in `mask` (bool, (num_envs,)); `setup` includes setup_only draws."""
        p = self.sim.parameters
        drawn = False
        for target in self.targets:
            if target.draw.setup_only and not setup:
                continue
            drawn = True
            shape = (self.sim.num_envs, *target.nominal.shape[1:])
            value = target.draw.apply(target.nominal, target.draw.sample(shape, self.step_count, self.device))
            rows = mask.view(-1, *([1] * (value.dim() - 1)))
            self._write(target.field, target.index, rows, target.sign * value)
            if target.inertia is not None:  # same density: inertia follows the mass
                ratio = value / target.nominal.clamp_min(1e-9)
                self._write("body_inertia", target.index, rows.unsqueeze(-1), target.inertia * ratio.unsqueeze(-1))
            if target.field == "actuator_gainprm":  # a position servo's bias holds -kp
                self._write("actuator_biasprm", (*target.index[:2], 1), rows, -value)
        if self._touches_mass and drawn:
            p.refresh_subtree_mass()
        if drawn:
            self.steps_since_draw.masked_fill_(mask, 0)

    def _write(self, name: str, index: tuple, rows: torch.Tensor, value: torch.Tensor) -> None:
        values = self.sim.parameters[name]
        values[index] = torch.where(rows, value, values[index])
