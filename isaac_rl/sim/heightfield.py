"""Ground given as a grid of heights, simulated as MuJoCo heightfield geoms.

A task hands `Simulation(..., heightfield=...)` a `Heightfield`; the model's
floor planes are replaced by it, keeping their contact settings (contype,
conaffinity, friction, condim) and material. Every env (world) shares the
ground, as Isaac Gym's envs share one terrain mesh; tasks spread their robots
over it by placing roots at different x, y.

MuJoCo Warp collides heightfields with spheres, capsules, ellipsoids,
cylinders, boxes and meshes (not planes), each pair as a convex collision
against the triangular prisms under the geom, at most 4 contacts per pair.
It does so in float32 in the heightfield's own frame, and far from the
heightfield's centre that goes wrong: on a 100 m field, Anymals 64 m from
the centre (45 m along x and y) get contacts metres deep out of nowhere and
blow up, where 42 m from it or closer they walk as on MuJoCo C (MuJoCo Warp
4.0.0, Warp's cpu device, random controls). So the grid is cut into pieces
of at most `PIECE_LENGTH` m a side, one heightfield geom each, which share
their edge samples: the ground is the same surface, and no contact is
computed more than 23 m from its piece's centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

# MuJoCo needs a positive elevation range; a flat grid gets this one (m)
_MIN_ELEVATION_RANGE = 1e-4
# how far the heightfield's solid base reaches below its lowest point (m)
_BASE_DEPTH = 1.0
# longest side of one heightfield piece (m); see the module docstring
PIECE_LENGTH = 32.0


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
    """Put `field` in `spec`'s world in place of its plane geoms (MJCF `type="plane"` on the world body).

    The ground becomes heightfield geoms named `terrain_<i>_<j>`, one per
    piece of the grid (see the module docstring).
    """
    planes = [geom for geom in spec.worldbody.geoms if geom.type == mujoco.mjtGeom.mjGEOM_PLANE]
    if not planes:
        raise ValueError("a heightfield replaces the model's floor, but the model has no plane geom on its world body")
    floor = planes[0]
    step = max(1, int(PIECE_LENGTH / field.spacing))
    nx, ny = field.heights.shape
    for i, x0 in enumerate(range(0, nx - 1, step)):
        for j, y0 in enumerate(range(0, ny - 1, step)):
            # neighbouring pieces share their edge row/column of samples
            piece = field.heights[x0 : min(x0 + step, nx - 1) + 1, y0 : min(y0 + step, ny - 1) + 1]
            origin = (field.origin[0] + x0 * field.spacing, field.origin[1] + y0 * field.spacing)
            _add_heightfield_geom(spec, f"terrain_{i}_{j}", Heightfield(piece, field.spacing, origin), floor)
    for plane in planes:
        spec.delete(plane)


def _add_heightfield_geom(spec: mujoco.MjSpec, name: str, field: Heightfield, floor: mujoco.MjsGeom) -> None:
    low, high = float(field.heights.min()), float(field.heights.max())
    length_x, length_y = field.extent
    nx, ny = field.heights.shape
    # MuJoCo's rows run along y and columns along x; it rescales the data to [0, 1]
    spec.add_hfield(
        name=name,
        size=[length_x / 2, length_y / 2, max(high - low, _MIN_ELEVATION_RANGE), _BASE_DEPTH],
        nrow=ny,
        ncol=nx,
        userdata=np.ascontiguousarray(field.heights.T, dtype=np.float64).ravel().tolist(),
    )
    spec.worldbody.add_geom(
        name=name,
        type=mujoco.mjtGeom.mjGEOM_HFIELD,
        hfieldname=name,
        pos=[field.origin[0] + length_x / 2, field.origin[1] + length_y / 2, low],
        contype=floor.contype,
        conaffinity=floor.conaffinity,
        condim=floor.condim,
        friction=floor.friction,
        material=floor.material,
        rgba=floor.rgba,
    )
