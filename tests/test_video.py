"""capture_video=True: mp4 clips of env 0 while training and playing, rendered headless, logged to tensorboard."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO_ROOT, run_train

from isaac_rl.utils.run_dirs import newest_run_dir

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason='videos need the video extra: pip install -e ".[video]"')

NO_GL = "no OpenGL context for rendering"


def decode(path) -> np.ndarray:
    """The frames of an mp4 file as (frames, height, width, 3) uint8: what a player shows."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    return np.stack([np.frombuffer(frame, np.uint8).reshape(height, width, 3) for frame in reader])


def skip_without_gl(result: subprocess.CompletedProcess) -> None:
    if result.returncode != 0 and NO_GL in result.stderr:
        pytest.skip(f"no OpenGL backend for headless rendering here: {result.stderr.strip()[-300:]}")


# Poses env 1 of three through distinct cartpole states, records them, and renders the same states directly.
RECORD = """
import sys
from isaac_rl.utils.headless_gl import prefer_headless_gl
prefer_headless_gl()
import numpy as np, torch
from isaac_rl.sim import Simulation
from isaac_rl.sim.offscreen import OffscreenRenderer
from isaac_rl.tasks.cartpole import Cartpole

sim = Simulation("cartpole.xml", num_envs=3)
recorder = sim.video_recorder(sys.argv[1], every_steps=10, length=6, fps=30.0, env_index=1, width=160, height=120,
                              camera=Cartpole.video_camera)
poses = torch.stack([torch.linspace(-1.5, 1.5, 10), torch.linspace(-1.2, 1.2, 10)], dim=1)
for pose in poses:  # steps 0-5 are the first clip; 6-9 are not recorded
    qpos = torch.zeros(3, 2)
    qpos[0], qpos[1], qpos[2] = -pose, pose, 0.0
    recorder.update(qpos)
recorder.close()
renderer = OffscreenRenderer(sim.mj_model, 160, 120)
for key, value in Cartpole.video_camera.items():
    setattr(renderer.camera, key, value)
np.save(sys.argv[2], np.stack([renderer.render(pose.double().numpy()) for pose in poses[:6]]))
print([clip.path.name for clip in recorder.finished_clips()])
"""


def test_a_clip_holds_the_chosen_envs_states_in_order(tmp_path):
    reference = tmp_path / "reference.npy"
    result = subprocess.run([sys.executable, "-c", RECORD, str(tmp_path / "videos"), str(reference)], capture_output=True, text=True, timeout=120)
    skip_without_gl(result)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "['rl-video-step-0.mp4']" in result.stdout
    frames, expected = decode(tmp_path / "videos" / "rl-video-step-0.mp4").astype(float), np.load(reference).astype(float)
    assert frames.shape == (6, 120, 160, 3)
    # each decoded frame is closest to the state recorded at its step (H.264 is lossy: not equal)
    distance = np.abs(frames[:, None] - expected[None]).mean(axis=(2, 3, 4))
    assert (distance.argmin(axis=1) == np.arange(6)).all(), distance
    assert distance.diagonal().max() < 2.0, distance.diagonal()


@pytest.fixture(scope="module")
def trained_with_video(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("video")
    # 16 envs x 16 steps per epoch, 4 epochs: 64 steps, clips start at steps 0, 30 and 60 (the last cut short)
    result = run_train(
        "task=Cartpole", "num_envs=16", "max_iterations=4", "capture_video=True", "capture_video_freq=30", "capture_video_len=20", cwd=cwd
    )
    skip_without_gl(result)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return cwd, newest_run_dir(cwd / "runs" / "Cartpole"), result


def test_training_writes_playable_mp4_clips_into_the_run_and_tensorboard(trained_with_video):
    _, run_dir, result = trained_with_video
    videos = run_dir / "videos"
    for step in (0, 30):
        clip = decode(videos / f"train-step-{step}.mp4")
        assert clip.shape == (20, 480, 640, 3)
        assert clip.std() > 10  # a scene was drawn, not one flat colour
        assert f"videos/train-step-{step}.mp4 (20 frames)" in result.stdout
    assert decode(videos / "train-step-60.mp4").shape[0] == 4  # the run ended mid-clip: what was recorded is kept
    assert not list(videos.glob("*.part.mp4"))

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "summaries"), size_guidance={"images": 0})
    events.Reload()
    logged = events.Images("videos/train")
    # stepped by env frames, like the scalars: a clip starting at env step s of 16 envs sits at frame 16 s
    assert [image.step for image in logged] == [0, 480, 960]
    assert all(image.encoded_image_string.startswith(b"GIF") for image in logged)


def test_play_mode_records_the_played_policy_beside_the_checkpoint(trained_with_video):
    cwd, run_dir, _ = trained_with_video
    checkpoint = sorted((run_dir / "nn").glob("last_Cartpole_ep_4*.pth"))[0]
    result = run_train("task=Cartpole", "num_envs=4", "test=True", f"checkpoint={checkpoint}", "capture_video=True", "capture_video_len=10", cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    assert decode(run_dir / "videos" / "play-step-0.mp4").shape == (10, 480, 640, 3)


def test_video_of_a_gym_env_is_refused_clearly(tmp_path):
    result = run_train("task=GymEnv", "task.env.gym_id=Pendulum-v1", "capture_video=True", cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "capture_video=True records isaac_rl tasks; gymnasium envs (task=GymEnv) are not rendered" in result.stderr


def test_without_the_mp4_writer_the_error_says_what_to_install(monkeypatch):
    from isaac_rl.sim.video import require_video_writer

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(ValueError, match=r'pip install -e "\.\[video\]"'):
        require_video_writer()


# Ant on CUDA: the recorder's per-step copy must keep the captured step free of host syncs.
RECORD_ON_CUDA = """
import sys
from isaac_rl.utils.headless_gl import prefer_headless_gl
prefer_headless_gl()
from omegaconf import OmegaConf
from isaac_rl import tasks
from isaac_rl.utils.config import compose_config
from conftest import step_graph_without_host_sync

task_cfg = OmegaConf.to_container(compose_config(["task=Ant", "num_envs=64", "sim_device=cuda:0", "rl_device=cuda:0"]).task, resolve=True)
env = tasks.make("Ant", cfg=task_cfg, rl_device="cuda:0", sim_device="cuda:0", graphics_device_id=0, headless=True)
recorder = env.capture_video(sys.argv[1], every_steps=100, length=60)
step_graph_without_host_sync(env, 150)  # 3 steps before the capture, 150 replays: clips at steps 0 and 100
recorder.close()
"""


@pytest.mark.gpu
def test_recording_keeps_the_cuda_step_graph_free_of_host_syncs(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", RECORD_ON_CUDA, str(tmp_path)], capture_output=True, text=True, timeout=600, env=env)
    skip_without_gl(result)
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = decode(tmp_path / "rl-video-step-0.mp4"), decode(tmp_path / "rl-video-step-100.mp4")
    assert first.shape == (60, 480, 640, 3) and second.shape == (53, 480, 640, 3)
    # the ant moves under random actions: its frames change
    assert np.abs(first[-1].astype(float) - first[0]).mean() > 1.0
