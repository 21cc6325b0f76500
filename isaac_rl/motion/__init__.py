"""Reference motions for AMP: clip formats, a dof mapping for the AMP humanoid, and the batched MotionLib.

Pure numpy/torch: nothing here imports MuJoCo.
"""

from isaac_rl.motion.clip import MotionClip, MotionFormatError, Skeleton, SkeletonMismatchError
from isaac_rl.motion.dof_spec import AMP_HUMANOID_DOF_SPEC, AMP_HUMANOID_KEY_BODIES, DofMapping, DofSpec, JointSpec
from isaac_rl.motion.kinematics import forward_kinematics
from isaac_rl.motion.motion_files import load_motion_clip, resolve_motion_entries
from isaac_rl.motion.motion_lib import MotionLib, MotionState
from isaac_rl.motion.npz_format import load_motion_npz, save_motion_npz
from isaac_rl.motion.poselib_npy import RestrictedUnpickler, UnsafePickleError, load_poselib_npy

__all__ = [
    "AMP_HUMANOID_DOF_SPEC",
    "AMP_HUMANOID_KEY_BODIES",
    "DofMapping",
    "DofSpec",
    "JointSpec",
    "MotionClip",
    "MotionFormatError",
    "MotionLib",
    "MotionState",
    "RestrictedUnpickler",
    "Skeleton",
    "SkeletonMismatchError",
    "UnsafePickleError",
    "forward_kinematics",
    "load_motion_clip",
    "load_motion_npz",
    "load_poselib_npy",
    "resolve_motion_entries",
    "save_motion_npz",
]
