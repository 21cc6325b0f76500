"""How far a model's bodies are above the ground in given poses (kinematics only, MuJoCo C on the cpu).

Used to put reference motions on the floor: a clip recorded for a slightly
different foot may carry its soles centimetres into the ground, which the
physics can never reproduce (and an AMP discriminator then tells real from
simulated motion by root height alone).
"""

from __future__ import annotations

import mujoco
import numpy as np

# distances beyond this (m) are not needed: a pose is only lifted or lowered by centimetres
_MAX_DISTANCE = 10.0


def _ground_pairs(model: mujoco.MjModel) -> list[tuple[int, int]]:
    """(ground geom, body geom) pairs that can collide: world-body geoms against geoms of moving bodies."""
    ground = [g for g in range(model.ngeom) if model.geom_bodyid[g] == 0]
    bodies = [g for g in range(model.ngeom) if model.geom_bodyid[g] != 0]

    def can_collide(a: int, b: int) -> bool:
        return bool(model.geom_contype[a] & model.geom_conaffinity[b] or model.geom_contype[b] & model.geom_conaffinity[a])

    return [(a, b) for a in ground for b in bodies if can_collide(a, b)]


def ground_clearance(model: mujoco.MjModel, qpos: np.ndarray) -> np.ndarray:
    """(N,) smallest signed distance between the model's moving geoms and its ground geoms, per pose (N, nq).

    Negative where some geom is inside the ground.
    """
    pairs = _ground_pairs(model)
    if not pairs:
        raise ValueError("the model has no ground geom (on the world body) that its bodies collide with")
    data = mujoco.MjData(model)
    clearance = np.empty(len(qpos))
    for i, pose in enumerate(np.asarray(qpos, dtype=np.float64)):
        data.qpos[:] = pose
        mujoco.mj_kinematics(model, data)
        clearance[i] = min(mujoco.mj_geomDistance(model, data, a, b, _MAX_DISTANCE, None) for a, b in pairs)
    return clearance
