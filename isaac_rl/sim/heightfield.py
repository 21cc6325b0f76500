"""Ground given as a grid of heights, simulated as one MuJoCo heightfield geom.

A task hands `Simulation(..., heightfield=...)` a `Heightfield`; the model's
floor planes are replaced by it, keeping their contact settings (contype,
conaffinity, friction, condim) and material. Every env (world) shares the one
heightfield, as Isaac Gym's envs share one terrain mesh; tasks spread their
robots over it by placing roots at different x, y.

MuJoCo Warp collides heightfields with spheres, capsules, ellipsoids,
cylinders, boxes and meshes (not planes), each pair as a convex collision
against the triangular prisms under the geom, at most 4 contacts per pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

# MuJoCo needs a positive elevation range; a flat grid gets this one (m)
_MIN_ELEVATION_RANGE = 1e-4
# how far the heightfield's solid base reaches below its lowest point (m)
_BASE_DEPTH = 1.0


@dataclass(frozen=True)
class Heightfield:
    """Heights (m) on a regular grid: `heights[i, j]` is the ground at (x0 + i * spacing, y0 + j * spacing)."""

    heights: np.ndarray
    spacing: float
    origin: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if self.heights.ndim != 2 or min(self.heights.shape) < 2:
            raise ValueError(f"heightfield heights must be a 2-D grid of at least 2 x 2 samples, got shape {self.heights.shape}")
        if not np.all(np.isfinite(self.heights)):
            raise ValueError("heightfield heights must be finite")
        if self.spacing <= 0:
            raise ValueError(f"heightfield spacing must be > 0 m, got {self.spacing}")

    @property
    def extent(self) -> tuple[float, float]:
        """Length of the grid along x and y (m)."""
        nx, ny = self.heights.shape
        return (nx - 1) * self.spacing, (ny - 1) * self.spacing


def replace_floor(spec: mujoco.MjSpec, field: Heightfield) -> None:
    """Put `field` in `spec`'s world in place of its plane geoms (MJCF `type="plane"` on the world body)."""
    planes = [geom for geom in spec.worldbody.geoms if geom.type == mujoco.mjtGeom.mjGEOM_PLANE]
    if not planes:
        raise ValueError("a heightfield replaces the model's floor, but the model has no plane geom on its world body")
    floor = planes[0]
    low, high = float(field.heights.min()), float(field.heights.max())
    length_x, length_y = field.extent
    nx, ny = field.heights.shape
    # MuJoCo's rows run along y and columns along x; it rescales the data to [0, 1]
    spec.add_hfield(
        name="terrain",
        size=[length_x / 2, length_y / 2, max(high - low, _MIN_ELEVATION_RANGE), _BASE_DEPTH],
        nrow=ny,
        ncol=nx,
        userdata=np.ascontiguousarray(field.heights.T, dtype=np.float64).ravel().tolist(),
    )
    spec.worldbody.add_geom(
        name="terrain",
        type=mujoco.mjtGeom.mjGEOM_HFIELD,
        hfieldname="terrain",
        pos=[field.origin[0] + length_x / 2, field.origin[1] + length_y / 2, low],
        contype=floor.contype,
        conaffinity=floor.conaffinity,
        condim=floor.condim,
        friction=floor.friction,
        material=floor.material,
        rgba=floor.rgba,
    )
    for plane in planes:
        spec.delete(plane)
