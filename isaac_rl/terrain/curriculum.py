"""The terrain curriculum: envs that walk far enough move to a harder row, those that do not to an easier one."""

from __future__ import annotations

import torch


def update_terrain_levels(
    levels: torch.Tensor,
    distance: torch.Tensor,
    command_speed: torch.Tensor,
    episode_length_s: float,
    tile_length: float,
    num_levels: int,
) -> torch.Tensor:
    """New rows for envs whose episode ended, as IsaacGymEnvs and legged_gym decide.

    An env that left its tile (walked more than half a tile from its origin)
    goes one row up; one that walked less than a quarter of what its command
    asked for over a whole episode goes one row down. Envs that pass the top
    row are sent to a random row, so the hardest terrain stays in the mix
    without all of them piling up there (legged_gym; IsaacGymEnvs wraps them
    to row 0).
    """
    promoted = distance > tile_length / 2
    demoted = distance < command_speed * episode_length_s * 0.25
    new = levels + promoted.long() - (demoted & ~promoted).long()
    random_row = torch.randint_like(levels, 0, num_levels)
    return torch.where(new >= num_levels, random_row, new.clamp(min=0))
