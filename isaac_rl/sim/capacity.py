"""Sizing MuJoCo Warp's per-world contact and constraint buffers from the model.

MuJoCo Warp preallocates contacts and constraint rows; when a world needs more
it drops them, prints a warning and carries on with wrong physics. We size the
buffers from an upper bound over the geom pairs that can touch, and the
backends turn any overflow into a `SimCapacityError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco

_PLANE = mujoco.mjtGeom.mjGEOM_PLANE
_HFIELD = mujoco.mjtGeom.mjGEOM_HFIELD
_SPHERE = mujoco.mjtGeom.mjGEOM_SPHERE
_CAPSULE = mujoco.mjtGeom.mjGEOM_CAPSULE
_BOX = mujoco.mjtGeom.mjGEOM_BOX


def _max_contacts(type_a: int, type_b: int) -> int:
    """Most contacts MuJoCo Warp emits for one geom pair of these types."""
    pair = {int(type_a), int(type_b)}
    if _SPHERE in pair and (len(pair) == 1 or pair & {_PLANE, _CAPSULE}):
        return 1
    if pair <= {_PLANE, _CAPSULE}:
        return 2
    if pair == {_BOX}:
        return 8
    return 4


def _can_collide(model: mujoco.MjModel, g1: int, g2: int, excluded: set[int]) -> bool:
    b1, b2 = model.geom_bodyid[g1], model.geom_bodyid[g2]
    if b1 == b2:
        return False
    if model.body_weldid[b1] == model.body_weldid[b2]:
        return False  # both static, or welded together
    compatible = (model.geom_contype[g1] & model.geom_conaffinity[g2]) or (model.geom_contype[g2] & model.geom_conaffinity[g1])
    if not compatible:
        return False
    filter_parent = not (model.opt.disableflags & mujoco.mjtDisableBit.mjDSBL_FILTERPARENT)
    if filter_parent:
        p1, p2 = model.body_parentid[model.body_weldid[b1]], model.body_parentid[model.body_weldid[b2]]
        w1, w2 = model.body_weldid[b1], model.body_weldid[b2]
        if (p1 == w2 and w2 != 0) or (p2 == w1 and w1 != 0):
            return False
    return ((int(b1) << 16) + int(b2)) not in excluded and ((int(b2) << 16) + int(b1)) not in excluded


def _ground_pieces(model: mujoco.MjModel, excluded: set[int]) -> list[int]:
    """Per geom, how many heightfield geoms it can collide with."""
    fields = [g for g in range(model.ngeom) if model.geom_type[g] == _HFIELD]
    return [sum(1 for f in fields if f != g and _can_collide(model, g, f, excluded)) for g in range(model.ngeom)]


@dataclass(frozen=True)
class Capacity:
    nconmax: int
    """Contacts per world."""
    njmax: int
    """Constraint rows per world."""


def estimate_capacity(model: mujoco.MjModel) -> Capacity:
    """Upper bound on contacts and constraint rows one world can need."""
    contacts = 0
    rows_per_contact = 1
    if not model.opt.disableflags & mujoco.mjtDisableBit.mjDSBL_CONTACT:
        excluded = set(model.exclude_signature.tolist())
        for g1 in range(model.ngeom):
            for g2 in range(g1 + 1, model.ngeom):
                heightfield = _HFIELD in (model.geom_type[g1], model.geom_type[g2])
                if not heightfield and _can_collide(model, g1, g2, excluded):
                    contacts += _max_contacts(model.geom_type[g1], model.geom_type[g2])
        # a geom smaller than a piece of a tiled ground (isaac_rl/sim/heightfield.py) lies over at most 4 (a corner)
        for g, pieces in enumerate(_ground_pieces(model, excluded)):
            contacts += min(4, pieces) * _max_contacts(_HFIELD, model.geom_type[g])
        for p in range(model.npair):
            contacts += _max_contacts(model.geom_type[model.pair_geom1[p]], model.geom_type[model.pair_geom2[p]])
        condim = int(max(model.geom_condim.max(initial=1), model.pair_dim.max(initial=1)))
        elliptic = model.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC
        rows_per_contact = condim if (elliptic or condim == 1) else 2 * (condim - 1)
    limit_rows = int(model.jnt_limited.sum()) + int(model.tendon_limited.sum())
    friction_rows = int((model.dof_frictionloss > 0).sum())
    equality_rows = 6 * model.neq
    njmax = contacts * rows_per_contact + limit_rows + friction_rows + equality_rows
    return Capacity(nconmax=max(contacts, 1), njmax=max(njmax, 1))
