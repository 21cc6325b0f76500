"""Event functions: `randomize_field`, the one randomization engine, and `push_by_setting_velocity`.

`randomize_field` writes one quantity of the per-env model (`sim.parameters`,
isaac_rl/sim/parameters.py) for the envs an event fires for, one draw per
env and element. Elements are picked by name or whole-match regex among an
actor's bodies, geoms, joints or actuators (`actor`), or the whole scene's:

| quantity | field | elements | physical bound | also written |
|---|---|---|---|---|
| mass | body_mass | bodies | > 0 | inertia x the same factor (same density), subtree masses |
| com | body_ipos (x, y, z) | bodies | | |
| inertia | body_inertia (3 principal moments) | bodies | > 0 | |
| friction | geom_friction[0] (sliding) | geoms | >= 0 | |
| damping, armature, frictionloss | dof_* | joints (a ball joint's 3 dofs each) | >= 0 | |
| kp | actuator_gainprm[0] | position servos | >= 0 | biasprm[1] = -kp |
| kd | -actuator_biasprm[2] | position servos | >= 0 | |
| force_limit, ctrl_limit | actuator_forcerange/ctrlrange[1] (upper) | limited actuators | >= 0 | the lower end, by the same factor |
| gravity | gravity (x, y, z) | the env | | |

Each draw changes the model file's value (not the last draw), so events of
any mode can write the same quantity. MuJoCo keeps the larger friction of two
touching geoms: a robot's friction draws decide its contacts where the
ground's friction is at most their low end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from isaac_rl.sim.layout import Names
from isaac_rl.tasks.base.draws import Draw

# Event classes are named as functions, as in Isaac Lab: a declaration reads `Event(push_by_setting_velocity, ...)`.
# ruff: noqa: N801


@dataclass(frozen=True)
class Quantity:
    field: str
    element: str | None
    """'body', 'geom', 'joint', 'actuator'; None where the field is one per env (gravity)."""
    column: int | None = None
    """The field's trailing column that holds the quantity; None: every column, each drawn."""
    lower: float | None = None
    """Physical lower bound of the value."""
    sign: float = 1.0
    """-1 where MuJoCo stores the negated quantity (a position servo's kv in biasprm)."""


QUANTITIES: dict[str, Quantity] = {
    "mass": Quantity("body_mass", "body", lower=1e-6),
    "com": Quantity("body_ipos", "body"),
    "inertia": Quantity("body_inertia", "body", lower=1e-9),
    "friction": Quantity("geom_friction", "geom", column=0, lower=0.0),
    "damping": Quantity("dof_damping", "joint", lower=0.0),
    "armature": Quantity("dof_armature", "joint", lower=0.0),
    "frictionloss": Quantity("dof_frictionloss", "joint", lower=0.0),
    "kp": Quantity("actuator_gainprm", "actuator", column=0, lower=0.0),
    "kd": Quantity("actuator_biasprm", "actuator", column=2, lower=0.0, sign=-1.0),
    "force_limit": Quantity("actuator_forcerange", "actuator", column=1, lower=0.0),
    "ctrl_limit": Quantity("actuator_ctrlrange", "actuator", column=1, lower=0.0),
    "gravity": Quantity("gravity", None),
}


