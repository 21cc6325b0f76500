"""Forward kinematics of a skeleton: world body poses from the root pose and local rotations."""

from __future__ import annotations

import torch

from isaac_rl.motion.clip import Skeleton
from isaac_rl.utils.torch_math import quat_mul, quat_rotate


def forward_kinematics(
    skeleton: Skeleton, root_position: torch.Tensor, local_rotation: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """World positions (..., J, 3) and wxyz rotations (..., J, 4) of every node.

    root_position is (..., 3); local_rotation (..., J, 4) wxyz with the root's
    world rotation at node 0. Parents precede children, so one pass suffices.
    """
    offsets = torch.as_tensor(skeleton.local_translation, dtype=root_position.dtype, device=root_position.device)
    positions = [root_position]
    rotations = [local_rotation[..., 0, :]]
    for j in range(1, skeleton.num_nodes):
        p = int(skeleton.parent_indices[j])
        positions.append(positions[p] + quat_rotate(rotations[p], offsets[j].expand_as(positions[p])))
        rotations.append(quat_mul(rotations[p], local_rotation[..., j, :]))
    return torch.stack(positions, dim=-2), torch.stack(rotations, dim=-2)
