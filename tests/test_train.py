"""scripts/train.py as a user runs it: training improves the policy, play uses the checkpoint, bad input fails clearly."""

import json
import re
import subprocess
import sys

import pytest
import torch
from conftest import REPO_ROOT, run_train

from isaac_rl.rlgames.checkpoint import load_checkpoint
from isaac_rl.utils.run_dirs import newest_run_dir

SMALL = ["num_envs=128"]


def _epoch_rewards(stdout: str) -> list[float]:
    return [float(r) for r in re.findall(r"mean episode reward (-?[\d.]+)", stdout)]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("train")
    result = run_train("task=Cartpole", *SMALL, "max_iterations=40", "train.params.config.save_best_after=5", cwd=cwd)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return cwd, result


def test_training_raises_the_reward_and_writes_the_run(trained_run):
    cwd, result = trained_run
    rewards = _epoch_rewards(result.stdout)
    assert len(rewards) >= 30
    assert max(rewards[-5:]) > 3 * rewards[0] and max(rewards[-5:]) > 60, rewards
    run_dir = newest_run_dir(cwd / "runs" / "Cartpole")
    assert (run_dir / "nn" / "Cartpole.pth").is_file()
    assert any((run_dir / "summaries").iterdir())
    assert "task_name: Cartpole" in (run_dir / "config.yaml").read_text()


PLAYED = re.compile(r"^isaac_rl: played (\d+) episodes, mean episode reward (-?[\d.]+), mean episode length ([\d.]+); checkpoint (\S+) \(epoch (\d+)")


def test_play_uses_the_checkpoint_and_reports_reward_and_length(trained_run):
    cwd, training = trained_run
    run_dir = newest_run_dir(cwd / "runs" / "Cartpole")
    checkpoint = run_dir / "nn" / "Cartpole.pth"
    result = run_train("task=Cartpole", "num_envs=16", "test=True", f"checkpoint={checkpoint}", cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    # the last line sums the run up: episodes, their mean reward and length, the checkpoint and its run, the wall time
    summary = result.stdout.strip().splitlines()[-1]
    match = PLAYED.match(summary)
    assert match and re.search(rf", run {re.escape(str(run_dir))}, [\d.]+s$", summary), result.stdout[-2000:]
    assert int(match.group(1)) >= 16 and match.group(4) == str(checkpoint)
    assert int(match.group(5)) == load_checkpoint(checkpoint)["epoch"]
    # the saved best policy plays about as well as training reported
    assert float(match.group(2)) > 0.5 * max(_epoch_rewards(training.stdout))
    # rl_games' own lines (its unlabelled sum of rewards, 'av reward: ...') are not shown
    assert "av reward" not in result.stdout and not re.search(r"^-?[\d.]+$", result.stdout, re.M), result.stdout[-2000:]


def test_play_without_a_checkpoint_takes_the_newest_runs_best_and_says_which(trained_run):
    cwd, _ = trained_run
    run_dir = newest_run_dir(cwd / "runs" / "Cartpole")
    best = run_dir / "nn" / "Cartpole.pth"
    for form in ([], ["checkpoint=runs/Cartpole"], [f"checkpoint={run_dir}"], [f"checkpoint={run_dir}/nn"]):
        result = run_train("task=Cartpole", "num_envs=4", "test=True", *form, cwd=cwd)
        assert result.returncode == 0, (form, result.stderr[-2000:])
        said = re.search(r"^checkpoint: (\S+) \(the best of run (\S+)\)$", result.stdout, re.M)
        assert said and (cwd / said.group(1)).resolve() == best.resolve(), (form, result.stdout[-2000:])
        assert (cwd / said.group(2)).resolve() == run_dir.resolve()
        assert PLAYED.match(result.stdout.strip().splitlines()[-1]).group(4) == said.group(1)


def test_evaluate_and_export_take_the_same_checkpoint_forms(trained_run):
    cwd, _ = trained_run
    run_dir = newest_run_dir(cwd / "runs" / "Cartpole")
    played = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "evaluate.py"), "task=Cartpole", "checkpoint=runs/Cartpole", "num_envs=4"],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert played.returncode == 0, played.stderr[-2000:]
    assert json.loads(played.stdout.strip().splitlines()[-1])["checkpoint"] == str((run_dir / "nn" / "Cartpole.pth").relative_to(cwd))
    refused = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "export_policy.py"), "task=Cartpole", f"checkpoint={cwd}"],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # the working directory holds runs/, not runs of its own: what a directory must be is said in one line
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "is a directory with no run holding a checkpoint (nn/*.pth); expected a .pth file" in refused.stderr


def test_a_checkpoint_for_another_task_is_refused(trained_run, tmp_path):
    cwd, _ = trained_run
    state = load_checkpoint(newest_run_dir(cwd / "runs" / "Cartpole") / "nn" / "Cartpole.pth")
    state["model"]["running_mean_std.running_mean"] = torch.zeros(60)
    state["model"]["a2c_network.mu.weight"] = torch.zeros(8, 32)
    foreign = tmp_path / "Ant.pth"
    torch.save(state, foreign)
    result = run_train("task=Cartpole", "num_envs=4", "test=True", f"checkpoint={foreign}", cwd=cwd)
    assert result.returncode == 2
    assert "does not fit this task: it was trained with 60 observations and 8 actions" in result.stderr




@pytest.mark.parametrize("task,num_envs,horizon", [("Ant", 16, 16), ("HumanoidAMP", 8, 16), ("Anymal", 16, 24)])
def test_a_big_task_trains_with_a_handful_of_envs_without_batch_settings(task, num_envs, horizon, tmp_path):
    result = run_train(f"task={task}", f"num_envs={num_envs}", "max_iterations=1", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert re.search(rf"^epoch 1/1: .*frames {horizon * num_envs}\b", result.stdout, re.M), result.stdout[-2000:]
    assert list(newest_run_dir(tmp_path / "runs" / task).glob(f"nn/last_{task}_ep_1*.pth"))


def test_anymal_terrain_trains_two_epochs_on_cpu_and_logs_its_terrain_level(tmp_path):
    result = run_train("task=AnymalTerrain", "num_envs=16", "max_iterations=2", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert re.search(r"^epoch 2/2: .*terrain_level 0\b", result.stdout, re.M), result.stdout[-2000:]
    assert list(newest_run_dir(tmp_path / "runs" / "AnymalTerrain").glob("nn/last_AnymalTerrain_ep_2*.pth"))


@pytest.mark.parametrize("task", ["BallBalance", "Quadcopter", "FrankaCabinet"])
def test_a_scene_task_trains_and_its_policy_plays_whole_episodes_to_a_success_rate(task, tmp_path):
    result = run_train(f"task={task}", "num_envs=16", "max_iterations=2", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert re.search(r"^epoch 2/2: ", result.stdout, re.M), result.stdout[-2000:]
    checkpoint = next(newest_run_dir(tmp_path / "runs" / task).glob(f"nn/last_{task}_ep_2*.pth"))
    played = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "evaluate.py"), f"task={task}", f"checkpoint={checkpoint}", "num_envs=4"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert played.returncode == 0, played.stdout[-2000:] + played.stderr[-2000:]
    summary = json.loads(played.stdout.strip().splitlines()[-1])
    # every env played one whole episode; an untrained policy rarely succeeds, but the rate is measured
    assert summary["episodes"] == 4 and 0.0 <= summary["success_rate"] <= 1.0
    assert re.search(rf"^{task}: 4 episodes on 4 envs .*success rate \d+\.\d%", played.stdout, re.M)
