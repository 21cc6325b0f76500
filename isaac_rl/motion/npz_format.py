"""isaac_rl's own motion format: a numpy .npz archive of plain arrays, no pickle.

Keys (T frames, J skeleton nodes, node 0 the root):
    format_version          int, 1
    fps                     float, frames per second
    node_names              (J,) unicode strings
    parent_indices          (J,) int, -1 for the root, parents before children
    local_translation       (J, 3) float, each node's offset from its parent in
                            the parent's frame (metres; the root's entry unused)
    root_translation        (T, 3) float, root position in the world (z up)
    local_rotation          (T, J, 4) float, unit quaternions in (w, x, y, z)
                            order: each node's rotation relative to its parent;
                            the root's is its world rotation
  optional:
    root_velocity           (T, 3) world linear velocity of the root
    root_angular_velocity   (T, 3) world angular velocity of the root
When the velocities are absent, readers take them by finite differences.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from isaac_rl.motion.clip import MotionClip, MotionFormatError, Skeleton

FORMAT_VERSION = 1
REQUIRED_KEYS = (
    "format_version", "fps", "node_names", "parent_indices", "local_translation", "root_translation", "local_rotation",
)  # fmt: skip
OPTIONAL_KEYS = ("root_velocity", "root_angular_velocity")


def save_motion_npz(path: str | Path, clip: MotionClip) -> None:
    """Write `clip` in the isaac_rl .npz format (compressed)."""
    clip.validate(str(path))
    arrays = {
        "format_version": np.int64(FORMAT_VERSION),
        "fps": np.float64(clip.fps),
        "node_names": np.array(clip.skeleton.node_names, dtype=np.str_),
        "parent_indices": clip.skeleton.parent_indices.astype(np.int64),
        "local_translation": clip.skeleton.local_translation.astype(np.float32),
        "root_translation": clip.root_translation.astype(np.float32),
        "local_rotation": clip.local_rotation.astype(np.float32),
    }
    if clip.root_velocity is not None:
        arrays["root_velocity"] = clip.root_velocity.astype(np.float32)
    if clip.root_angular_velocity is not None:
        arrays["root_angular_velocity"] = clip.root_angular_velocity.astype(np.float32)
    np.savez_compressed(path, **arrays)


def load_motion_npz(path: str | Path) -> MotionClip:
    """Read an isaac_rl .npz motion (pickle refused) into a MotionClip."""
    source = str(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            data = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise MotionFormatError(f"{source}: not a readable .npz archive ({err})") from None
    except ValueError as err:  # numpy refuses object arrays when allow_pickle=False
        raise MotionFormatError(
            f"{source}: holds pickled (object) arrays, which the .npz motion format does not allow ({err})"
        ) from None
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise MotionFormatError(
            f"{source}: missing keys {missing}; an isaac_rl motion .npz needs {list(REQUIRED_KEYS)} "
            f"(optional: {list(OPTIONAL_KEYS)})"
        )
    unknown = sorted(set(data) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise MotionFormatError(f"{source}: unknown keys {unknown}; accepted: {list(REQUIRED_KEYS + OPTIONAL_KEYS)}")
    version = int(data["format_version"])
    if version != FORMAT_VERSION:
        raise MotionFormatError(f"{source}: format_version {version} is not supported (this reader knows {FORMAT_VERSION})")
    clip = MotionClip(
        skeleton=Skeleton(
            node_names=[str(n) for n in data["node_names"]],
            parent_indices=data["parent_indices"].astype(np.int64),
            local_translation=data["local_translation"].astype(np.float64),
        ),
        fps=float(data["fps"]),
        root_translation=data["root_translation"].astype(np.float64),
        local_rotation=data["local_rotation"].astype(np.float64),
        root_velocity=data["root_velocity"].astype(np.float64) if "root_velocity" in data else None,
        root_angular_velocity=data["root_angular_velocity"].astype(np.float64) if "root_angular_velocity" in data else None,
    )
    clip.validate(source)
    return clip
