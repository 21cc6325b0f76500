"""Rough terrain for legged robots: tile generation, height scans and the curriculum."""

from isaac_rl.terrain.curriculum import update_terrain_levels
from isaac_rl.terrain.generator import KINDS, Terrain, TerrainConfig, generate_terrain
from isaac_rl.terrain.height_scan import ANYMAL_SCAN_X, ANYMAL_SCAN_Y, GRID_SCAN_X, GRID_SCAN_Y, HeightScan
from isaac_rl.terrain.sub_terrains import TILE_KINDS, Tile, register_tile_kind

__all__ = [
    "ANYMAL_SCAN_X", "ANYMAL_SCAN_Y", "GRID_SCAN_X", "GRID_SCAN_Y", "KINDS", "TILE_KINDS", "HeightScan", "Tile", "Terrain", "TerrainConfig",
    "generate_terrain", "register_tile_kind", "update_terrain_levels",
]  # fmt: skip
