"""scripts/render_filmstrip.py: the PNG writer, the frame layout, the two pose sequences and a headless render."""

import copy
import importlib.util
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

# before the script: it then leaves MUJOCO_GL (read when mujoco is first imported) as this session has it
import mujoco  # noqa: F401
import numpy as np
import pytest
import torch
from conftest import REPO_ROOT, run_train

from isaac_rl import ASSET_ROOT
from isaac_rl.utils.run_dirs import newest_run_dir

SCRIPT = REPO_ROOT / "scripts" / "render_filmstrip.py"
NO_GL_EXIT = 77  # the render probe's exit code when no OpenGL context can be made


def load_filmstrip_script():
    spec = importlib.util.spec_from_file_location("render_filmstrip_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


filmstrip = load_filmstrip_script()


def read_png(data: bytes) -> np.ndarray:
    """Decode an 8-bit RGB, non-interlaced, filter-0 PNG (what write_png makes), checking every chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag, payload = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + payload), tag
        chunks.append((tag, payload))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, *fields = struct.unpack(">IIBBBBB", chunks[0][1])
    assert fields == [8, 2, 0, 0, 0]  # 8-bit, truecolour, deflate, adaptive filtering, no interlace
    raw = zlib.decompress(b"".join(payload for tag, payload in chunks if tag == b"IDAT"))
    rows = np.frombuffer(raw, np.uint8).reshape(height, 1 + 3 * width)
    assert (rows[:, 0] == 0).all()  # filter type 0 on every row
    return rows[:, 1:].reshape(height, width, 3)


def body_pixels(image: np.ndarray) -> np.ndarray:
    """Mask of the humanoid's pixels: its material is tan (red >> blue); the floor is blue, the sky black."""
    image = image.astype(int)
    return image[..., 0] > image[..., 2] + 40


# -- PNG and layout ---------------------------------------------------------------------
def test_png_round_trips_pixels_and_size(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    filmstrip.write_png(tmp_path / "x.png", image)
    decoded = read_png((tmp_path / "x.png").read_bytes())
    assert decoded.shape == (5, 7, 3)
    np.testing.assert_array_equal(decoded, image)


def test_png_writer_refuses_what_is_not_rgb_bytes(tmp_path):
    for bad in (np.zeros((4, 4, 3), np.float32), np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8)):
        with pytest.raises(ValueError, match="uint8"):
            filmstrip.write_png(tmp_path / "x.png", bad)


def test_assemble_lays_frames_out_in_rows_on_white():
    colours = [[(10, 0, 0), (20, 0, 0), (30, 0, 0)], [(0, 40, 0), (0, 50, 0), (0, 60, 0)]]
    rows = [[np.full((4, 6, 3), c, np.uint8) for c in row] for row in colours]
    sheet = filmstrip.assemble(rows, gap=2)
    assert sheet.shape == (2 * 4 + 2, 3 * 6 + 2 * 2, 3)
    for r, row in enumerate(colours):
        for c, colour in enumerate(row):
            y, x = r * 6, c * 8
            assert (sheet[y : y + 4, x : x + 6] == colour).all(), (r, c)
    assert (sheet[4:6] == 255).all() and (sheet[:, 6:8] == 255).all() and (sheet[:, 14:16] == 255).all()


def test_frame_steps_spread_evenly_over_the_span():
    steps = filmstrip.frame_steps(8, 2.0, 1 / 30)
    assert steps[0] == 0 and steps[-1] == 60 and len(steps) == 8 and (np.diff(steps) > 0).all()
    assert filmstrip.frame_steps(1, 2.0, 1 / 30).tolist() == [0]
    with pytest.raises(ValueError, match="more frames than control steps"):
        filmstrip.frame_steps(8, 0.1, 1 / 30)


# -- the pose sequences ------------------------------------------------------------------
@pytest.fixture(scope="module")
def configs():
    return filmstrip.compose_configs("cpu")


@pytest.fixture(scope="module")
def task(configs):
    return filmstrip.make_task(configs[0], "cpu", "", last_step=60)


def test_task_starts_at_the_clip_start_and_is_never_cut(task):
    env = task.cfg["env"]
    assert env["stateInit"] == "Start" and env["enableEarlyTermination"] is False and task.num_envs == 1
    assert task.max_episode_length > 60 and str(task.motion_file).endswith("humanoid_walk.npz")


def test_reference_walks_forward_along_x(task):
    steps = filmstrip.frame_steps(8, 2.0, task.dt)
    poses = filmstrip.reference_qpos(task, 0, steps)
    assert poses.shape == (8, task.sim.mj_model.nq) == (8, 35)
    x = poses[:, 0]
    assert (x.diff() > 0).all()
    assert x[-1] - x[0] == pytest.approx(1.1 * 2.0, abs=0.1)  # the shipped clip walks 1.1 m/s along +x
    assert (poses[:, 2] > 0.7).all()  # the pelvis stays up


def test_rollout_starts_in_the_reference_pose_and_moves(task):
    steps = filmstrip.frame_steps(4, 0.5, task.dt)
    obs = task.reset()["obs"]
    reference = filmstrip.reference_qpos(task, int(task.reset_motion_ids[0]), steps)
    calls = []

    def still(obs: torch.Tensor) -> torch.Tensor:
        calls.append(obs.shape)
        return torch.zeros(1, task.num_actions)

    poses = filmstrip.rollout(task, obs, still, steps)
    assert poses.shape == reference.shape and torch.isfinite(poses).all()
    assert len(calls) == steps[-1] and calls[0] == (1, task.num_observations)
    torch.testing.assert_close(poses[0], reference[0], atol=1e-5, rtol=0)
    assert (poses[1:] - poses[0]).abs().amax(dim=1).min() > 1e-3  # physics moved the later frames


def test_a_missing_or_foreign_checkpoint_is_refused_clearly(task, configs, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        filmstrip.load_policy(task, configs[1], str(tmp_path / "none.pth"), "cpu")
    foreign = tmp_path / "cartpole.pth"
    torch.save({"model": {"running_mean_std.running_mean": torch.zeros(4), "a2c_network.mu.weight": torch.zeros(1, 8)}}, foreign)
    with pytest.raises(ValueError, match="does not fit this task"):
        filmstrip.load_policy(task, configs[1], str(foreign), "cpu")


def test_a_missing_motion_file_names_the_option(configs):
    with pytest.raises(FileNotFoundError, match="--motion-file 'no_such_clip.npz' not found"):
        filmstrip.make_task(copy.deepcopy(configs[0]), "cpu", "no_such_clip.npz", last_step=10)


def test_a_trained_checkpoint_drives_the_rollout(task, configs, tmp_path):
    trained = run_train(
        "task=HumanoidAMP", "num_envs=4", "max_iterations=1", "train.params.config.horizon_length=8",
        "train.params.config.minibatch_size=32", "train.params.config.mini_epochs=1",
        "train.params.config.amp_obs_demo_buffer_size=256", "train.params.config.amp_replay_buffer_size=128",
        "train.params.config.amp_batch_size=32", "train.params.config.amp_minibatch_size=16", cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    checkpoint = sorted((newest_run_dir(tmp_path / "runs" / "HumanoidAMP") / "nn").glob("*.pth"))[-1]
    policy = filmstrip.load_policy(task, configs[1], str(checkpoint), "cpu")
    obs = task.reset()["obs"]
    actions = policy(obs)
    assert actions.shape == (1, task.num_actions) and actions.abs().max() <= 1.0
    steps = filmstrip.frame_steps(3, 0.3, task.dt)
    poses = filmstrip.rollout(task, obs, policy, steps)
    assert poses.shape == (3, 35) and torch.isfinite(poses).all()


# -- rendering (a child process: MuJoCo fixes its GL backend at import) -----------------------
PROBE = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("filmstrip", sys.argv[1])
filmstrip = importlib.util.module_from_spec(spec)
try:  # first: it picks the GL backend before mujoco is imported, and a broken backend fails that import
    spec.loader.exec_module(filmstrip)
except Exception as error:  # not the script's fault: it imported fine in the test process
    print(f"importing mujoco failed: {type(error).__name__}: {error}", file=sys.stderr)
    sys.exit(NO_GL_EXIT)
import mujoco, numpy as np, torch
model = mujoco.MjModel.from_xml_path(sys.argv[2])
try:  # GL alone, outside the script, so that a bug of the script fails the test instead of skipping it
    mujoco.Renderer(model, 8, 8).close()
except Exception as error:
    print(f"MUJOCO_GL={filmstrip.os.environ.get('MUJOCO_GL', '')!r}: {type(error).__name__}: {error}", file=sys.stderr)
    sys.exit(NO_GL_EXIT)
standing = torch.tensor(model.qpos0)
ahead = standing.clone()
ahead[0] += 5.0
frames = filmstrip.render_frames(model, torch.stack((standing, ahead)), 96, 64)
np.save(sys.argv[3], np.stack(frames))
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Frames (2, 64, 96, 3) of the standing humanoid, at x = 0 and 5 m; skips when no GL backend works here."""
    out = tmp_path_factory.mktemp("render") / "frames.npy"
    code = PROBE.replace("NO_GL_EXIT", str(NO_GL_EXIT))
    result = subprocess.run(
        [sys.executable, "-c", code, str(SCRIPT), str(ASSET_ROOT / "mjcf" / "amp_humanoid.xml"), str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if result.returncode == NO_GL_EXIT:
        pytest.skip(f"no OpenGL backend for headless rendering here: {result.stderr.strip()[-500:]}")
    assert result.returncode == 0, result.stderr[-3000:]
    return np.load(out)


def test_a_frame_shows_the_humanoid_centred_as_the_camera_follows(rendered):
    assert rendered.shape == (2, 64, 96, 3) and rendered.dtype == np.uint8
    for frame in rendered:
        assert frame.mean() > 10  # lit, not black
        body = body_pixels(frame)
        assert body.mean() > 0.005, "the humanoid is not in view"
        _, x = np.argwhere(body).mean(axis=0)
        assert abs(x - 48) < 12  # near the middle also 5 m further along x: the camera tracks the pelvis
    assert not np.array_equal(rendered[0], rendered[1])  # the floor moved under it


def test_cli_writes_the_reference_row(rendered, tmp_path):
    out = tmp_path / "docs" / "strip.png"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--frames", "3", "--seconds", "1.0", "--width", "48", "--height", "40", "--out", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    sheet = read_png(out.read_bytes())
    gap = filmstrip.GAP
    assert sheet.shape == (40, 3 * 48 + 2 * gap, 3)  # one row: no checkpoint, reference only
    assert (sheet[:, 48 : 48 + gap] == 255).all()
    for c in range(3):
        assert body_pixels(sheet[:, c * (48 + gap) : c * (48 + gap) + 48]).any(), c


def test_cli_reports_a_missing_checkpoint(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--checkpoint", "runs/none.pth", "--out", str(tmp_path / "x.png")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2 and "checkpoint 'runs/none.pth' does not exist" in result.stderr
    assert not (tmp_path / "x.png").exists()


def run_with_random_policy(script: Path, tmp_path: Path, num_obs: int, num_actions: int, *args: str):
    """`script` playing a TorchScript policy of that shape (any weights: the scripts' job is rows, frames and camera)
    into 48 x 40 frames; returns its output and the sheet it wrote."""
    policy = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(num_obs, num_actions), torch.nn.Tanh()))
    policy.save(str(tmp_path / "policy.pt"))
    out = tmp_path / "strip.png"
    result = subprocess.run(
        [sys.executable, str(script), "--policy", str(tmp_path / "policy.pt"), *args, "--width", "48", "--height", "40", "--out", str(out)],
        cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result, read_png(out.read_bytes())


# -- scripts/render_terrain_filmstrip.py ---------------------------------------------------------
TERRAIN_SCRIPT = REPO_ROOT / "scripts" / "render_terrain_filmstrip.py"


def test_terrain_filmstrip_draws_one_row_per_tile(rendered, tmp_path):
    result, sheet = run_with_random_policy(TERRAIN_SCRIPT, tmp_path, 188, 12, "--tiles", "smooth_slope:0,stairs_up:2", "--frames", "2", "--seconds", "0.1")
    assert "rows smooth_slope row 0, stairs_up row 2" in result.stdout
    gap = filmstrip.GAP
    assert sheet.shape == (2 * 40 + gap, 2 * 48 + gap, 3)
    assert not np.array_equal(sheet[:40, :48], sheet[40 + gap :, :48])  # two different tiles


@pytest.mark.parametrize(
    "args, message",
    [
        (["--policy", "none.pt"], "--policy 'none.pt': no such file"),
        (["--policy", str(TERRAIN_SCRIPT), "--tiles", "lava:3"], "--tiles 'lava:3': expected KIND:LEVEL"),
    ],
)
def test_terrain_filmstrip_bad_options_say_what_is_accepted(tmp_path, args, message):
    result = subprocess.run([sys.executable, str(TERRAIN_SCRIPT), *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and message in result.stderr, result.stderr[-2000:]


# -- scripts/render_hand_filmstrip.py ------------------------------------------------------------
HAND_SCRIPT = REPO_ROOT / "scripts" / "render_hand_filmstrip.py"


@pytest.mark.skipif(importlib.util.find_spec("gymnasium_robotics") is None, reason='needs pip install -e ".[hands]"')
def test_hand_filmstrip_draws_one_row_per_env_from_an_exported_policy(rendered, tmp_path):
    # the shipped observation type's shape (full_state: 211 -> 20 joint targets)
    _, sheet = run_with_random_policy(HAND_SCRIPT, tmp_path, 211, 20, "--rows", "2", "--frames", "2", "--seconds", "0.2")
    gap = filmstrip.GAP
    assert sheet.shape == (2 * 40 + gap, 2 * 48 + gap, 3)
    # the two envs' cubes start in different random orientations
    assert not np.array_equal(sheet[:40, :48], sheet[40 + gap :, :48])


def load_hand_script():
    spec = importlib.util.spec_from_file_location("render_hand_filmstrip_script", HAND_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hand_filmstrip_camera_keeps_a_fixed_lookat_and_follows_a_free_root():
    script = load_hand_script()
    hand_camera = {"lookat": [0.0, -0.05, 0.5], "distance": 0.5, "azimuth": 60.0, "elevation": -35.0}
    view, lookat = script.camera_view(hand_camera)
    assert view == (0.5, 60.0, -35.0) and lookat(np.arange(7.0)) == [0.0, -0.05, 0.5]
    view, lookat = script.camera_view({})  # Humanoid's: none of its own
    assert view == (filmstrip.CAMERA_DISTANCE, filmstrip.CAMERA_AZIMUTH, filmstrip.CAMERA_ELEVATION)
    np.testing.assert_array_equal(lookat(np.array([4.0, 1.0, 1.3, 1.0, 0.0, 0.0, 0.0])), [4.0, 1.0, 1.3])


def test_hand_filmstrip_takes_another_task(rendered, tmp_path):
    # Humanoid's shape (108 observations -> 21 torques): the option's job is the task and the camera
    result, sheet = run_with_random_policy(HAND_SCRIPT, tmp_path, 108, 21, "--task", "Humanoid", "--rows", "1", "--frames", "2", "--seconds", "0.5")
    assert "1 env(s)" in result.stdout
    gap = filmstrip.GAP
    assert sheet.shape == (40, 2 * 48 + gap, 3)
    assert not np.array_equal(sheet[:, :48], sheet[:, 48 + gap :])  # the body moved between the frames
