"""`MotionLib`: reference clips on the device, sampled and interpolated in batches.

At load every clip is turned into per-frame model quantities (root pose and
velocities, hinge angles and rates, key body positions) and the frames of all
clips are stacked into flat tensors; `get_motion_state` then only gathers two
frames per query and blends them, with no host synchronisation, so it can run
every env step for AMP demonstration observations.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import torch

from isaac_rl.motion import quat
from isaac_rl.motion.clip import MotionClip, SkeletonMismatchError
from isaac_rl.motion.dof_spec import AMP_HUMANOID_DOF_SPEC, AMP_HUMANOID_KEY_BODIES, DofMapping, DofSpec
from isaac_rl.motion.kinematics import forward_kinematics
from isaac_rl.motion.motion_files import load_motion_clip, resolve_motion_entries
from isaac_rl.utils.torch_math import normalize, normalize_angle, quat_conjugate, quat_mul


class MotionState(NamedTuple):
    root_pos: torch.Tensor
    """(N, 3) world."""
    root_rot: torch.Tensor
    """(N, 4) wxyz, MuJoCo's convention."""
    dof_pos: torch.Tensor
    """(N, D) hinge angles in the model's dof order."""
    root_vel: torch.Tensor
    """(N, 3) world linear velocity."""
    root_ang_vel: torch.Tensor
    """(N, 3) world angular velocity."""
    dof_vel: torch.Tensor
    """(N, D)."""
    key_pos: torch.Tensor
    """(N, K, 3) world positions of the key bodies."""


def _forward_difference(values: torch.Tensor, fps: float, angles: bool = False) -> torch.Tensor:
    """Per-frame rate (v[t+1] - v[t]) * fps; the last frame repeats the one before.

    With `angles`, steps are wrapped to [-pi, pi) so a hinge crossing +-pi has a small rate.
    """
    if values.shape[0] < 2:
        return torch.zeros_like(values)
    step = values[1:] - values[:-1]
    rate = (normalize_angle(step) if angles else step) * fps
    return torch.cat([rate, rate[-1:]], dim=0)


def _angular_velocity(rotations: torch.Tensor, fps: float) -> torch.Tensor:
    """World angular velocity from consecutive wxyz rotations: q[t+1] = dq q[t], dq in the world frame."""
    if rotations.shape[0] < 2:
        return torch.zeros(*rotations.shape[:-1], 3, dtype=rotations.dtype)
    delta = quat_mul(rotations[1:], quat_conjugate(rotations[:-1]))
    rate = quat.to_rotation_vector(delta) * fps
    return torch.cat([rate, rate[-1:]], dim=0)


