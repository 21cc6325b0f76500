"""scripts/export_policy.py: ONNX and TorchScript files that act exactly like the rl_games player."""

import subprocess
import sys

import pytest
import torch
from conftest import REPO_ROOT, run_train

from isaac_rl.rlgames.export import actor_of, load_player
from isaac_rl.utils.config import compose_config
from isaac_rl.utils.run_dirs import newest_run_dir

onnxruntime = pytest.importorskip("onnxruntime")
SCRIPT = REPO_ROOT / "scripts" / "export_policy.py"
TINY_AMP = [
    "train.params.config.amp_obs_demo_buffer_size=256", "train.params.config.amp_replay_buffer_size=128",
    "train.params.config.amp_batch_size=32", "train.params.config.amp_minibatch_size=16",
    "train.params.network.mlp.units=[32,32]", "train.params.network.disc.units=[32,32]",
]  # fmt: skip


UNCLIPPED = ["num_envs=16", "max_iterations=2", "+train.params.config.clip_actions=False"]  # BipedTerrain's setting


@pytest.fixture(
    scope="module",
    params=[("Cartpole", ["num_envs=16", "max_iterations=2"]), ("Cartpole", UNCLIPPED), ("HumanoidAMP", ["num_envs=4", "max_iterations=1", *TINY_AMP])],
    ids=["Cartpole", "Cartpole-unclipped", "HumanoidAMP"],
)
def exported(request, tmp_path_factory):
    task, overrides = request.param
    cwd = tmp_path_factory.mktemp(task)
    trained = run_train(f"task={task}", *overrides, cwd=cwd)
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-2000:]
    checkpoint = sorted((newest_run_dir(cwd / "runs" / task) / "nn").glob("*.pth"))[-1]
    net = [o for o in overrides if o.lstrip("+").startswith("train.params")]  # what the player must be built with
    result = subprocess.run(
        [sys.executable, str(SCRIPT), f"task={task}", f"checkpoint={checkpoint}", *net], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return task, net, checkpoint, result.stdout


def test_the_last_line_is_the_onnx_file_beside_the_checkpoint(exported):
    _, _, checkpoint, stdout = exported
    lines = stdout.strip().splitlines()
    assert lines[-1] == str(checkpoint.parent / "policy.onnx")
    assert (checkpoint.parent / "policy.pt").is_file()
    assert "max |action - torch action| over 256 observations: ONNX (onnxruntime)" in stdout


def test_the_exported_files_act_like_the_players_deterministic_policy(exported):
    task_name, net, checkpoint, _ = exported
    cfg = compose_config([f"task={task_name}", "num_envs=8", "sim_device=cpu", "rl_device=cpu", "test=True", f"checkpoint={checkpoint}", *net])
    task, player = load_player(cfg)
    observations = task.reset()["obs"]
    for _ in range(3):  # real observations, a few steps into an episode
        observations = task.step(player.get_action(observations, is_deterministic=True))[0]["obs"]
    expected = player.get_action(observations, is_deterministic=True)
    session = onnxruntime.InferenceSession(str(checkpoint.parent / "policy.onnx"), providers=["CPUExecutionProvider"])
    from_onnx = torch.from_numpy(session.run(["actions"], {"obs": observations.numpy()})[0])
    from_script = torch.jit.load(str(checkpoint.parent / "policy.pt"))(observations)
    assert torch.allclose(from_onnx, expected, atol=1e-5), (from_onnx - expected).abs().max()
    assert torch.allclose(from_script, expected, atol=1e-6)
    actor = actor_of(player)
    assert actor(observations).shape == (8, task.num_actions) and actor.clip_actions == player.clip_actions


def test_a_missing_checkpoint_exits_2(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "task=Cartpole", "checkpoint=none.pth"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "error: checkpoint 'none.pth' does not exist" in result.stderr
