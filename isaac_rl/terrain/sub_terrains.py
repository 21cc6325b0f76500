"""The kinds of terrain tile, as height grids (m) on a square tile.

Each function takes a tile's size in samples and the sample spacing and
returns (or adds to) a float32 grid `heights[i, j]` (i along x, j along y),
zero at the tile's border so neighbouring tiles meet (stepping stones: the
border is the pit between stones). Tiles with a centre
platform leave a flat square of `platform` metres in the middle, where a
robot is spawned. The kinds and their parameters follow IsaacGymEnvs' and
legged_gym's terrain tiles (Rudin et al. 2021).

The kinds a map can use are a registry, `TILE_KINDS` (name -> function of a
`Tile`): a user's own kind is one `register_tile_kind(name, fn)` and its name
in the terrain config's `terrainKinds`, without touching the generator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def _distance_to_border(size: int, spacing: float) -> np.ndarray:
    """(size, size) distance (m) from each sample to the tile's nearest edge."""
    steps = np.arange(size)
    to_edge = np.minimum(steps, size - 1 - steps) * spacing
    return np.minimum(to_edge[:, None], to_edge[None, :])


def _platform_distance(size: int, spacing: float, platform: float) -> float:
    """Distance (m) from the border at which the centre platform starts."""
    return max((size - 1) * spacing / 2 - platform / 2, 0.0)


def _flatten_platform(heights: np.ndarray, spacing: float, platform: float, height: float = 0.0) -> None:
    size = heights.shape[0]
    half = int(platform / spacing / 2)
    centre = size // 2
    heights[max(centre - half, 0) : centre + half, max(centre - half, 0) : centre + half] = height


def pyramid_slope(size: int, spacing: float, slope: float, platform: float) -> np.ndarray:
    """A pyramid rising at `slope` (rise over run) from the border to a flat centre; negative: a pit."""
    distance = np.minimum(_distance_to_border(size, spacing), _platform_distance(size, spacing, platform))
    return (slope * distance).astype(np.float32)


def add_uniform_noise(
    heights: np.ndarray, spacing: float, rng: np.random.Generator, low: float, high: float, step: float, noise_spacing: float
) -> None:
    """Add rough ground: heights from {low, low + step, ..., high} on a coarser grid, interpolated."""
    size = heights.shape[0]
    levels = np.arange(low, high + step / 2, step)
    coarse_size = max(int((size - 1) * spacing / noise_spacing) + 1, 2)
    coarse = rng.choice(levels, size=(coarse_size, coarse_size))
    # bilinear interpolation of the coarse grid at every sample
    position = np.linspace(0.0, coarse_size - 1, size)
    lower = np.minimum(position.astype(int), coarse_size - 2)
    frac = position - lower
    along_x = coarse[lower] * (1 - frac)[:, None] + coarse[lower + 1] * frac[:, None]
    noise = along_x[:, lower] * (1 - frac)[None, :] + along_x[:, lower + 1] * frac[None, :]
    heights += noise.astype(np.float32)


def pyramid_stairs(size: int, spacing: float, step_width: float, step_height: float, platform: float) -> np.ndarray:
    """Rings of steps `step_width` wide, each `step_height` higher toward a flat centre; negative: down into a pit."""
    distance = _distance_to_border(size, spacing)
    steps = np.minimum(np.floor(distance / step_width), np.floor(_platform_distance(size, spacing, platform) / step_width))
    return (steps * step_height).astype(np.float32)


def discrete_obstacles(
    size: int,
    spacing: float,
    rng: np.random.Generator,
    max_height: float,
    min_size: float,
    max_size: float,
    count: int,
    platform: float,
) -> np.ndarray:
    """`count` rectangular blocks of random size, each raised or sunk by max_height or half of it."""
    heights = np.zeros((size, size), dtype=np.float32)
    sizes = np.arange(int(min_size / spacing), int(max_size / spacing) + 1)
    choices = np.array([-max_height, -max_height / 2, max_height / 2, max_height], dtype=np.float32)
    for _ in range(count):
        width, length = rng.choice(sizes), rng.choice(sizes)
        x, y = rng.integers(0, max(size - width, 1)), rng.integers(0, max(size - length, 1))
        heights[x : x + width, y : y + length] = rng.choice(choices)
    _flatten_platform(heights, spacing, platform)
    return heights


