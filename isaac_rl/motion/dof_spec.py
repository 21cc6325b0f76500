"""How a skeleton's local rotations map onto a model's hinge dofs, and back.

A joint moves one skeleton body relative to its parent through hinges about
the parent-aligned coordinate axes. Three axes 'xyz' are three hinges in
series, x nearest the parent, so the joint rotation is Rx(a) Ry(b) Rz(c) and
its dofs are named '<joint>_x', '<joint>_y', '<joint>_z'. One axis ('y' for an
elbow or knee) is a single hinge named '<joint>'. Bodies with no joint (the
hands) cannot rotate relative to their parent.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from isaac_rl.motion import quat
from isaac_rl.motion.clip import Skeleton, SkeletonMismatchError
from isaac_rl.utils.torch_math import quat_mul


@dataclass(frozen=True)
class JointSpec:
    name: str
    body: str
    axes: str

    def __post_init__(self) -> None:
        if self.axes not in ("xyz", "x", "y", "z"):
            raise ValueError(
                f"joint {self.name!r}: axes must be 'xyz' (three hinges in series) or one of 'x', 'y', 'z'; got {self.axes!r}"
            )

    @property
    def dof_names(self) -> list[str]:
        return [f"{self.name}_{a}" for a in self.axes] if len(self.axes) == 3 else [self.name]


@dataclass(frozen=True)
class DofSpec:
    joints: tuple[JointSpec, ...]
    """In dof order (the model's qpos order)."""

    @property
    def dof_names(self) -> list[str]:
        return [name for joint in self.joints for name in joint.dof_names]

    @property
    def num_dofs(self) -> int:
        return len(self.dof_names)


AMP_HUMANOID_DOF_SPEC = DofSpec(
    (
        JointSpec("abdomen", "torso", "xyz"),
        JointSpec("neck", "head", "xyz"),
        *(joint for side in ("right", "left") for joint in (
            JointSpec(f"{side}_shoulder", f"{side}_upper_arm", "xyz"),
            JointSpec(f"{side}_elbow", f"{side}_lower_arm", "y"),
        )),
        *(joint for side in ("right", "left") for joint in (
            JointSpec(f"{side}_hip", f"{side}_thigh", "xyz"),
            JointSpec(f"{side}_knee", f"{side}_shin", "y"),
            JointSpec(f"{side}_ankle", f"{side}_foot", "xyz"),
        )),
    )
)  # fmt: skip
"""The 28 dofs of assets/mjcf/amp_humanoid.xml, in its qpos order."""

AMP_HUMANOID_KEY_BODIES = ("right_hand", "left_hand", "right_foot", "left_foot")


class DofMapping:
    """A DofSpec bound to a skeleton: converts (..., J, 4) local rotations to (..., D) hinge angles and back."""

    def __init__(self, spec: DofSpec, skeleton: Skeleton) -> None:
        self.spec = spec
        self.num_nodes = skeleton.num_nodes
        self.body_index = []
        for joint in spec.joints:
            index = skeleton.index(joint.body)
            if index == 0:
                raise SkeletonMismatchError(
                    f"joint {joint.name!r} is on the root body {joint.body!r}; the root moves by its free joint"
                )
            self.body_index.append(index)
        if len(set(self.body_index)) != len(self.body_index):
            raise SkeletonMismatchError("the dof spec puts two joints on one body")

    def to_dofs(self, local_rotation: torch.Tensor) -> torch.Tensor:
        parts = []
        for joint, body in zip(self.spec.joints, self.body_index):
            q = local_rotation[..., body, :]
            if len(joint.axes) == 3:
                parts.append(quat.to_intrinsic_xyz(q))
            else:
                parts.append(quat.twist_angle(q, joint.axes).unsqueeze(-1))
        return torch.cat(parts, dim=-1)

    def to_local_rotations(self, dof_pos: torch.Tensor, root_rotation: torch.Tensor) -> torch.Tensor:
        """(..., J, 4) local rotations the dofs produce; identity for bodies without a joint."""
        rotations = torch.zeros(*dof_pos.shape[:-1], self.num_nodes, 4, dtype=dof_pos.dtype, device=dof_pos.device)
        rotations[..., 0] = 1.0
        rotations[..., 0, :] = root_rotation
        d = 0
        for joint, body in zip(self.spec.joints, self.body_index):
            q = quat.from_axis_angle(joint.axes[0], dof_pos[..., d])
            for k, axis in enumerate(joint.axes[1:], start=1):
                q = quat_mul(q, quat.from_axis_angle(axis, dof_pos[..., d + k]))
            rotations[..., body, :] = q
            d += len(joint.axes)
        return rotations
