"""Crash-safe runs: atomic checkpoints, the last K kept, and resume=True after a SIGKILL."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT, assert_training_time_goes_on, checkpoint_training_time, run_train

from isaac_rl.rlgames.checkpoint import atomic_torch_save, check_keep_checkpoints, load_checkpoint, newest_checkpoint, prune_checkpoints
from isaac_rl.utils.run_dirs import newest_run_dir, run_dirs

RUN = [
    "task=Cartpole", "num_envs=32",
    "train.params.config.save_frequency=5", "train.params.config.save_best_after=5", "keep_checkpoints=2",
]  # fmt: skip


def _epoch(path: Path) -> int:
    return int(load_checkpoint(path)["epoch"])


def test_a_killed_run_resumes_from_its_newest_checkpoint(tmp_path):
    experiment_dir = tmp_path / "runs" / "Cartpole"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "scripts" / "train.py"), *RUN, "resume=True", "max_iterations=100000"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 240
    while not list(experiment_dir.glob("*/nn/last_*_ep_1[0-9]_*.pth")) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)  # mid-run, most likely between or during checkpoint writes
    output = first.communicate()[0]
    assert "resume=True: no run of runs/Cartpole yet, starting a new run" in output, output[-2000:]

    run_dir = newest_run_dir(experiment_dir)
    nn_dir = run_dir / "nn"
    checkpoints = sorted(nn_dir.glob("*.pth"))
    periodic = [p for p in checkpoints if p.name.startswith("last_")]
    assert (nn_dir / "Cartpole.pth") in checkpoints, checkpoints  # the best is kept
    assert 1 <= len(periodic) <= 2, periodic  # keep_checkpoints=2
    epochs = {p: _epoch(p) for p in checkpoints}  # every file loads: none is partial
    stopped_at = _epoch(newest_checkpoint(nn_dir))
    assert stopped_at == max(epochs.values()) >= 10
    frame = int(load_checkpoint(newest_checkpoint(nn_dir))["frame"])
    trained_before = checkpoint_training_time(newest_checkpoint(nn_dir))  # before the resume rewrites the best

    resumed = run_train(*RUN, "resume=True", f"max_iterations={stopped_at + 4}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert f"resume: continuing {run_dir.relative_to(tmp_path)} from" in resumed.stdout
    assert run_dirs(experiment_dir) == [run_dir]  # continued in place
    printed = [(int(e), int(f)) for e, f in re.findall(r"^epoch (\d+)/\d+: .*, frames (\d+)", resumed.stdout, re.M)]
    # the epoch counter and the tensorboard step (frames) go on from the checkpoint, not from 0
    assert printed[0] == (stopped_at + 1, frame + 32 * 16), printed[:3]
    assert printed[-1][0] == stopped_at + 4
    final = list(nn_dir.glob(f"last_Cartpole_ep_{stopped_at + 4}_*.pth"))
    assert final
    assert not list(nn_dir.glob(".*.tmp"))
    assert_training_time_goes_on(trained_before, final[0], resumed.stdout)


def test_resume_and_checkpoint_together_are_refused(tmp_path):
    result = run_train("task=Cartpole", "resume=True", "checkpoint=x.pth", cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "give resume=True (the newest run of the experiment), resume=<run dir> or checkpoint=<file>.pth, not two of them" in result.stderr


def test_a_failed_save_leaves_the_previous_checkpoint_whole(tmp_path):
    path = tmp_path / "a.pth"
    atomic_torch_save({"epoch": 1}, path)
    with pytest.raises(Exception):
        atomic_torch_save({"epoch": 2, "unpicklable": lambda: None}, path)
    assert load_checkpoint(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.pth"]  # no temporary file left behind


def test_pruning_keeps_the_newest_periodic_checkpoints_and_the_best(tmp_path):
    for epoch in range(1, 6):
        atomic_torch_save({"epoch": epoch}, tmp_path / f"last_X_ep_{epoch}_rew_1.0.pth")
        os.utime(tmp_path / f"last_X_ep_{epoch}_rew_1.0.pth", ns=(epoch * 10**9, epoch * 10**9))
    atomic_torch_save({"epoch": 2}, tmp_path / "X.pth")
    os.utime(tmp_path / "X.pth", ns=(2 * 10**9, 2 * 10**9))
    prune_checkpoints(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.pth", "last_X_ep_4_rew_1.0.pth", "last_X_ep_5_rew_1.0.pth"]
    assert newest_checkpoint(tmp_path).name == "last_X_ep_5_rew_1.0.pth"
    assert newest_checkpoint(tmp_path / "missing") is None


@pytest.mark.parametrize("value", [-1, "3", 2.5, True])
def test_bad_keep_checkpoints_is_refused(value):
    with pytest.raises(ValueError, match="keep_checkpoints=.*expected a positive integer, or 0"):
        check_keep_checkpoints(value)
