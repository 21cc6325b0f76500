"""Author assets/motions/humanoid_walk.npz: a looping walk for assets/mjcf/amp_humanoid.xml.

The walk is made from foot placements, not captured: each foot alternates a
stance phase (planted on the floor at a footstep) and a swing phase (a smooth
arc to the next footstep); the pelvis moves forward at a constant speed with
a small bob and side sway; hips and knees come from two-link inverse
kinematics to the planted or swinging ankle, ankles keep the feet flat, and
arms, trunk and neck swing sinusoidally against the legs. The skeleton (body
tree and offsets) is read from the MJCF, so the clip matches the model.

    python scripts/make_walk_motion.py [--out assets/motions/humanoid_walk.npz]

It prints the clip's lowest sole point and how far planted feet slide.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import mujoco
import numpy as np
import torch

from isaac_rl import ASSET_ROOT
from isaac_rl.motion import AMP_HUMANOID_DOF_SPEC, DofMapping, MotionClip, Skeleton, forward_kinematics, save_motion_npz
from isaac_rl.motion import quat
from isaac_rl.utils.torch_math import quat_conjugate, quat_mul, quat_rotate

MODEL = ASSET_ROOT / "mjcf" / "amp_humanoid.xml"
OUT = ASSET_ROOT / "motions" / "humanoid_walk.npz"

FPS = 30.0
PERIOD = 1.0  # s per gait cycle (two steps)
CYCLES = 2
SPEED = 1.1  # m/s forward (+x)
DUTY = 0.6  # fraction of a cycle each foot is planted
ANKLE_HEIGHT = 0.05  # ankle above the floor with the foot flat: the foot box's sole is 5 cm below the ankle
SWING_LIFT = 0.07  # m, peak ankle lift during swing
FOOT_Y = 0.09  # lateral footstep position
PELVIS_HEIGHT = 0.82  # mean; lowest in double support, highest in mid-stance
BOB = 0.015
SWAY = 0.02
LEAN = 0.05  # rad, pelvis pitched forward
ARM_SWING = 0.3  # rad, shoulder flexion amplitude

# the foot box of the MJCF (centre and half sizes, foot frame), for the sole check
FOOT_BOX_CENTER = np.array([0.045, 0.0, -0.0225])
FOOT_BOX_HALF = np.array([0.0885, 0.045, 0.0275])


def skeleton_from_model(path: Path) -> Skeleton:
    model = mujoco.MjModel.from_xml_path(str(path))
    names = [model.body(i).name for i in range(1, model.nbody)]  # body 0 is the world
    parents = np.array([model.body_parentid[i] - 1 for i in range(1, model.nbody)], dtype=np.int64)
    offsets = model.body_pos[1:].astype(np.float64).copy()
    offsets[0] = 0.0  # the root is placed by the root translation
    return Skeleton(names, parents, offsets)


def ankle_target(t: np.ndarray, phase_offset: float, side_y: float) -> np.ndarray:
    """World ankle position (T, 3) of one foot: planted in stance, a smooth arc in swing."""
    u = (t / PERIOD + phase_offset) % 1.0
    cycle = np.floor(t / PERIOD + phase_offset)
    # mid-stance (u = DUTY / 2) has the ankle right under the hip
    plant_x = SPEED * PERIOD * (cycle - phase_offset + DUTY / 2)
    swing = u >= DUTY
    tau = np.where(swing, (u - DUTY) / (1.0 - DUTY), 0.0)
    progress = 0.5 - 0.5 * np.cos(math.pi * tau)  # eases out of and into the footsteps
    x = plant_x + np.where(swing, progress * SPEED * PERIOD, 0.0)
    z = ANKLE_HEIGHT + np.where(swing, SWING_LIFT * np.sin(math.pi * tau), 0.0)
    return np.stack([x, np.full_like(x, side_y), z], axis=-1)


def leg_angles(hip_to_ankle: np.ndarray, thigh: float, shin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """hip_x, hip_y, knee angles putting the ankle at `hip_to_ankle` (pelvis frame), knee bending forward."""
    px, py, pz = hip_to_ankle[:, 0], hip_to_ankle[:, 1], hip_to_ankle[:, 2]
    hip_x = np.arctan2(py, -pz)  # tilt the leg's plane sideways onto the target
    down = np.sqrt(py**2 + pz**2)
    reach = np.minimum(np.sqrt(px**2 + down**2), 0.999 * (thigh + shin))
    knee = math.pi - np.arccos((thigh**2 + shin**2 - reach**2) / (2 * thigh * shin))
    forward = np.arctan2(px, down) + np.arccos((thigh**2 + reach**2 - shin**2) / (2 * thigh * reach))
    return hip_x, -forward, knee  # hip_y < 0 swings the thigh forward


def author_walk(skeleton: Skeleton) -> MotionClip:
    t = np.arange(int(round(CYCLES * PERIOD * FPS)) + 1) / FPS
    u = (t / PERIOD) % 1.0
    n = len(t)
    root_pos = np.stack(
        [
            SPEED * t,
            -SWAY * np.cos(2 * math.pi * (u - DUTY / 2)),  # over the planted foot
            PELVIS_HEIGHT + BOB * np.cos(4 * math.pi * (u - DUTY / 2)),  # up in mid-stance, down in double support
        ],
        axis=-1,
    )
    root_rot = quat.from_axis_angle("y", torch.full((n,), LEAN, dtype=torch.float64))
    inv_root = quat_conjugate(root_rot)
    dofs = {name: np.zeros(n) for name in AMP_HUMANOID_DOF_SPEC.dof_names}
    index = skeleton.index
    thigh = float(np.linalg.norm(skeleton.local_translation[index("right_shin")]))
    shin = float(np.linalg.norm(skeleton.local_translation[index("right_foot")]))
    for side, phase_offset in (("right", 0.0), ("left", 0.5)):
        hip_offset = skeleton.local_translation[index(f"{side}_thigh")]
        ankle = ankle_target(t, phase_offset, math.copysign(FOOT_Y, hip_offset[1]))
        hip_world = root_pos + quat_rotate(root_rot, torch.from_numpy(hip_offset).expand(n, 3)).numpy()
        local = quat_rotate(inv_root, torch.from_numpy(ankle - hip_world)).numpy()
        hip_x, hip_y, knee = leg_angles(local, thigh, shin)
        dofs[f"{side}_hip_x"], dofs[f"{side}_hip_y"], dofs[f"{side}_knee"] = hip_x, hip_y, knee
        # the ankle undoes the pelvis lean and the leg's rotation so the foot stays flat
        leg = quat_mul(
            quat_mul(root_rot, quat.from_axis_angle("x", torch.from_numpy(hip_x))),
            quat.from_axis_angle("y", torch.from_numpy(hip_y + knee)),
        )
        ankle_angles = quat.to_intrinsic_xyz(quat_conjugate(leg)).numpy()
        for k, axis in enumerate("xyz"):
            dofs[f"{side}_ankle_{axis}"] = ankle_angles[:, k]
        # each arm swings with the opposite leg: right arm back at right heel strike
        sign = 1.0 if side == "right" else -1.0
        swing = sign * np.cos(2 * math.pi * u)
        dofs[f"{side}_shoulder_y"] = ARM_SWING * swing
        dofs[f"{side}_shoulder_x"] = np.full(n, -sign * 0.12)  # slightly away from the body
        dofs[f"{side}_elbow"] = -0.45 + 0.15 * swing  # bends more as the arm comes forward
    dofs["abdomen_y"] = np.full(n, -0.5 * LEAN)
    dofs["abdomen_z"] = 0.06 * np.cos(2 * math.pi * u)  # chest turns against the pelvis
    dofs["neck_y"] = np.full(n, -0.5 * LEAN)
    dofs["neck_z"] = -0.06 * np.cos(2 * math.pi * u)  # keeps the head facing forward
    dof_pos = torch.from_numpy(np.stack([dofs[name] for name in AMP_HUMANOID_DOF_SPEC.dof_names], axis=-1))
    local_rotation = DofMapping(AMP_HUMANOID_DOF_SPEC, skeleton).to_local_rotations(dof_pos, root_rot)
    return MotionClip(skeleton, FPS, root_pos, local_rotation.numpy())


def report(clip: MotionClip) -> float:
    """Print the lowest sole point and the planted feet's slide; return the lowest sole height."""
    root, local = torch.from_numpy(clip.root_translation), torch.from_numpy(clip.local_rotation)
    pos, rot = forward_kinematics(clip.skeleton, root, local)
    signs = torch.tensor([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=torch.float64)
    corners = torch.from_numpy(FOOT_BOX_CENTER) + signs * torch.from_numpy(FOOT_BOX_HALF)
    lowest = math.inf
    for foot in ("right_foot", "left_foot"):
        j = clip.skeleton.index(foot)
        world = pos[:, j, None] + quat_rotate(rot[:, j, None].expand(-1, 8, -1), corners.expand(len(pos), -1, -1))
        sole = world[..., 2].min(dim=1).values
        planted = sole < 1e-3
        step = (pos[1:, j, :2] - pos[:-1, j, :2]).norm(dim=-1) * clip.fps
        slide = step[planted[1:] & planted[:-1]].max().item()
        lowest = min(lowest, sole.min().item())
        print(f"{foot}: lowest sole point {sole.min().item() * 100:+.2f} cm, planted in {planted.float().mean().item():.0%} of frames, "
              f"max planted slide speed {slide:.3f} m/s")  # fmt: skip
    return lowest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    clip = author_walk(skeleton_from_model(MODEL))
    clip.validate("authored walk")
    lowest = report(clip)
    if lowest < -0.005:
        raise SystemExit(f"the feet go {-lowest * 100:.1f} cm into the floor: fix the gait parameters")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_motion_npz(args.out, clip)
    print(f"wrote {args.out}: {clip.num_frames} frames at {clip.fps:g} fps ({(clip.num_frames - 1) / clip.fps:g} s), {SPEED} m/s")


if __name__ == "__main__":
    main()
