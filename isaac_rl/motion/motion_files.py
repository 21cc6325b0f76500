"""Finding and reading motion files: one clip (.npy, .npz) or a weighted YAML list of clips.

A YAML list (the IsaacGymEnvs layout), paths relative to the YAML file:
    motions:
      - file: walk.npz
        weight: 0.7
      - file: run.npy
        weight: 0.3      # optional, default 1.0; weights are normalised
"""

from __future__ import annotations

from pathlib import Path

import yaml

from isaac_rl.motion.clip import MotionClip, MotionFormatError
from isaac_rl.motion.npz_format import load_motion_npz
from isaac_rl.motion.poselib_npy import load_poselib_npy

CLIP_READERS = {".npy": load_poselib_npy, ".npz": load_motion_npz}
LIST_SUFFIXES = (".yaml", ".yml")
ACCEPTED = ".npy (poselib SkeletonMotion), .npz (isaac_rl motion), .yaml/.yml (a weighted list of clips)"


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} not found")


def load_motion_clip(path: str | Path) -> MotionClip:
    """Read one clip; the extension picks the format."""
    path = Path(path)
    reader = CLIP_READERS.get(path.suffix.lower())
    if reader is None:
        raise MotionFormatError(f"{str(path)!r}: unknown motion file extension {path.suffix!r}; accepted: {ACCEPTED}")
    _require_file(path, "motion file")
    return reader(path)


def resolve_motion_entries(motion_file: str | Path) -> list[tuple[Path, float]]:
    """(clip path, weight) pairs for a clip file (weight 1) or a YAML list of clips."""
    path = Path(motion_file)
    suffix = path.suffix.lower()
    if suffix in CLIP_READERS:
        _require_file(path, "motion file")
        return [(path, 1.0)]
    if suffix not in LIST_SUFFIXES:
        raise MotionFormatError(f"{str(path)!r}: unknown motion file extension {path.suffix!r}; accepted: {ACCEPTED}")
    _require_file(path, "motion list")
    return _read_motion_list(path)


def _read_motion_list(path: Path) -> list[tuple[Path, float]]:
    source = str(path)
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise MotionFormatError(f"{source}: not valid YAML ({err})") from None
    layout = "expected 'motions: [{file: clip.npz, weight: 1.0}, ...]'"
    if not isinstance(document, dict) or not isinstance(document.get("motions"), list) or not document["motions"]:
        raise MotionFormatError(f"{source}: {layout}")
    entries = []
    for i, item in enumerate(document["motions"]):
        if not isinstance(item, dict) or not isinstance(item.get("file"), str):
            raise MotionFormatError(f"{source}: motions[{i}] has no 'file'; {layout}")
        unknown = sorted(set(item) - {"file", "weight"})
        if unknown:
            raise MotionFormatError(f"{source}: motions[{i}] has unknown keys {unknown}; accepted: file, weight")
        weight = item.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
            raise MotionFormatError(f"{source}: motions[{i}] weight must be a number >= 0, got {weight!r}")
        clip_path = path.parent / item["file"]
        if clip_path.suffix.lower() not in CLIP_READERS:
            raise MotionFormatError(
                f"{source}: motions[{i}] file {item['file']!r} has extension {clip_path.suffix!r}; "
                f"accepted: {', '.join(CLIP_READERS)} (lists do not nest)"
            )
        _require_file(clip_path, f"motion file (listed in {source})")
        entries.append((clip_path, float(weight)))
    if sum(w for _, w in entries) <= 0:
        raise MotionFormatError(f"{source}: the motion weights sum to zero; give at least one clip a positive weight")
    return entries
