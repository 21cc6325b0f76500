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
Entries are checked before the sim is built, the actors and names when it is.

Observation and action noise are drawn every step. Physics parameters are
drawn for every env at start-up, then again for an env when it resets at
least `frequency` steps after its last draw (never, with `setup_only`).
This is a translation into events (isaac_rl/tasks/base/events.py): each
observations/actions entry is a `Noise`, each physics entry a startup event
of `randomize_field` and, unless setup_only, a reset event that waits
`frequency` steps (`min_steps_between_resets`). So the draws are clamped to
physical values (a gaussian never gives a negative mass or friction), run
inside the step's CUDA graph, and mix with a task's own events.

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

from dataclasses import dataclass, field
from typing import Any

from isaac_rl.tasks.base.draws import Draw
from isaac_rl.tasks.base.event_terms import randomize_field
from isaac_rl.tasks.base.events import Event, Noise

OPERATIONS = {"additive": "add", "scaling": "scale"}
# property group -> property -> the quantity of randomize_field it is
PROPERTIES = {
    "rigid_body_properties": {"mass": "mass", "com": "com"},
    "rigid_shape_properties": {"friction": "friction"},
    "dof_properties": {"damping": "damping", "armature": "armature"},
    "actuator_properties": {"stiffness": "kp", "damping": "kd"},
}
_ENTRY_KEYS = {"range", "operation", "distribution", "schedule", "schedule_steps", "setup_only", "names"}


@dataclass(frozen=True)
class Entry:
    """One randomized quantity of `randomization_params`."""

    draw: Draw
    setup_only: bool = False
    names: Any = None

    @classmethod
    def from_cfg(cls, cfg: Any, where: str) -> Entry:
        if not isinstance(cfg, dict):
            raise ValueError(f"{where} must be a mapping with range, operation and distribution, got {cfg!r}")
        unknown = set(cfg) - _ENTRY_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; accepted: {sorted(_ENTRY_KEYS)}")
        operation = cfg.get("operation", "additive")
        if operation not in OPERATIONS:
            raise ValueError(f"{where}.operation={operation!r}; accepted: {', '.join(OPERATIONS)}")
        bounds = cfg.get("range")
        try:
            draw = Draw(
                tuple(bounds) if isinstance(bounds, list) else bounds,
                cfg.get("distribution", "uniform"),
                OPERATIONS[operation],
                schedule=cfg.get("schedule"),
                schedule_steps=cfg.get("schedule_steps", 0),
            )
        except ValueError as error:
            raise ValueError(f"{where}.{error}") from None
        return cls(draw, bool(cfg.get("setup_only", False)), cfg.get("names"))


@dataclass(frozen=True)
class RandomizationParams:
    """`task.randomization_params`, checked (before any sim is built)."""

    frequency: int = 1
    observations: Draw | None = None
    actions: Draw | None = None
    gravity: Entry | None = None
    actors: dict[str, dict[tuple[str, str], Entry]] = field(default_factory=dict)
    """actor -> (property group, property) -> entry."""

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
        noise = {key: Entry.from_cfg(params[key], f"{where}.{key}").draw for key in ("observations", "actions") if key in params}
        sim_params = params.get("sim_params") or {}
        for name in sim_params:
            if name != "gravity":
                raise ValueError(f"{where}.sim_params.{name}: accepted: gravity")
        gravity = Entry.from_cfg(sim_params["gravity"], f"{where}.sim_params.gravity") if "gravity" in sim_params else None
        actors: dict[str, dict[tuple[str, str], Entry]] = {}
        for actor, groups in (params.get("actor_params") or {}).items():
            actors[actor] = {}
            for group, entries in (groups or {}).items():
                if group not in PROPERTIES:
                    raise ValueError(f"{where}.actor_params.{actor}.{group}: accepted property groups: {', '.join(PROPERTIES)}")
                for prop, cfg in (entries or {}).items():
                    if prop not in PROPERTIES[group]:
                        raise ValueError(f"{where}.actor_params.{actor}.{group}.{prop}: accepted: {', '.join(PROPERTIES[group])}")
                    actors[actor][group, prop] = Entry.from_cfg(cfg, f"{where}.actor_params.{actor}.{group}.{prop}")
        return cls(frequency, noise.get("observations"), noise.get("actions"), gravity, actors)

    def events(self, actor_names: list[str]) -> dict[str, Event | Noise]:
        """These parameters as events of a scene with actors `actor_names`, named `randomization_params.<entry>`."""
        unknown = [actor for actor in self.actors if actor not in actor_names]
        if unknown:
            raise KeyError(f"no actor named {unknown[0]!r}; the scene's actors are: {', '.join(actor_names)}")
        declared: dict[str, Event | Noise] = {}
        for target in ("observations", "actions"):
            if getattr(self, target) is not None:
                declared[f"randomization_params.{target}"] = Noise(target, getattr(self, target))
        physics = [("sim_params.gravity", self.gravity, {"quantity": "gravity"})] if self.gravity else []
        for actor, entries in self.actors.items():
            for (group, prop), entry in entries.items():
                params = {"quantity": PROPERTIES[group][prop], "actor": actor, "names": entry.names}
                physics.append((f"actor_params.{actor}.{group}.{prop}", entry, params))
        for name, entry, params in physics:
            params = {**params, "draw": entry.draw}
            declared[f"randomization_params.{name}"] = Event(randomize_field, "startup", params)
            if not entry.setup_only:
                declared[f"randomization_params.{name}.reset"] = Event(
                    randomize_field, "reset", params, min_steps_between_resets=self.frequency
                )
        return declared
