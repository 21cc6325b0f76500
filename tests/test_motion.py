"""isaac_rl.motion: clip formats, safe unpickling, YAML lists, sampling, interpolation, and FK against MuJoCo."""

import collections
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT

from isaac_rl.motion import (
    AMP_HUMANOID_DOF_SPEC,
    DofMapping,
    MotionClip,
    MotionFormatError,
    MotionLib,
    MotionState,
    SkeletonMismatchError,
    UnsafePickleError,
    load_motion_clip,
    load_motion_npz,
    save_motion_npz,
)
from isaac_rl.motion import quat
from isaac_rl.sim import Simulation
from isaac_rl.utils.torch_math import normalize

WALK = REPO_ROOT / "assets" / "motions" / "humanoid_walk.npz"
MODEL = REPO_ROOT / "assets" / "mjcf" / "amp_humanoid.xml"
# CMU-derived reference clips live beside the repository, never in it
SHARED_MOTIONS = REPO_ROOT.parent / "shared" / "motions"
needs_shared = pytest.mark.skipif(not (SHARED_MOTIONS / "amp_humanoid_run.npy").is_file(), reason="no shared reference motions")


def walk_clip() -> MotionClip:
    return load_motion_npz(WALK)


def two_frame_clip(fps: float = 10.0) -> MotionClip:
    """The walk's skeleton; frame 0 at rest, frame 1 risen 1 m, yawed 90 degrees, right elbow at -1 rad."""
    skeleton = walk_clip().skeleton
    dofs = torch.zeros(2, AMP_HUMANOID_DOF_SPEC.num_dofs, dtype=torch.float64)
    dofs[1, AMP_HUMANOID_DOF_SPEC.dof_names.index("right_elbow")] = -1.0
    root_rot = quat.from_axis_angle("z", torch.tensor([0.0, math.pi / 2], dtype=torch.float64))
    rotations = DofMapping(AMP_HUMANOID_DOF_SPEC, skeleton).to_local_rotations(dofs, root_rot)
    root = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 2.0]])
    return MotionClip(skeleton, fps, root, rotations.numpy())


def poselib_dict(clip: MotionClip) -> collections.OrderedDict:
    """A dict laid out like a poselib SkeletonMotion (rotations xyzw)."""

    def tensor(a):
        return {"arr": np.asarray(a), "context": {"dtype": str(np.asarray(a).dtype)}}

    xyzw = np.concatenate([clip.local_rotation[..., 1:], clip.local_rotation[..., :1]], axis=-1).astype(np.float32)
    tree = collections.OrderedDict(
        node_names=list(clip.skeleton.node_names),
        parent_indices=tensor(clip.skeleton.parent_indices),
        local_translation=tensor(clip.skeleton.local_translation.astype(np.float32)),
    )
    j = clip.skeleton.num_nodes
    return collections.OrderedDict(
        rotation=tensor(xyzw),
        root_translation=tensor(clip.root_translation.astype(np.float32)),
        global_velocity=tensor(np.zeros((clip.num_frames, j, 3), np.float32)),
        global_angular_velocity=tensor(np.zeros((clip.num_frames, j, 3), np.float32)),
        skeleton_tree=tree,
        is_local=True,
        fps=np.array(clip.fps, dtype=np.float32),
        __name__="SkeletonMotion",
    )


def save_object_npy(path: Path, obj) -> None:
    holder = np.empty((), dtype=object)
    holder[()] = obj
    np.save(path, holder, allow_pickle=True)


def state_qpos(state) -> torch.Tensor:
    return torch.cat([state.root_pos, state.root_rot, state.dof_pos], dim=1)


# -- formats -------------------------------------------------------------------
def test_npz_round_trip_keeps_every_array(tmp_path):
    clip = walk_clip()
    save_motion_npz(tmp_path / "copy.npz", clip)
    again = load_motion_npz(tmp_path / "copy.npz")
    assert again.skeleton.node_names == clip.skeleton.node_names
    np.testing.assert_array_equal(again.skeleton.parent_indices, clip.skeleton.parent_indices)
    np.testing.assert_allclose(again.local_rotation, clip.local_rotation, atol=1e-6)
    np.testing.assert_allclose(again.root_translation, clip.root_translation, atol=1e-6)
    assert again.fps == clip.fps and again.root_velocity is None


