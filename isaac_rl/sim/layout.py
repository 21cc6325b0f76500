"""A model's scene layout in plain Python: actors, joints by kind, bodies, and name resolution.

MuJoCo only allows a free joint on a child of the world body, so every free
body is an articulation root: the actors are exactly the world body's
children. Tasks never see an `MjModel`; they see these lists and indices.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import mujoco
import numpy as np

_FREE, _BALL = int(mujoco.mjtJoint.mjJNT_FREE), int(mujoco.mjtJoint.mjJNT_BALL)
_SCALAR = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))

Names = str | Sequence[str]
"""One name or regex pattern (matched whole, as `re.fullmatch`), or a list of them."""


@dataclass(frozen=True)
class Actor:
    name: str
    body: int
    """Index of the actor's root body."""
    qpos_adr: int | None
    """First qpos column of its free joint (7 wide); None for a fixed-base actor."""
    qvel_adr: int | None
    base_pose: tuple[float, ...]
    """Position and quaternion wxyz of the root body in the model (for a fixed base, where it stays)."""

    @property
    def is_free(self) -> bool:
        return self.qpos_adr is not None


@dataclass(frozen=True)
class Joint:
    name: str
    kind: str
    """'scalar' (hinge or slide: 1 qpos, 1 qvel) or 'ball' (4 qpos quaternion, 3 qvel)."""
    qpos_adr: int
    qvel_adr: int


@dataclass(frozen=True)
class SceneLayout:
    body_names: list[str]
    body_root: list[int]
    """The actor root body of each body (MuJoCo's body_rootid); 0 for the world body."""
    actors: list[Actor]
    joints: list[Joint]
    """Hinge, slide and ball joints in model order; free joints belong to actors."""

    @property
    def actor_names(self) -> list[str]:
        return [a.name for a in self.actors]

    def joint_names(self, kind: str | None = None) -> list[str]:
        return [j.name for j in self.joints if kind is None or j.kind == kind]


def object_name(model: mujoco.MjModel, obj: mujoco.mjtObj, i: int) -> str:
    return mujoco.mj_id2name(model, obj, i) or f"{obj.name}_{i}"


def scene_layout(model: mujoco.MjModel) -> SceneLayout:
    bodies = [object_name(model, mujoco.mjtObj.mjOBJ_BODY, b) for b in range(model.nbody)]
    actors = []
    for b in range(1, model.nbody):
        if model.body_parentid[b] != 0:
            continue
        free = [j for j in range(model.body_jntadr[b], model.body_jntadr[b] + model.body_jntnum[b]) if model.jnt_type[j] == _FREE]
        qpos, qvel = (int(model.jnt_qposadr[free[0]]), int(model.jnt_dofadr[free[0]])) if free else (None, None)
        actors.append(Actor(bodies[b], b, qpos, qvel, tuple(float(x) for x in (*model.body_pos[b], *model.body_quat[b]))))
    joints = []
    for j in range(model.njnt):
        kind = "ball" if model.jnt_type[j] == _BALL else "scalar" if model.jnt_type[j] in _SCALAR else None
        if kind:
            joints.append(Joint(object_name(model, mujoco.mjtObj.mjOBJ_JOINT, j), kind, int(model.jnt_qposadr[j]), int(model.jnt_dofadr[j])))
    return SceneLayout(bodies, [int(r) for r in model.body_rootid], actors, joints)


def resolve(names: Names, candidates: Sequence[str], kind: str) -> list[int]:
    """Indices into `candidates` of `names` (exact names or whole-match regexes), in the order asked, without repeats."""
    patterns = [names] if isinstance(names, str) else list(names)
    found: list[int] = []
    for pattern in patterns:
        if pattern in candidates:
            hits = [list(candidates).index(pattern)]
        else:
            regex = re.compile(pattern)
            hits = [i for i, c in enumerate(candidates) if regex.fullmatch(c)]
        if not hits:
            raise KeyError(f"no {kind} matches {pattern!r}; the model has: {', '.join(candidates) or '(none)'}")
        found.extend(i for i in hits if i not in found)
    return found


def columns(starts: Sequence[int], width: int) -> np.ndarray:
    """Flat column indices of `width`-wide blocks starting at `starts`."""
    return (np.asarray(starts, dtype=np.int64)[:, None] + np.arange(width)).reshape(-1)
