"""Quaternion helpers that only motion data needs, batched over leading dims.

The general ones (product, conjugate, rotation of vectors) are in
isaac_rl.utils.torch_math. Quaternions are (w, x, y, z), MuJoCo's order,
everywhere in isaac_rl.motion; poselib files store (x, y, z, w) and are
converted once when read.
"""

from __future__ import annotations

import torch

from isaac_rl.utils.torch_math import normalize, normalize_angle

AXES = "xyz"


def xyzw_to_wxyz(q: torch.Tensor) -> torch.Tensor:
    return torch.cat([q[..., 3:4], q[..., 0:3]], dim=-1)


def from_axis_angle(axis: str, angle: torch.Tensor) -> torch.Tensor:
    """Rotation by `angle` (...) about the coordinate axis 'x', 'y' or 'z'."""
    half = 0.5 * angle
    q = torch.zeros(*angle.shape, 4, dtype=angle.dtype, device=angle.device)
    q[..., 0] = torch.cos(half)
    q[..., 1 + AXES.index(axis)] = torch.sin(half)
    return q


def to_rotation_vector(q: torch.Tensor) -> torch.Tensor:
    """Axis * angle (..., 3) of unit quaternions, angle in [0, pi]."""
    q = torch.where(q[..., :1] < 0, -q, q)  # the short way round
    sin_half = q[..., 1:].norm(dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(sin_half, q[..., :1])
    scale = torch.where(sin_half > 1e-8, angle / sin_half.clamp_min(1e-12), torch.full_like(angle, 2.0))
    return q[..., 1:] * scale


def slerp(q0: torch.Tensor, q1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from q0 to q1; t is (...,) or (..., 1) in [0, 1]."""
    if t.dim() == q0.dim() - 1:
        t = t.unsqueeze(-1)
    dot = (q0 * q1).sum(dim=-1, keepdim=True)
    q1 = torch.where(dot < 0, -q1, q1)
    dot = dot.abs().clamp(max=1.0)
    theta = torch.acos(dot)
    sin_theta = torch.sin(theta)
    near = sin_theta < 1e-6  # nearly equal: fall back to lerp, which is exact in the limit
    safe_sin = torch.where(near, torch.ones_like(sin_theta), sin_theta)
    w0 = torch.where(near, 1.0 - t, torch.sin((1.0 - t) * theta) / safe_sin)
    w1 = torch.where(near, t, torch.sin(t * theta) / safe_sin)
    return normalize(w0 * q0 + w1 * q1)


def to_intrinsic_xyz(q: torch.Tensor) -> torch.Tensor:
    """Angles (a, b, c) (..., 3) with q = Rx(a) Ry(b) Rz(c): three hinges x, y, z in series.

    Read off the rotation matrix R = Rx Ry Rz, whose entries are
    R02 = sin b, R12 = -sin a cos b, R22 = cos a cos b, R01 = -cos b sin c, R00 = cos b cos c.
    b lies in [-pi/2, pi/2]; a and c in (-pi, pi].
    """
    w, x, y, z = normalize(q).unbind(-1)
    r00 = 1.0 - 2.0 * (y * y + z * z)
    r01 = 2.0 * (x * y - w * z)
    r02 = 2.0 * (x * z + w * y)
    r12 = 2.0 * (y * z - w * x)
    r22 = 1.0 - 2.0 * (x * x + y * y)
    a = torch.atan2(-r12, r22)
    b = torch.asin(r02.clamp(-1.0, 1.0))
    c = torch.atan2(-r01, r00)
    return torch.stack([a, b, c], dim=-1)


def twist_angle(q: torch.Tensor, axis: str) -> torch.Tensor:
    """Angle (...) in (-pi, pi] of the rotation q about one coordinate axis (its swing-twist twist)."""
    component = q[..., 1 + AXES.index(axis)]
    return normalize_angle(2.0 * torch.atan2(component, q[..., 0]))