def test_poselib_layout_loads_and_rotations_become_wxyz(tmp_path):
    clip = walk_clip()
    save_object_npy(tmp_path / "walk.npy", poselib_dict(clip))
    loaded = load_motion_clip(tmp_path / "walk.npy")
    assert loaded.skeleton.node_names == clip.skeleton.node_names
    np.testing.assert_allclose(loaded.local_rotation, clip.local_rotation, atol=1e-6)
    np.testing.assert_allclose(loaded.root_velocity, 0.0)  # taken from the file's global_velocity


@needs_shared
def test_reference_clip_loads_with_its_poselib_structure():
    clip = load_motion_clip(SHARED_MOTIONS / "amp_humanoid_run.npy")
    assert clip.skeleton.num_nodes == 15 and clip.fps == 60.0 and clip.num_frames == 82
    # the file's first root rotation is (x, y, z, w) = (-0.0667, 0.0381, 0.0197, 0.9968)
    np.testing.assert_allclose(clip.local_rotation[0, 0], [0.99685, -0.06672, 0.03815, 0.01972], atol=1e-4)
    lib = MotionLib(SHARED_MOTIONS / "amp_humanoid_run.npy")
    assert lib.num_motions() == 1 and lib.get_motion_length().item() == pytest.approx(81 / 60.0)


class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_crafted_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    save_object_npy(tmp_path / "evil.npy", {"rotation": _RunsCode(marker)})
    with pytest.raises(UnsafePickleError, match=r"refused to unpickle global '(posix|os)\.mkdir'"):
        load_motion_clip(tmp_path / "evil.npy")
    assert not marker.exists()


def test_npz_with_missing_keys_names_them(tmp_path):
    np.savez(tmp_path / "bad.npz", fps=30.0, root_translation=np.zeros((2, 3)))
    with pytest.raises(MotionFormatError, match="missing keys.*local_rotation"):
        load_motion_clip(tmp_path / "bad.npz")


def test_missing_file_and_unknown_extension_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        MotionLib(tmp_path / "nowhere.npz")
    (tmp_path / "clip.bvh").write_text("HIERARCHY")
    with pytest.raises(MotionFormatError, match=r"unknown motion file extension '\.bvh'; accepted: \.npy.*\.npz.*\.yaml"):
        MotionLib(tmp_path / "clip.bvh")


# -- YAML lists and sampling -----------------------------------------------------
def write_list(path: Path, entries: str) -> Path:
    path.write_text("motions:\n" + entries)
    return path


def test_yaml_list_loads_clips_relative_to_it_and_samples_by_weight(tmp_path):
    (tmp_path / "clips").mkdir()
    save_motion_npz(tmp_path / "clips" / "walk.npz", walk_clip())
    save_motion_npz(tmp_path / "clips" / "rise.npz", two_frame_clip())
    listing = write_list(tmp_path / "clips" / "all.yaml", "  - {file: walk.npz, weight: 3}\n  - {file: rise.npz, weight: 1}\n")
    lib = MotionLib(listing)
    assert lib.num_motions() == 2
    torch.testing.assert_close(lib.get_motion_length(), torch.tensor([2.0, 0.1]))
    torch.testing.assert_close(lib.motion_weights, torch.tensor([0.75, 0.25]))
    ids = lib.sample_motions(20000, generator=torch.Generator().manual_seed(0))
    assert abs((ids == 0).float().mean().item() - 0.75) < 0.02
    times = lib.sample_time(ids, truncate_time=0.05, generator=torch.Generator().manual_seed(1))
    assert (times >= 0).all() and (times <= (lib.get_motion_length(ids) - 0.05).clamp_min(0)).all()
    assert times[ids == 0].max() > 1.5  # spread over the long clip


