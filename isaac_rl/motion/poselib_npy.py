"""Reading poselib `SkeletonMotion` .npy files without trusting their pickle.

Such a file is a numpy .npy header for a 0-d object array followed by a
pickle of an OrderedDict:
    rotation, root_translation, global_velocity, global_angular_velocity:
        {'arr': ndarray, 'context': {'dtype': ...}}, rotations (T, J, 4) xyzw,
        local to the parent when `is_local`
    skeleton_tree: OrderedDict(node_names: list[str], parent_indices: {'arr': ...},
        local_translation: {'arr': ...})
    is_local: bool, fps: 0-d ndarray, __name__: 'SkeletonMotion'
`numpy.load(allow_pickle=True)` would run whatever a crafted file's pickle asks
for; `RestrictedUnpickler` resolves only the globals these files contain.
"""

from __future__ import annotations

import collections
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from isaac_rl.motion.clip import MotionClip, MotionFormatError, Skeleton
from isaac_rl.motion.quat import xyzw_to_wxyz
from isaac_rl.utils.torch_math import normalize

# numpy pickles arrays through these two callables; their module moved from
# numpy.core to numpy._core in numpy 2, so both spellings map to the live objects.
_ndarray_reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]
_scalar_reconstruct = np.float64(0).__reduce__()[0]
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _ndarray_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _ndarray_reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar_reconstruct,
    ("numpy._core.multiarray", "scalar"): _scalar_reconstruct,
}


class UnsafePickleError(MotionFormatError):
    """A pickle asked for a global outside the allowed set."""


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, numbers, strings and numpy arrays; refuses every other global."""

    def __init__(self, file: io.BufferedIOBase, source: str) -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            allowed = ", ".join(f"{m}.{n}" for m, n in ALLOWED_GLOBALS)
            raise UnsafePickleError(
                f"{self.source}: refused to unpickle global '{module}.{name}': motion files may only hold "
                f"dicts, lists, numbers, strings and numpy arrays (allowed globals: {allowed})"
            ) from None


def read_restricted_npy(path: str | Path) -> Any:
    """The object pickled in a .npy object array, unpickled with `RestrictedUnpickler`."""
    source = str(path)
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
        except ValueError as err:
            raise MotionFormatError(f"{source}: not a numpy .npy file ({err})") from None
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise MotionFormatError(f"{source}: .npy format version {version} is not supported (accepted: 1.0, 2.0)")
        if not dtype.hasobject:
            raise MotionFormatError(
                f"{source}: holds a plain {dtype} array of shape {shape}, not a pickled poselib SkeletonMotion"
            )
        try:
            array = RestrictedUnpickler(f, source).load()
        except UnsafePickleError:
            raise
        except Exception as err:  # truncated or corrupt pickle streams raise many kinds of errors
            raise MotionFormatError(f"{source}: could not read the pickled motion ({type(err).__name__}: {err})") from None
    return array.item() if isinstance(array, np.ndarray) and array.shape == () else array


def _array(entry: Any, key: str, source: str) -> np.ndarray:
    """poselib stores tensors as {'arr': ndarray, 'context': {...}}."""
    if isinstance(entry, dict) and isinstance(entry.get("arr"), np.ndarray):
        return entry["arr"]
    if isinstance(entry, np.ndarray):
        return entry
    raise MotionFormatError(
        f"{source}: poselib entry {key!r} should be {{'arr': ndarray, 'context': ...}}, got {type(entry).__name__}"
    )


def load_poselib_npy(path: str | Path) -> MotionClip:
    """Read a poselib SkeletonMotion .npy into a MotionClip (rotations converted to wxyz)."""
    source = str(path)
    data = read_restricted_npy(path)
    required = ("rotation", "root_translation", "skeleton_tree", "is_local", "fps")
    if not isinstance(data, dict) or any(k not in data for k in required):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise MotionFormatError(f"{source}: not a poselib SkeletonMotion: expected a dict with keys {required}, found {found}")
    if not data["is_local"]:
        raise MotionFormatError(f"{source}: only poselib motions with local rotations (is_local=True) are supported")
    tree = data["skeleton_tree"]
    if not isinstance(tree, dict) or any(k not in tree for k in ("node_names", "parent_indices", "local_translation")):
        raise MotionFormatError(f"{source}: skeleton_tree must hold node_names, parent_indices and local_translation")
    skeleton = Skeleton(
        node_names=[str(n) for n in tree["node_names"]],
        parent_indices=_array(tree["parent_indices"], "parent_indices", source).astype(np.int64),
        local_translation=_array(tree["local_translation"], "local_translation", source).astype(np.float64),
    )
    rotation_xyzw = _array(data["rotation"], "rotation", source).astype(np.float64)
    if rotation_xyzw.ndim != 3 or rotation_xyzw.shape[-1] != 4:
        raise MotionFormatError(f"{source}: rotation has shape {rotation_xyzw.shape}, expected (frames, nodes, 4)")
    rotation = normalize(xyzw_to_wxyz(torch.from_numpy(rotation_xyzw))).numpy()
    root_velocity = root_angular_velocity = None
    if "global_velocity" in data and "global_angular_velocity" in data:
        root_velocity = _array(data["global_velocity"], "global_velocity", source)[:, 0].astype(np.float64)
        angular = _array(data["global_angular_velocity"], "global_angular_velocity", source)
        root_angular_velocity = angular[:, 0].astype(np.float64)
    clip = MotionClip(
        skeleton=skeleton,
        fps=float(np.asarray(data["fps"])),
        root_translation=_array(data["root_translation"], "root_translation", source).astype(np.float64),
        local_rotation=rotation,
        root_velocity=root_velocity,
        root_angular_velocity=root_angular_velocity,
    )
    clip.validate(source)
    return clip