def stepping_stones(
    size: int,
    spacing: float,
    rng: np.random.Generator,
    stone_size: float,
    gap: float,
    max_height: float,
    platform: float,
    depth: float = -1.0,
) -> np.ndarray:
    """Square stones `stone_size` wide with `gap` between them over a pit `depth` deep; stone tops within +-max_height."""
    heights = np.full((size, size), depth, dtype=np.float32)
    stone = max(int(stone_size / spacing), 1)
    pitch = stone + max(int(gap / spacing), 1)
    for x in range(0, size, pitch):
        for y in range(0, size, pitch):
            heights[x : x + stone, y : y + stone] = rng.uniform(-max_height, max_height) if max_height > 0 else 0.0
    _flatten_platform(heights, spacing, platform)
    return heights


@dataclass(frozen=True)
class Tile:
    """What a tile kind is told about the tile it makes."""

    size: int
    """Samples along each side."""
    spacing: float
    """Metres between samples."""
    difficulty: float
    """The tile's row: 0 (easiest) up to (num_levels - 1) / num_levels."""
    first_half: bool
    """The tile's column lies in the first half of its kind's columns (slopes: down into the tile there)."""
    rng: np.random.Generator


TileKind = Callable[[Tile], np.ndarray]
TILE_KINDS: dict[str, TileKind] = {}


def register_tile_kind(name: str, make: TileKind) -> None:
    """Add (or replace) the tile kind `name`: `make(tile)` returns (tile.size, tile.size) heights (m)."""
    if not name or not callable(make):
        raise ValueError(f"register_tile_kind needs a name and a function of a Tile, got {name!r}, {make!r}")
    TILE_KINDS[name] = make


# IsaacGymEnvs' scales: slopes up to 0.4 (22 degrees), steps 5-22.5 cm, blocks 2.5-17.5 cm, stones 2-0.2 m
def _slope(tile: Tile) -> np.ndarray:
    slope = 0.4 * tile.difficulty
    return pyramid_slope(tile.size, tile.spacing, -slope if tile.first_half else slope, platform=3.0)


def _rough_slope(tile: Tile) -> np.ndarray:
    heights = _slope(tile)
    add_uniform_noise(heights, tile.spacing, tile.rng, -0.1, 0.1, step=0.025, noise_spacing=0.2)
    return heights


def _stairs(direction: float) -> TileKind:
    def make(tile: Tile) -> np.ndarray:
        step_height = 0.05 + 0.175 * tile.difficulty
        return pyramid_stairs(tile.size, tile.spacing, step_width=0.31, step_height=direction * step_height, platform=3.0)

    return make


def _discrete_obstacles(tile: Tile) -> np.ndarray:
    return discrete_obstacles(tile.size, tile.spacing, tile.rng, 0.025 + 0.15 * tile.difficulty, 1.0, 2.0, 40, platform=3.0)


def _stepping_stones(tile: Tile) -> np.ndarray:
    stone = 2.0 - 1.8 * tile.difficulty
    return stepping_stones(tile.size, tile.spacing, tile.rng, stone_size=stone, gap=0.1, max_height=0.0, platform=3.0)


register_tile_kind("smooth_slope", _slope)
register_tile_kind("rough_slope", _rough_slope)
# stairs up: the robot starts in the pit and climbs out
register_tile_kind("stairs_up", _stairs(-1.0))
register_tile_kind("stairs_down", _stairs(1.0))
register_tile_kind("discrete_obstacles", _discrete_obstacles)
register_tile_kind("stepping_stones", _stepping_stones)