class MotionLib:
    def __init__(
        self,
        motion_file: str | Path,
        dof_spec: DofSpec = AMP_HUMANOID_DOF_SPEC,
        key_body_names: Sequence[str] = AMP_HUMANOID_KEY_BODIES,
        device: str | torch.device = "cpu",
        dof_names: Sequence[str] | None = None,
    ) -> None:
        """
        Args:
            motion_file: a clip (.npy poselib SkeletonMotion, .npz isaac_rl motion)
                or a YAML list of weighted clips (see motion_files).
            dof_spec: how skeleton rotations map to the model's hinge dofs.
            key_body_names: skeleton bodies whose world positions `key_pos` reports.
            device: where the stacked frames live and queries run.
            dof_names: the model's dof names (e.g. `sim.info.dof_names`); when given,
                they must equal the spec's, so a model/spec mismatch fails here.
        """
        self.device = torch.device(device)
        self.dof_spec = dof_spec
        self.dof_names = dof_spec.dof_names
        if dof_names is not None and list(dof_names) != self.dof_names:
            raise SkeletonMismatchError(
                f"the model's dofs {list(dof_names)} differ from the motion dof spec's {self.dof_names}"
            )
        self.key_body_names = list(key_body_names)
        entries = resolve_motion_entries(motion_file)
        self.motion_files = [path for path, _ in entries]
        clips = [load_motion_clip(path) for path in self.motion_files]
        self.skeleton = clips[0].skeleton
        for path, clip in zip(self.motion_files[1:], clips[1:]):
            self.skeleton.check_same_as(clip.skeleton, str(path))
        self._mapping = DofMapping(dof_spec, self.skeleton)
        self._key_index = [self.skeleton.index(name) for name in self.key_body_names]

        frames = [self._clip_frames(clip) for clip in clips]
        num_frames = [clip.num_frames for clip in clips]
        fps = [clip.fps for clip in clips]
        self._frames = MotionState(*(torch.cat(parts).to(self.device, torch.float32) for parts in zip(*frames)))
        starts = np.concatenate([[0], np.cumsum(num_frames)[:-1]])
        self._frame_start = torch.as_tensor(starts, dtype=torch.long, device=self.device)
        self._num_frames = torch.as_tensor(num_frames, dtype=torch.long, device=self.device)
        self._fps = torch.as_tensor(fps, dtype=torch.float32, device=self.device)
        self._length = torch.as_tensor([(n - 1) / f for n, f in zip(num_frames, fps)], dtype=torch.float32, device=self.device)
        weights = torch.as_tensor([w for _, w in entries], dtype=torch.float32)
        self._weights = (weights / weights.sum()).to(self.device)

    def _clip_frames(self, clip: MotionClip) -> MotionState:
        """Per-frame model quantities of one clip (one row per frame), in float64 on the cpu."""
        local_rotation = torch.from_numpy(clip.local_rotation)
        root_pos = torch.from_numpy(clip.root_translation)
        root_rot = normalize(local_rotation[:, 0])
        dof_pos = self._mapping.to_dofs(local_rotation)
        dof_vel = _forward_difference(dof_pos, clip.fps, angles=True)
        if clip.root_velocity is not None:
            root_vel = torch.from_numpy(clip.root_velocity)
        else:
            root_vel = _forward_difference(root_pos, clip.fps)
        if clip.root_angular_velocity is not None:
            root_ang_vel = torch.from_numpy(clip.root_angular_velocity)
        else:
            root_ang_vel = _angular_velocity(root_rot, clip.fps)
        # key bodies from the rotations the hinges can actually make, so they
        # match the model driven by these dofs (a hand's own rotation, or an
        # elbow's off-axis part, has no dof to carry it)
        body_pos, _ = forward_kinematics(self.skeleton, root_pos, self._mapping.to_local_rotations(dof_pos, root_rot))
        key_pos = body_pos[:, self._key_index]
        return MotionState(root_pos, root_rot, dof_pos, root_vel, root_ang_vel, dof_vel, key_pos)

    # -- queries --------------------------------------------------------------
    def num_motions(self) -> int:
        return len(self.motion_files)

    @property
    def num_dofs(self) -> int:
        return len(self.dof_names)

    @property
    def num_key_bodies(self) -> int:
        return len(self.key_body_names)

    @property
    def motion_weights(self) -> torch.Tensor:
        """(num_motions,) sampling probabilities."""
        return self._weights

    def get_motion_length(self, motion_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Clip durations in seconds ((num_frames - 1) / fps), all clips when motion_ids is None."""
        return self._length if motion_ids is None else self._length[motion_ids]

    def sample_motions(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n,) clip ids drawn with the clips' weights."""
        return torch.multinomial(self._weights, n, replacement=True, generator=generator)

    def sample_time(
        self, motion_ids: torch.Tensor, truncate_time: float | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Uniform times in [0, length - truncate_time] of each clip (0 where the clip is shorter)."""
        phase = torch.rand(motion_ids.shape, device=self.device, generator=generator)
        return self.time_at_phase(motion_ids, phase, truncate_time)

    def time_at_phase(self, motion_ids: torch.Tensor, phase: torch.Tensor, truncate_time: float | None = None) -> torch.Tensor:
        """The times `phase` (in [0, 1]) of the way through [0, length - truncate_time] of each clip (0 where the clip is shorter).

        `sample_time` with the uniform numbers given: a caller that draws all of
        its random numbers at once (a task's reset) passes its share here.
        """
        length = self._length[motion_ids]
        if truncate_time is not None:
            if truncate_time < 0:
                raise ValueError(f"truncate_time must be >= 0, got {truncate_time}")
            length = (length - truncate_time).clamp_min(0.0)
        return phase * length

    def clip_frames(self, motion_id: int) -> MotionState:
        """Every stored frame of one clip, (num_frames, ...) each."""
        start = int(self._frame_start[motion_id])
        end = start + int(self._num_frames[motion_id])
        return MotionState(*(values[start:end] for values in self._frames))

    def raise_clips(self, heights: torch.Tensor) -> None:
        """Move each clip up by heights[clip] metres (down where negative): root and key bodies alike."""
        heights = torch.as_tensor(heights, dtype=torch.float32, device=self.device)
        if heights.shape != (self.num_motions(),):
            raise ValueError(f"expected one height per clip, shape ({self.num_motions()},), got {tuple(heights.shape)}")
        per_frame = torch.repeat_interleave(heights, self._num_frames)
        self._frames.root_pos[:, 2] += per_frame
        self._frames.key_pos[..., 2] += per_frame.unsqueeze(-1)

    def get_motion_state(self, motion_ids: torch.Tensor, motion_times: torch.Tensor) -> MotionState:
        """The clips' states at the given times, blended between the two nearest frames.

        Times are clamped to [0, length]. Pure batched torch: no host sync.
        """
        num_frames = self._num_frames[motion_ids]
        frame_pos = (motion_times.clamp_min(0.0) * self._fps[motion_ids]).clamp(max=(num_frames - 1).to(motion_times.dtype))
        frame0 = frame_pos.floor().long()
        frame1 = torch.minimum(frame0 + 1, num_frames - 1)
        blend = (frame_pos - frame0.to(frame_pos.dtype)).unsqueeze(-1)
        i0 = self._frame_start[motion_ids] + frame0
        i1 = self._frame_start[motion_ids] + frame1
        f = self._frames

        def lerp(values: torch.Tensor) -> torch.Tensor:
            a, b = values[i0], values[i1]
            w = blend if a.dim() == 2 else blend.unsqueeze(-1)
            return a + w * (b - a)

        dof0 = f.dof_pos[i0]
        return MotionState(
            root_pos=lerp(f.root_pos),
            root_rot=quat.slerp(f.root_rot[i0], f.root_rot[i1], blend),
            dof_pos=dof0 + blend * normalize_angle(f.dof_pos[i1] - dof0),  # the short way across +-pi
            root_vel=lerp(f.root_vel),
            root_ang_vel=lerp(f.root_ang_vel),
            dof_vel=lerp(f.dof_vel),
            key_pos=lerp(f.key_pos),
        )