class randomize_field:
    """Draw `quantity` (see the table above) for the picked elements: `draw` changes the model file's value."""

    def __init__(self, env: Any, quantity: str, draw: Draw, actor: str | None = None, names: Names | None = None) -> None:
        if quantity not in QUANTITIES:
            raise ValueError(f"no quantity {quantity!r} to randomize; accepted: {', '.join(QUANTITIES)}")
        if not isinstance(draw, Draw):
            raise ValueError(f"randomize_field's draw must be a Draw (isaac_rl/tasks/base/draws.py), got {draw!r}")
        self.quantity, self.spec, self.draw = quantity, QUANTITIES[quantity], draw
        p = self.parameters = env.sim.parameters
        if self.spec.element is None:
            if actor is not None or names is not None:
                raise ValueError(f"{quantity} is one per env: it takes no actor or names")
            rows: slice | torch.Tensor = slice(None)
        else:
            picked = _pick(p, self.spec.element, actor, names)
            if not picked:
                owner = "the scene" if actor is None else f"actor {actor!r}"
                raise ValueError(f"randomize {quantity}: {owner} has no {self.spec.element}s")
            if quantity in ("kp", "kd"):
                p.check_position_servos(picked)
            if quantity in ("force_limit", "ctrl_limit"):
                p.check_limited(picked, quantity.split("_")[0])
            rows = torch.as_tensor(picked, dtype=torch.long, device=env.device)
        # (all envs, picked elements[, the quantity's column]), built once: the call is indexing alone
        self.index = (slice(None), rows) if self.spec.column is None else (slice(None), rows, self.spec.column)
        self.values = p[self.spec.field]  # asked for here: on MuJoCo Warp, widening the field re-records the physics graph
        nominal = p.nominal(self.spec.field)
        self.nominal = self.spec.sign * nominal[self.index[1:]]
        if quantity == "mass":
            self.nominal_inertia = p.nominal("body_inertia")[rows]
            self.inertia = p["body_inertia"]
            p["body_subtreemass"]  # widened now, before the first step, for refresh_subtree_mass
        elif quantity == "kp":
            self.bias = p["actuator_biasprm"]
        elif quantity in ("force_limit", "ctrl_limit"):
            if bool((self.nominal <= 0).any()):
                raise ValueError(f"randomize {quantity}: every picked actuator needs an upper limit > 0 to scale its range by")
            self.nominal_low = nominal[rows, 0]

    def __call__(self, env: Any, env_mask: torch.Tensor) -> None:
        step = env.event_manager.step_count if self.draw.schedule else None
        shape = (env.num_envs, *self.nominal.shape)
        value = self.draw.apply(self.nominal.expand(shape), self.draw.sample(shape, self.nominal.device, step), self.spec.lower)
        rows = self.index[1]
        _write(self.values, self.index, env_mask, self.spec.sign * value)
        if self.quantity == "mass":
            ratio = value / self.nominal.clamp_min(1e-9)
            _write(self.inertia, (slice(None), rows), env_mask, self.nominal_inertia * ratio.unsqueeze(-1))
            self.parameters.refresh_subtree_mass()
        elif self.quantity == "kp":  # a position servo's bias holds -kp
            _write(self.bias, (slice(None), rows, 1), env_mask, -value)
        elif self.quantity in ("force_limit", "ctrl_limit"):  # the range keeps its shape
            _write(self.values, (slice(None), rows, 0), env_mask, self.nominal_low * (value / self.nominal))


class push_by_setting_velocity:
    """Set the root velocity components named in `velocity_range` to uniform draws in their [low, high].

    Components: x, y, z (m/s) and roll, pitch, yaw (rad/s about the world
    axes); the others keep their value. `actor`: names or regexes of free
    actors, each drawn on its own; the scene's first actor by default. As
    AnymalTerrain's (and legged_gym's) push_robots.
    """

    AXES = ("x", "y", "z", "roll", "pitch", "yaw")

    def __init__(self, env: Any, velocity_range: dict[str, Any], actor: Names | None = None) -> None:
        unknown = set(velocity_range) - set(self.AXES)
        if unknown or not velocity_range:
            raise ValueError(f"push velocity_range has keys {sorted(velocity_range)}; accepted: {', '.join(self.AXES)}")
        low, high = [0.0] * 6, [0.0] * 6
        for axis, bounds in velocity_range.items():
            if not isinstance(bounds, (list, tuple)) or len(bounds) != 2 or not bounds[0] <= bounds[1]:
                raise ValueError(f"push velocity_range[{axis!r}] must be [low, high] with low <= high, got {bounds!r}")
            low[self.AXES.index(axis)], high[self.AXES.index(axis)] = float(bounds[0]), float(bounds[1])
        scene = env.sim.scene
        self.actor = actor or scene.actor_names[0]
        fixed = [scene.actor_names[i] for i in scene.actor_ids(self.actor) if not scene.layout.actors[i].is_free]
        if fixed:
            raise ValueError(f"actor(s) {fixed} have a fixed base: only free actors' roots can be pushed")
        self.num_actors = scene.actor_root_state(self.actor).shape[1]  # its index plan is built here, not in the step
        self.low = torch.tensor(low, device=env.device)
        self.high = torch.tensor(high, device=env.device)
        self.chosen = torch.tensor([axis in velocity_range for axis in self.AXES], device=env.device)

    def __call__(self, env: Any, env_mask: torch.Tensor) -> None:
        scene = env.sim.scene
        state = scene.actor_root_state(self.actor)
        drawn = self.low + (self.high - self.low) * torch.rand((env.num_envs, self.num_actors, 6), device=self.low.device)
        state[..., 7:13] = torch.where(self.chosen, drawn, state[..., 7:13])
        scene.write_root_state(env_mask, self.actor, state)


def _pick(p: Any, element: str, actor: str | None, names: Names | None) -> list[int]:
    select = {"body": p.actor_bodies, "geom": p.actor_geoms, "joint": p.actor_dofs, "actuator": p.actor_actuators}
    return select[element](actor, names)


def _write(values: torch.Tensor, index: tuple, env_mask: torch.Tensor, value: torch.Tensor) -> None:
    """`values[index] = value` in the envs of `env_mask`, the others untouched (no envs picked out: no sync)."""
    rows = env_mask.view(-1, *([1] * (value.dim() - 1)))
    values[index] = torch.where(rows, value, values[index])
