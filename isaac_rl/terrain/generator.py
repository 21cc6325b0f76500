"""A terrain map: tiles in rows of increasing difficulty, one column per kind.

IsaacGymEnvs' AnymalTerrain (and legged_gym) lay out `numLevels` x
`numTerrains` tiles of `mapLength` x `mapWidth` metres. Row i (along x) has
difficulty i / numLevels; column j's kind is picked by where j / numTerrains
falls in the cumulative `terrainProportions`: smooth slope, rough slope,
stairs up, stairs down, discrete obstacles, and stepping stones for whatever
the five leave. `terrainKinds` names other kinds, from the registry in
sub_terrains.py (a user's own included): the proportions then apply to
them in order, and the last gets the rest. Slopes and stairs of the first half of their columns go down
into the tile instead of up. A flat border surrounds the map.

Each tile's origin is its centre, at the highest ground of its central 2 m
square: robots start there, and the curriculum moves an env's origin between
rows (isaac_rl/terrain/curriculum.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from isaac_rl.sim.heightfield import Heightfield
from isaac_rl.terrain import sub_terrains

KINDS = ("smooth_slope", "rough_slope", "stairs_up", "stairs_down", "discrete_obstacles", "stepping_stones")


@dataclass(frozen=True)
class TerrainConfig:
    """IsaacGymEnvs' `env.terrain` keys (lengths in m)."""

    map_length: float = 8.0
    map_width: float = 8.0
    num_levels: int = 10
    num_terrains: int = 20
    proportions: tuple[float, ...] = (0.1, 0.1, 0.35, 0.25, 0.2)
    horizontal_scale: float = 0.1
    border_size: float = 20.0
    curriculum: bool = True
    max_init_level: int = 0
    seed: int = 0
    kinds: tuple[str, ...] = KINDS

    @classmethod
    def from_task_cfg(cls, terrain: dict[str, Any]) -> "TerrainConfig":
        config = cls(
            map_length=float(terrain.get("mapLength", cls.map_length)),
            map_width=float(terrain.get("mapWidth", cls.map_width)),
            num_levels=int(terrain.get("numLevels", cls.num_levels)),
            num_terrains=int(terrain.get("numTerrains", cls.num_terrains)),
            proportions=tuple(float(p) for p in terrain.get("terrainProportions", cls.proportions)),
            horizontal_scale=float(terrain.get("horizontalScale", cls.horizontal_scale)),
            border_size=float(terrain.get("borderSize", cls.border_size)),
            curriculum=bool(terrain.get("curriculum", cls.curriculum)),
            max_init_level=int(terrain.get("maxInitMapLevel", cls.max_init_level)),
            seed=int(terrain.get("seed", cls.seed)),
            kinds=tuple(str(kind) for kind in terrain.get("terrainKinds", cls.kinds)),
        )
        config.check()
        return config

    def check(self) -> None:
        if self.num_levels < 1 or self.num_terrains < 1:
            raise ValueError(f"terrain numLevels and numTerrains must be >= 1, got {self.num_levels} and {self.num_terrains}")
        unknown = [kind for kind in self.kinds if kind not in sub_terrains.TILE_KINDS]
        if not self.kinds or unknown:
            raise ValueError(
                f"terrain terrainKinds {list(self.kinds)}: unknown {unknown}; registered kinds: {sorted(sub_terrains.TILE_KINDS)} "
                "(add one with isaac_rl.terrain.register_tile_kind)"
            )
        kinds = self.kinds
        if len(self.proportions) > len(kinds) - 1 or min(self.proportions, default=0) < 0 or sum(self.proportions) > 1 + 1e-6:
            raise ValueError(
                f"terrain terrainProportions {list(self.proportions)}: expected up to {len(kinds) - 1} non-negative shares "
                f"summing to at most 1, for {list(kinds[:-1])}; {kinds[-1]} gets the rest"
            )
        if not 0 <= self.max_init_level < self.num_levels:
            raise ValueError(f"terrain maxInitMapLevel must be in [0, numLevels - 1 = {self.num_levels - 1}], got {self.max_init_level}")
        if self.horizontal_scale <= 0 or self.map_length < 4 or self.map_width != self.map_length:
            raise ValueError(
                "terrain horizontalScale must be > 0 and the tiles square, mapLength = mapWidth >= 4 m (a 3 m spawn "
                f"platform with room around it); got {self.horizontal_scale}, {self.map_length}, {self.map_width}"
            )


@dataclass(frozen=True)
class Terrain:
    heightfield: Heightfield
    origins: np.ndarray
    """(num_levels, num_terrains, 3) where a robot starts on each tile (m)."""
    kinds: list[str]
    """The kind of each column."""
    config: TerrainConfig


def column_kind(column: int, config: TerrainConfig) -> str:
    """The tile kind of column `column`: where column / num_terrains falls in the cumulative proportions."""
    choice = column / config.num_terrains
    for kind, bound in zip(config.kinds, np.cumsum(config.proportions)):
        # a bound the float sum puts just above a column's start (0.2 x 3 = 0.6000000000000001) does not take it
        if choice < bound - 1e-9:
            return kind
    return config.kinds[-1]


def make_tile(kind: str, difficulty: float, choice: float, config: TerrainConfig, rng: np.random.Generator) -> np.ndarray:
    """One tile's heights; `difficulty` in [0, 1), `choice` the column's position in [0, 1)."""
    index = config.kinds.index(kind)
    # the kind's share of the columns: its proportion, or what the proportions leave
    bounds = np.concatenate(([0.0], np.cumsum(config.proportions)))
    low = bounds[min(index, len(bounds) - 1)]
    high = bounds[index + 1] if index + 1 < len(bounds) else 1.0
    first_half = choice < (low + high) / 2
    size = int(config.map_length / config.horizontal_scale)
    return sub_terrains.TILE_KINDS[kind](sub_terrains.Tile(size, config.horizontal_scale, difficulty, first_half, rng))


def generate_terrain(config: TerrainConfig) -> Terrain:
    """The whole map as one heightfield, with its border, and each tile's spawn origin."""
    config.check()
    rng = np.random.default_rng(config.seed)
    spacing = config.horizontal_scale
    tile_x, tile_y = int(config.map_length / spacing), int(config.map_width / spacing)
    border = int(config.border_size / spacing)
    heights = np.zeros((config.num_levels * tile_x + 2 * border, config.num_terrains * tile_y + 2 * border), dtype=np.float32)
    origins = np.zeros((config.num_levels, config.num_terrains, 3))
    kinds = [column_kind(j, config) for j in range(config.num_terrains)]
    centre_half = int(1.0 / spacing)
    for j, kind in enumerate(kinds):
        for i in range(config.num_levels):
            tile = make_tile(kind, i / config.num_levels, j / config.num_terrains, config, rng)
            x0, y0 = border + i * tile_x, border + j * tile_y
            heights[x0 : x0 + tile_x, y0 : y0 + tile_y] = tile
            cx, cy = tile_x // 2, tile_y // 2
            top = float(tile[cx - centre_half : cx + centre_half, cy - centre_half : cy + centre_half].max())
            origins[i, j] = ((i + 0.5) * config.map_length, (j + 0.5) * config.map_width, top)
    field = Heightfield(heights, spacing, origin=(-border * spacing, -border * spacing))
    return Terrain(field, origins, kinds, config)