def test_yaml_list_errors_say_what_is_wrong(tmp_path):
    save_motion_npz(tmp_path / "walk.npz", walk_clip())
    with pytest.raises(FileNotFoundError, match="gone.npz"):
        MotionLib(write_list(tmp_path / "a.yaml", "  - {file: gone.npz, weight: 1}\n"))
    with pytest.raises(MotionFormatError, match="weight must be a number >= 0"):
        MotionLib(write_list(tmp_path / "b.yaml", "  - {file: walk.npz, weight: -1}\n"))
    with pytest.raises(MotionFormatError, match="expected 'motions:"):
        MotionLib(write_list(tmp_path / "c.yaml", "  oops\n"))


def test_clips_with_different_skeletons_are_refused(tmp_path):
    clip = walk_clip()
    longer = clip.skeleton.local_translation.copy()
    longer[clip.skeleton.index("right_shin")] *= 1.2
    other = MotionClip(type(clip.skeleton)(clip.skeleton.node_names, clip.skeleton.parent_indices, longer), clip.fps,
                       clip.root_translation, clip.local_rotation)  # fmt: skip
    save_motion_npz(tmp_path / "walk.npz", clip)
    save_motion_npz(tmp_path / "tall.npz", other)
    with pytest.raises(SkeletonMismatchError, match="tall.npz: skeleton bone offsets differ"):
        MotionLib(write_list(tmp_path / "both.yaml", "  - {file: walk.npz}\n  - {file: tall.npz}\n"))
    with pytest.raises(SkeletonMismatchError, match="differ from the motion dof spec"):
        MotionLib(WALK, dof_names=["abdomen_x"])
    with pytest.raises(SkeletonMismatchError, match="no body named 'tail'"):
        MotionLib(WALK, key_body_names=["right_hand", "tail"])


# -- states ----------------------------------------------------------------------------
def test_state_halfway_between_frames_blends_them(tmp_path):
    save_motion_npz(tmp_path / "rise.npz", two_frame_clip(fps=10.0))
    lib = MotionLib(tmp_path / "rise.npz")
    ids = torch.zeros(4, dtype=torch.long)
    # start, a quarter, halfway, past the end (clamped to the last frame)
    state = lib.get_motion_state(ids, torch.tensor([0.0, 0.025, 0.05, 7.0]))
    torch.testing.assert_close(state.root_pos[:, 2], torch.tensor([1.0, 1.25, 1.5, 2.0]))
    yaw = 2 * torch.atan2(state.root_rot[:, 3], state.root_rot[:, 0])
    torch.testing.assert_close(yaw, torch.tensor([0.0, math.pi / 8, math.pi / 4, math.pi / 2]))  # slerp: uniform in angle
    elbow = lib.dof_names.index("right_elbow")
    torch.testing.assert_close(state.dof_pos[:, elbow], torch.tensor([0.0, -0.25, -0.5, -1.0]))
    torch.testing.assert_close(state.dof_vel[:, elbow], torch.full((4,), -10.0))
    torch.testing.assert_close(state.root_vel[:, 2], torch.full((4,), 10.0))
    torch.testing.assert_close(state.root_ang_vel[:, 2], torch.full((4,), 5 * math.pi))
    assert state.key_pos.shape == (4, 4, 3)
    torch.testing.assert_close(state.key_pos[2], 0.5 * (state.key_pos[0] + state.key_pos[3]))


def test_hinge_decomposition_reproduces_random_joint_rotations():
    skeleton = walk_clip().skeleton
    mapping = DofMapping(AMP_HUMANOID_DOF_SPEC, skeleton)
    gen = torch.Generator().manual_seed(0)
    n = 256
    dofs = (torch.rand(n, AMP_HUMANOID_DOF_SPEC.num_dofs, generator=gen, dtype=torch.float64) - 0.5) * 2.6  # |b| < pi/2
    root = normalize(torch.randn(n, 4, generator=gen, dtype=torch.float64))
    rotations = mapping.to_local_rotations(dofs, root)
    torch.testing.assert_close(mapping.to_dofs(rotations), dofs)


