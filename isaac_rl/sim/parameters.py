"""Per-env physics parameters: masses, centres of mass, friction, joint damping, armature and friction loss, actuator gains and limits, gravity.

`sim.parameters[name]` is a (num_envs, ...) torch view of one MuJoCo model
field, one row per env, that tasks (and their events) write;
the next physics step uses what they wrote. On MuJoCo Warp the view is the
model's own batched array: the field is widened from one row shared by all
worlds to one row per world when first asked for, so writing it later costs no
host work and stays inside the step's CUDA graph. Ask for fields before the
first step (a task's `__init__`): widening re-records the physics graph. On
MuJoCo C every stepping thread holds its own copy of the model, and an env's
rows are copied into it before that env steps, resets or has its state
written, so the state computed there is the env's own on both backends.

Derived constants follow `refresh_subtree_mass()` only: MuJoCo's constraint
scaling (`body_invweight0`, `dof_invweight0`) keeps the model file's values,
as in MuJoCo Playground's randomizers.
"""

from __future__ import annotations

from typing import Protocol

import mujoco
import numpy as np
import torch

from isaac_rl.sim.layout import Names, object_name, resolve
from isaac_rl.sim.model import check_position_servos

FIELDS: dict[str, str] = {
    "body_mass": "(nbody,) mass, kg",
    "body_inertia": "(nbody, 3) principal moments of inertia, kg m^2",
    "body_ipos": "(nbody, 3) centre of mass in the body frame, m",
    "body_subtreemass": "(nbody,) mass of the body and its descendants (see refresh_subtree_mass)",
    "geom_friction": "(ngeom, 3) sliding, torsional and rolling friction",
    "dof_damping": "(nv,) joint damping, N s/m or N m s/rad",
    "dof_armature": "(nv,) armature inertia",
    "dof_frictionloss": "(nv,) dry friction of the joint, N or N m",
    "actuator_gainprm": "(nu, 10) gain parameters (a position actuator's kp is [0])",
    "actuator_biasprm": "(nu, 10) bias parameters (a position actuator's -kp is [1], -kv is [2])",
    "actuator_forcerange": "(nu, 2) force limits [low, high] (where actuator_forcelimited)",
    "actuator_ctrlrange": "(nu, 2) control limits [low, high] (where actuator_ctrllimited)",
    "gravity": "(3,) gravitational acceleration, m/s^2",
}


class _Backend(Protocol):
    def model_field(self, name: str) -> torch.Tensor: ...


def model_value(model: mujoco.MjModel, name: str) -> np.ndarray:
    """A field of `FIELDS` as stored in an MjModel (gravity lives in its options)."""
    return model.opt.gravity if name == "gravity" else getattr(model, name)


