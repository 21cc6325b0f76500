"""scripts/benchmark.py as a user runs it: one JSON report of physics, task and PPO speed."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

RATES = ("physics_steps_per_s", "task_steps_per_s", "task_over_physics", "ppo_step_fps", "ppo_total_fps")


def run_benchmark(*args: str, cwd, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "benchmark.py"), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def load_benchmark_script():
    spec = importlib.util.spec_from_file_location("benchmark_script", REPO_ROOT / "scripts" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


benchmark = load_benchmark_script()


def test_json_report_has_positive_rates(tmp_path):
    result = run_benchmark("task=Ant", "num_envs=4", "steps=10", "warmup=2", "epochs=2", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)  # stdout holds the JSON and nothing else
    assert report["task"] == "Ant" and report["num_envs"] == 4 and report["sim_device"] == "cpu"
    assert report["backend"] == "mujoco" and report["steps"] == 10 and report["epochs"] == 2
    for key in RATES:
        assert isinstance(report[key], float) and report[key] > 0, (key, report)
    # one PPO epoch collects horizon_length (16) steps of every env
    assert report["ppo_frames_per_epoch"] == 16 * 4
    assert not (tmp_path / "runs").exists(), "the benchmark's training run must not leave a run directory behind"


def test_human_report_names_each_measurement_and_prints_nothing_else(capsys):
    assert benchmark.main(["task=Cartpole", "num_envs=2", "steps=5", "warmup=1", "epochs=1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    figures = ("Cartpole: 2 envs on cpu", "a. physics alone", "b. VecTask.step", "c. b / a", "d. PPO over 1 epochs of 32 frames", "   the same with rl_games' own agent")
    # its own figures, one line each, and none of the training's epoch lines or rl_games' output
    assert len(lines) == len(figures) and all(line.startswith(figure) for line, figure in zip(lines, figures)), lines
    assert benchmark.main(["task=Cartpole", "num_envs=2", "steps=5", "warmup=1", "epochs=1", "verbose=True"]) == 0
    out = capsys.readouterr().out
    assert "epoch 1/2: " in out and "fps step: " in out and "Started to train" in out  # behind verbose=True
    assert benchmark.main(["task=Cartpole", "num_envs=2", "steps=5", "warmup=1", "epochs=0"]) == 0
    assert "d. PPO" not in capsys.readouterr().out  # epochs=0 skips training


def test_split_divides_an_epoch_into_collection_and_update(capsys):
    assert benchmark.main(["task=Cartpole", "num_envs=2", "steps=5", "warmup=1", "epochs=2", "split=1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    collection, update = report["ppo_collection_ms"], report["ppo_update_ms"]
    assert collection > 0 and update > 0
    # each part is timed on its own clock readings; both lie inside the timed epoch, one after the other
    epoch_ms = 1e3 * report["ppo_frames_per_epoch"] / report["ppo_total_fps"]
    assert collection + update <= epoch_ms * (1 + 1e-9)
    # the collection holds every env step that rl_games' own step timer counted
    env_step_ms = 1e3 * report["ppo_frames_per_epoch"] / report["ppo_step_fps"]
    assert collection >= env_step_ms


@pytest.mark.parametrize(
    "args,message",
    [
        (["steps=0"], "steps='0': expected an integer >= 1"),
        (["epochs=-1"], "epochs='-1': expected an integer >= 0"),
        (["--fast"], "unknown option '--fast'"),
        (["task=Antt"], "task=Antt: no such task (did you mean Ant?)"),
        (["task=Ant", "num_envs=0"], "num_envs=0"),
    ],
)
def test_bad_arguments_fail_with_a_clear_message(args, message, capsys):
    assert benchmark.main(args) == 2
    assert message in capsys.readouterr().err


def test_physics_controls_span_each_limited_actuators_whole_range():
    # (a)'s controls must reach where task actions reach: ShadowHand's joint targets go to 1.57 rad
    import mujoco
    import torch

    from isaac_rl.sim import Simulation

    spec = mujoco.MjSpec()
    arm = spec.worldbody.add_body(name="arm")
    arm.add_geom(type=mujoco.mjtGeom.mjGEOM_CAPSULE, size=[0.05, 0.2, 0], mass=1.0)
    arm.add_joint(name="bend", type=mujoco.mjtJoint.mjJNT_HINGE, axis=[0, 1, 0])
    arm.add_joint(name="twist", type=mujoco.mjtJoint.mjJNT_HINGE, axis=[0, 0, 1])
    target = spec.add_actuator(name="bend_target", target="bend", trntype=mujoco.mjtTrn.mjTRN_JOINT, ctrlrange=[-0.2, 1.571])
    target.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
    spec.add_actuator(name="twist_motor", target="twist", trntype=mujoco.mjtTrn.mjTRN_JOINT)  # unlimited
    low, high = benchmark.control_bounds(Simulation(spec, num_envs=1))
    torch.testing.assert_close(low, torch.tensor([-0.2, -1.0]))
    torch.testing.assert_close(high, torch.tensor([1.571, 1.0]))
