"""scripts/evaluate_terrain.py: per terrain kind and row, whether a policy crosses half a tile, stalls or falls."""

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "evaluate_terrain.py"


class Stand(torch.nn.Module):
    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.zeros(obs.shape[0], 12)  # the PD targets stay at the default pose


def run(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_a_standing_policy_neither_crosses_nor_falls(tmp_path):
    torch.jit.script(Stand()).save(str(tmp_path / "stand.pt"))
    result = run("--policy", str(tmp_path / "stand.pt"), "--kinds", "smooth_slope,stairs_up", "--rows", "0", "--envs-per-tile", "2", "--seconds", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert set(report) == {"smooth_slope:0", "stairs_up:0"}
    for tile in report.values():
        assert tile["crossed"] == 0.0 and tile["fell"] == 0.0 and tile["mean_distance_m"] < 0.5, report
    # standing still while told to walk 1 m/s for 4 s: the curriculum would send it a row down
    result = run("--policy", str(tmp_path / "stand.pt"), "--kinds", "smooth_slope", "--rows", "0", "--envs-per-tile", "2", "--seconds", "4", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1])["smooth_slope:0"]["demoted"] == 1.0


def test_training_commands_and_pushes_are_judged_the_same_way(tmp_path):
    torch.jit.script(Stand()).save(str(tmp_path / "stand.pt"))
    args = ("--kinds", "rough_slope", "--rows", "1", "--envs-per-tile", "3", "--seconds", "1", "--commands", "train", "--pushes")
    result = run("--policy", str(tmp_path / "stand.pt"), *args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "training's commands, pushes" in result.stdout
    assert set(json.loads(result.stdout.splitlines()[-1])["rough_slope:1"]) == {"crossed", "fell", "demoted", "mean_distance_m"}


def test_mujoco_warp_evaluates_on_the_cpu_too(tmp_path):
    pytest.importorskip("mujoco_warp")
    torch.jit.script(Stand()).save(str(tmp_path / "stand.pt"))
    args = ("--kinds", "stairs_up", "--rows", "1", "--envs-per-tile", "2", "--seconds", "1", "--backend", "warp")
    result = run("--policy", str(tmp_path / "stand.pt"), *args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert ", cpu, warp)" in result.stdout
    tile = json.loads(result.stdout.splitlines()[-1])["stairs_up:1"]
    assert tile["crossed"] == 0.0 and tile["fell"] == 0.0 and tile["mean_distance_m"] < 0.5, tile


def test_bad_options_say_what_is_accepted(tmp_path):
    result = run("--policy", "none.pt", cwd=tmp_path)
    assert result.returncode == 2 and "--policy 'none.pt': no such file" in result.stderr
    result = run("--policy", str(SCRIPT), "--kinds", "lava", cwd=tmp_path)
    assert result.returncode == 2 and "--kinds from smooth_slope" in result.stderr, result.stderr[-2000:]
