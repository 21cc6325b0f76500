"""A motion clip as plain numpy arrays: a skeleton plus per-frame root and local rotations.

Every file format is read into a `MotionClip`; the motion library only ever
sees this type. Rotations are (w, x, y, z) quaternions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class MotionFormatError(ValueError):
    """A motion file that cannot be read: wrong format, missing keys, bad shapes."""


class SkeletonMismatchError(ValueError):
    """Motions, or a motion and a model description, disagree on the skeleton."""


@dataclass(frozen=True)
class Skeleton:
    node_names: list[str]
    parent_indices: np.ndarray
    """(J,) int64; -1 for the root, otherwise an index smaller than the node's own."""
    local_translation: np.ndarray
    """(J, 3) offset of each node from its parent, in the parent's frame (the root's entry is unused)."""

    @property
    def num_nodes(self) -> int:
        return len(self.node_names)

    def index(self, name: str) -> int:
        try:
            return self.node_names.index(name)
        except ValueError:
            raise SkeletonMismatchError(
                f"the motion skeleton has no body named {name!r}; it has: {', '.join(self.node_names)}"
            ) from None

    def validate(self, source: str) -> None:
        n = len(self.node_names)
        if self.parent_indices.shape != (n,) or self.local_translation.shape != (n, 3):
            raise MotionFormatError(
                f"{source}: skeleton arrays disagree: {n} node names, parent_indices of shape "
                f"{self.parent_indices.shape} (expected ({n},)), local_translation of shape "
                f"{self.local_translation.shape} (expected ({n}, 3))"
            )
        if n == 0 or self.parent_indices[0] != -1:
            raise MotionFormatError(f"{source}: the first skeleton node must be the root (parent index -1)")
        for j in range(1, n):
            if not 0 <= self.parent_indices[j] < j:
                raise MotionFormatError(
                    f"{source}: node {self.node_names[j]!r} has parent index {int(self.parent_indices[j])}; "
                    "parents must come before their children"
                )

    def check_same_as(self, other: Skeleton, source: str, atol: float = 1e-4) -> None:
        """Raise SkeletonMismatchError unless `other` has the same nodes, tree and offsets."""
        if self.node_names != other.node_names:
            raise SkeletonMismatchError(f"{source}: skeleton nodes {other.node_names} differ from {self.node_names}")
        if not np.array_equal(self.parent_indices, other.parent_indices):
            raise SkeletonMismatchError(f"{source}: skeleton parent indices differ from the other motions'")
        # the root's own offset is unused (the root translation places it)
        diff = np.abs(self.local_translation[1:] - other.local_translation[1:]).max(initial=0.0)
        if diff > atol:
            raise SkeletonMismatchError(
                f"{source}: skeleton bone offsets differ from the other motions' by up to {diff:.4f} m (tolerance {atol} m)"
            )


@dataclass(frozen=True)
class MotionClip:
    skeleton: Skeleton
    fps: float
    root_translation: np.ndarray
    """(T, 3) root position in the world."""
    local_rotation: np.ndarray
    """(T, J, 4) wxyz rotation of each node relative to its parent; the root's is its world rotation."""
    root_velocity: np.ndarray | None = None
    """(T, 3) world linear velocity of the root, when the file has it."""
    root_angular_velocity: np.ndarray | None = None
    """(T, 3) world angular velocity of the root, when the file has it."""

    @property
    def num_frames(self) -> int:
        return self.root_translation.shape[0]

    def validate(self, source: str) -> None:
        self.skeleton.validate(source)
        t, j = self.num_frames, self.skeleton.num_nodes
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise MotionFormatError(f"{source}: fps must be a positive number, got {self.fps}")
        if t < 1:
            raise MotionFormatError(f"{source}: the motion has no frames")
        expected = {"root_translation": (t, 3), "local_rotation": (t, j, 4)}
        if self.root_velocity is not None:
            expected["root_velocity"] = (t, 3)
        if self.root_angular_velocity is not None:
            expected["root_angular_velocity"] = (t, 3)
        for name, shape in expected.items():
            array = getattr(self, name)
            if array.shape != shape:
                raise MotionFormatError(f"{source}: {name} has shape {array.shape}, expected {shape} ({t} frames, {j} nodes)")
            if not np.isfinite(array).all():
                raise MotionFormatError(f"{source}: {name} holds NaN or inf values")
        norms = np.linalg.norm(self.local_rotation, axis=-1)
        if np.abs(norms - 1.0).max() > 1e-3:
            raise MotionFormatError(f"{source}: local_rotation must hold unit quaternions (found norms up to {norms.max():.4f})")
