"""wandb_activate=True mirrors the run's tensorboard scalars into a wandb run inside the run directory."""

import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT, run_train

from isaac_rl.utils.run_dirs import newest_run_dir

pytest.importorskip("wandb")


def test_an_offline_wandb_run_holds_the_tensorboard_scalars_and_resume_continues_it(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    overrides = ["task=Cartpole", "num_envs=16", "wandb_activate=True", "wandb_group=tests", "wandb_tags=[ci]"]
    first = run_train(*overrides, "max_iterations=2", cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    run_dir = newest_run_dir(tmp_path / "runs" / "Cartpole")
    records = list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(records) == 1
    data = records[0].read_bytes()
    for scalar in (b"rewards/step", b"losses/a_loss", b"info/lr", b"episode_lengths/step"):
        assert scalar in data, scalar

    resumed = run_train(*overrides, "max_iterations=3", "resume=True", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    runs = list((run_dir / "wandb").glob("offline-run-*"))
    # offline-run-<time>-<id>: two sessions of one wandb run, whose id comes from the run directory
    assert len(runs) == 2 and {path.name.split("-", 3)[3] for path in runs} == {f"Cartpole-{run_dir.name}"}

def test_without_wandb_installed_the_run_stops_at_once_saying_how_to_get_it(tmp_path):
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "wandb.py").write_text("raise ImportError('No module named wandb')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "train.py"), "task=Cartpole", "wandb_activate=True"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert 'wandb_activate=True needs the wandb package' in result.stderr and 'pip install -e ".[wandb]"' in result.stderr
    assert not (tmp_path / "runs").exists()