def _assert_key_bodies_match_mujoco(lib: MotionLib, motion_id: int, times: torch.Tensor, atol: float) -> None:
    n = len(times)
    state = lib.get_motion_state(torch.full((n,), motion_id, dtype=torch.long), times)
    sim = Simulation(str(MODEL), num_envs=n, device="cpu", backend="mujoco", refresh_body_states=True)
    assert sim.info.dof_names == lib.dof_names
    sim.reset_envs(torch.ones(n, dtype=torch.bool), state_qpos(state), torch.zeros_like(sim.qvel))
    key = [sim.info.body_index(name) for name in lib.key_body_names]
    error = (sim.body_pos[:, key] - state.key_pos).norm(dim=-1)
    assert error.max().item() < atol, f"key bodies off MuJoCo's by up to {error.max().item():.4f} m"


def test_key_body_positions_match_mujoco_on_the_authored_walk():
    lib = MotionLib(WALK)
    frames = torch.arange(0, 61, 3, dtype=torch.float32) / 30.0
    _assert_key_bodies_match_mujoco(lib, 0, frames, atol=1e-4)  # on frames: exact up to float32
    between = frames[:-1] + 0.37 / 30.0
    _assert_key_bodies_match_mujoco(lib, 0, between, atol=0.01)  # blended frames: within 1 cm


@needs_shared
@pytest.mark.parametrize("name", ["amp_humanoid_run.npy", "amp_humanoid_cartwheel.npy"])
def test_key_body_positions_match_mujoco_on_reference_clips(name):
    lib = MotionLib(SHARED_MOTIONS / name)
    length = lib.get_motion_length(torch.tensor([0])).item()
    times = torch.linspace(0.0, length, 25)
    _assert_key_bodies_match_mujoco(lib, 0, times, atol=0.01)


def test_authored_walk_moves_forward_with_feet_on_the_floor():
    lib = MotionLib(WALK)
    times = torch.linspace(0.0, 2.0, 121)
    state = lib.get_motion_state(torch.zeros(121, dtype=torch.long), times)
    torch.testing.assert_close(state.root_vel[:, 0], torch.full((121,), 1.1), atol=1e-3, rtol=0)
    ankle_z = state.key_pos[:, 2:, 2]
    assert ankle_z.min().item() > 0.049  # the sole is 5 cm below the ankle
    assert (ankle_z.min(dim=1).values < 0.051).all()  # one foot always down


def test_raising_clips_moves_root_and_key_bodies_of_each_clip_alone(tmp_path):
    listing = tmp_path / "two.yaml"
    listing.write_text(f"motions:\n  - file: {WALK}\n    weight: 1\n  - file: {WALK}\n    weight: 1\n")
    lib = MotionLib(listing)
    before = [MotionState(*(v.clone() for v in lib.clip_frames(i))) for i in range(2)]
    lib.raise_clips(torch.tensor([0.05, -0.02]))
    for clip, shift in ((0, 0.05), (1, -0.02)):
        after = lib.clip_frames(clip)
        torch.testing.assert_close(after.root_pos[:, 2], before[clip].root_pos[:, 2] + shift)
        torch.testing.assert_close(after.key_pos[..., 2], before[clip].key_pos[..., 2] + shift)
        torch.testing.assert_close(after.root_pos[:, :2], before[clip].root_pos[:, :2])
        torch.testing.assert_close(after.dof_pos, before[clip].dof_pos)
    with pytest.raises(ValueError, match="one height per clip"):
        lib.raise_clips(torch.zeros(3))


def test_ground_clearance_is_the_signed_sole_height():
    sim = Simulation("mjcf/amp_humanoid.xml", num_envs=1, backend="mujoco")
    standing = sim.default_qpos.clone().unsqueeze(0).repeat(3, 1)
    standing[1, 2] -= 0.05  # pelvis 5 cm lower: the soles sink into the floor
    standing[2, 2] += 1.0  # a metre up
    # the model's soles are 0.8814 m below the pelvis, which starts at 0.89 m
    expected = torch.tensor([0.89 - 0.8814, 0.84 - 0.8814, 1.89 - 0.8814])
    torch.testing.assert_close(sim.ground_clearance(standing), expected, atol=1e-4, rtol=0)