class ModelParameters:
    def __init__(self, model: mujoco.MjModel, backend: _Backend, device: torch.device) -> None:
        self._model = model
        self._backend = backend
        self._device = device
        self._views: dict[str, torch.Tensor] = {}
        # subtree[a, b] = 1 where body b is in the subtree of body a (bodies come after their parents)
        subtree = np.eye(model.nbody, dtype=np.float32)
        for b in range(model.nbody - 1, 0, -1):
            subtree[model.body_parentid[b]] += subtree[b]
        self._subtree = torch.as_tensor(subtree, device=device)

    def __getitem__(self, name: str) -> torch.Tensor:
        """(num_envs, ...) view of field `name` (see `FIELDS`), widened to one row per env on first use."""
        if name not in FIELDS:
            raise KeyError(f"no per-env parameter {name!r}; accepted: {', '.join(FIELDS)}")
        if name not in self._views:
            if self._device.type == "cuda" and torch.cuda.is_current_stream_capturing():
                raise RuntimeError(f"sim.parameters[{name!r}] first asked for during CUDA graph capture; ask in the task's __init__")
            self._views[name] = self._backend.model_field(name)
        return self._views[name]

    def nominal(self, name: str) -> torch.Tensor:
        """The model file's value of field `name`, shared by all envs."""
        if name not in FIELDS:
            raise KeyError(f"no per-env parameter {name!r}; accepted: {', '.join(FIELDS)}")
        return torch.as_tensor(np.array(model_value(self._model, name)), dtype=torch.float32, device=self._device)

    def refresh_subtree_mass(self) -> None:
        """Recompute `body_subtreemass` from `body_mass` (after writing masses)."""
        self["body_subtreemass"].copy_(self["body_mass"] @ self._subtree.T)

    # -- which rows belong to an actor (or to the whole scene: actor None) ------
    def actor_bodies(self, actor: str | None, names: Names | None = None) -> list[int]:
        """Bodies of `actor` (its root and everything below), or those of them named; every body but the world's without an actor."""
        m = self._model
        if actor is None:
            return self._subset(list(range(1, m.nbody)), mujoco.mjtObj.mjOBJ_BODY, names, _kind("body", actor))
        roots = {object_name(m, mujoco.mjtObj.mjOBJ_BODY, b): b for b in range(1, m.nbody) if m.body_parentid[b] == 0}
        if actor not in roots:
            raise KeyError(f"no actor named {actor!r}; the scene's actors are: {', '.join(roots)}")
        bodies = [b for b in range(m.nbody) if m.body_rootid[b] == roots[actor]]
        return self._subset(bodies, mujoco.mjtObj.mjOBJ_BODY, names, _kind("body", actor))

    def actor_geoms(self, actor: str | None, names: Names | None = None) -> list[int]:
        """Geoms of `actor`'s bodies, or those of them named; every geom (the ground's too) without an actor."""
        bodies = set(self.actor_bodies(actor)) | ({0} if actor is None else set())
        geoms = [g for g in range(self._model.ngeom) if self._model.geom_bodyid[g] in bodies]
        return self._subset(geoms, mujoco.mjtObj.mjOBJ_GEOM, names, _kind("geom", actor))

    def actor_dofs(self, actor: str | None, names: Names | None = None) -> list[int]:
        """Velocity columns (dof_* rows) of `actor`'s hinge, slide and ball joints, or of the named joints."""
        m, bodies = self._model, set(self.actor_bodies(actor))
        joints = [j for j in range(m.njnt) if m.jnt_bodyid[j] in bodies and m.jnt_type[j] != int(mujoco.mjtJoint.mjJNT_FREE)]
        joints = self._subset(joints, mujoco.mjtObj.mjOBJ_JOINT, names, _kind("joint", actor))
        width = {int(mujoco.mjtJoint.mjJNT_BALL): 3}
        return [int(m.jnt_dofadr[j]) + k for j in joints for k in range(width.get(int(m.jnt_type[j]), 1))]

    def actor_actuators(self, actor: str | None, names: Names | None = None) -> list[int]:
        """Actuators that drive joints of `actor`, or those of them named; every actuator without an actor."""
        m = self._model
        if actor is None:
            return self._subset(list(range(m.nu)), mujoco.mjtObj.mjOBJ_ACTUATOR, names, _kind("actuator", actor))
        joints = {j for j in range(m.njnt) if m.jnt_bodyid[j] in set(self.actor_bodies(actor))}
        joint_transmission = (int(mujoco.mjtTrn.mjTRN_JOINT), int(mujoco.mjtTrn.mjTRN_JOINTINPARENT))
        actuators = [a for a in range(m.nu) if int(m.actuator_trntype[a]) in joint_transmission and int(m.actuator_trnid[a, 0]) in joints]
        return self._subset(actuators, mujoco.mjtObj.mjOBJ_ACTUATOR, names, _kind("actuator", actor))

    def check_limited(self, actuators: list[int], limit: str) -> None:
        """Raise unless every actuator has the `limit` ('force' or 'ctrl') on: MuJoCo ignores the range otherwise."""
        flags = getattr(self._model, f"actuator_{limit}limited")
        for a in actuators:
            if not flags[a]:
                name = object_name(self._model, mujoco.mjtObj.mjOBJ_ACTUATOR, a)
                raise ValueError(f"actuator {name!r} has no {limit} limit ({limit}limited) for its {limit}range to act on")

    def check_position_servos(self, actuators: list[int]) -> None:
        """Raise unless every actuator is a PD position servo (fixed gain kp, affine bias -kp q - kv qdot)."""
        check_position_servos(self._model, actuators)

    def _subset(self, indices: list[int], obj: mujoco.mjtObj, names: Names | None, kind: str) -> list[int]:
        if names is None:
            return indices
        candidates = [object_name(self._model, obj, i) for i in indices]
        return [indices[i] for i in resolve(names, candidates, kind)]


def _kind(element: str, actor: str | None) -> str:
    return element if actor is None else f"{element} of actor {actor!r}"
