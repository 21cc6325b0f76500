"""Batched quaternion and angle helpers in pure torch.

Quaternions are MuJoCo's (w, x, y, z), the layout of `Simulation.root_quat`
and `Simulation.body_quat` (IsaacGym used (x, y, z, w): do not mix them).
Every function takes tensors with any leading batch shape.
"""

from __future__ import annotations

import math

import torch


def normalize(vec: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """`vec` scaled to unit length along the last dim (zero vectors stay zero)."""
    return vec / vec.norm(dim=-1, keepdim=True).clamp_min(eps)


def quat_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a * b: rotating by `b` first, then by `a`."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        (
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ),
        dim=-1,
    )


def quat_conjugate(quat: torch.Tensor) -> torch.Tensor:
    """The inverse rotation of a unit quaternion."""
    return torch.cat((quat[..., :1], -quat[..., 1:]), dim=-1)


def quat_rotate(quat: torch.Tensor, vec: torch.Tensor) -> torch.Tensor:
    """`vec` (..., 3) rotated by the unit quaternion `quat` (..., 4): local frame -> world."""
    w, xyz = quat[..., :1], quat[..., 1:]
    t = 2.0 * torch.cross(xyz, vec, dim=-1)
    return vec + w * t + torch.cross(xyz, t, dim=-1)


def quat_rotate_inverse(quat: torch.Tensor, vec: torch.Tensor) -> torch.Tensor:
    """`vec` rotated by the inverse of `quat`: world frame -> the quaternion's local frame."""
    return quat_rotate(quat_conjugate(quat), vec)


def quat_from_angle_axis(angle: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
    """Rotation by `angle` (radians, (...)) about `axis` ((..., 3), any length)."""
    half = 0.5 * angle.unsqueeze(-1)
    return torch.cat((torch.cos(half), torch.sin(half) * normalize(axis)), dim=-1)


def quat_axis(quat: torch.Tensor, axis: int) -> torch.Tensor:
    """The world-frame direction of the body's x (0), y (1) or z (2) axis: a column of the rotation matrix.

    Builds no constant tensors, so it is safe inside a CUDA graph capture.
    """
    w, x, y, z = quat.unbind(-1)
    if axis == 0:
        columns = (1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + w * z), 2.0 * (x * z - w * y))
    elif axis == 1:
        columns = (2.0 * (x * y - w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z + w * x))
    elif axis == 2:
        columns = (2.0 * (x * z + w * y), 2.0 * (y * z - w * x), 1.0 - 2.0 * (x * x + y * y))
    else:
        raise ValueError(f"axis must be 0 (x), 1 (y) or 2 (z), got {axis!r}")
    return torch.stack(columns, dim=-1)


def normalize_angle(angle: torch.Tensor) -> torch.Tensor:
    """`angle` wrapped into [-pi, pi)."""
    return torch.remainder(angle + math.pi, 2.0 * math.pi) - math.pi


def get_euler_xyz(quat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(roll, pitch, yaw) of `quat` for the x-y-z (roll about x first) convention, each in [-pi, pi].

    Unlike IsaacGymEnvs' helper, angles are not shifted into [0, 2 pi), so a
    small negative yaw stays small instead of jumping to about 2 pi.
    """
    w, x, y, z = quat.unbind(-1)
    roll = torch.atan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    pitch = torch.asin(torch.clamp(2.0 * (w * y - z * x), -1.0, 1.0))
    yaw = torch.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    return roll, pitch, yaw


def scale_to_unit(value: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """Map `value` in [lower, upper] linearly onto [-1, 1] (IsaacGymEnvs' `unscale`)."""
    return (2.0 * value - upper - lower) / (upper - lower)
