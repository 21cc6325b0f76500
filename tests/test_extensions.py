"""Extending without forking: a user's task and cfg dirs, extension modules, and plain gymnasium envs."""

import csv
import os
import re

import pytest
from conftest import REPO_ROOT, run_train

from isaac_rl import tasks
from isaac_rl.rlgames.extensions import load_extensions
from isaac_rl.rlgames.gym_env import make_gym_creator

CUSTOM_TASK = REPO_ROOT / "examples" / "custom_task"


def _epoch_rewards(stdout: str) -> list[float]:
    return [float(r) for r in re.findall(r"mean episode reward (-?[\d.]+)", stdout)]


def test_a_user_task_trains_from_its_own_cfg_dir_with_an_extension_observer(tmp_path, monkeypatch):
    # the user's code is importable from PYTHONPATH; their yaml is found through hydra's search path
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(CUSTOM_TASK), os.environ.get("PYTHONPATH", "")]))
    result = run_train(
        "task=PushBox", f"hydra.searchpath=[file://{CUSTOM_TASK / 'cfg'}]", "extensions=[reward_log]",
        "max_iterations=25", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rewards = _epoch_rewards(result.stdout)
    assert rewards[-1] > rewards[0] + 20, rewards  # PushBox (examples/custom_task) learns
    with (tmp_path / "runs" / "PushBox" / "reward_log.csv").open() as file:
        rows = list(csv.DictReader(file))
    # the extension's observer saw the same epochs as isaac_rl's own
    assert [round(float(r["mean_reward"]), 2) for r in rows] == pytest.approx(rewards, abs=0.011)
    assert "class_path: push_box:PushBox" in (tmp_path / "runs" / "PushBox" / "config.yaml").read_text()


def test_a_discrete_gymnasium_env_learns(tmp_path):
    result = run_train(
        "task=GymEnv", "task.env.gym_id=CartPole-v1", "train=GymEnvDiscretePPO", "max_iterations=30", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rewards = _epoch_rewards(result.stdout)
    assert max(rewards[-5:]) > 3 * rewards[0] and max(rewards[-5:]) > 60, rewards
    assert (tmp_path / "runs" / "CartPole-v1" / "nn" / "CartPole-v1.pth").is_file()


def test_a_continuous_gymnasium_env_trains_and_plays(tmp_path):
    train = run_train("task=GymEnv", "task.env.gym_id=Pendulum-v1", "max_iterations=3", "num_envs=8", cwd=tmp_path)
    assert train.returncode == 0, train.stdout[-2000:] + train.stderr[-2000:]
    checkpoint = next((tmp_path / "runs" / "Pendulum-v1" / "nn").glob("last_*.pth"))
    play = run_train("task=GymEnv", "num_envs=4", "test=True", f"checkpoint={checkpoint}", cwd=tmp_path)
    assert play.returncode == 0, play.stdout[-2000:] + play.stderr[-2000:]
    match = re.search(r"av reward: (-?[\d.]+) av steps: ([\d.]+)", play.stdout)
    assert match and float(match.group(2)) == 200  # Pendulum-v1 episodes are 200 steps
    assert -2000 < float(match.group(1)) < 0


def test_a_gymnasium_task_with_a_vectask_train_config_is_refused(tmp_path):
    result = run_train("task=GymEnv", "train=CartpolePPO", cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "is a gymnasium env (task.env.gym_id) but its train config has env_name: rlgpu" in result.stderr


def test_an_unknown_gymnasium_id_is_refused():
    with pytest.raises(ValueError, match=r"task.env.gym_id='Pendulm-v1' with make_kwargs=\{\} could not be made: .*Expected a registered gymnasium id"):
        make_gym_creator("Pendulm-v1")


def test_a_task_class_path_that_does_not_import_is_refused():
    tasks.register("Missing", "no_such_module.tasks:Missing")
    try:
        with pytest.raises(ValueError, match=r"task 'Missing': cannot load 'no_such_module.tasks:Missing'.*PYTHONPATH"):
            tasks.resolve("Missing")
    finally:
        del tasks.TASK_MAP["Missing"]


@pytest.mark.parametrize(
    "modules,message",
    [("reward_log", "expected a list of importable module names"), (["no_such_extension"], "'no_such_extension' could not be imported")],
)
def test_bad_extensions_are_refused(modules, message):
    with pytest.raises(ValueError, match=message):
        load_extensions(modules)


def test_multi_gpu_outside_torchrun_or_without_cuda_is_refused(monkeypatch):
    from isaac_rl.rlgames import distributed

    assert distributed.current_rank(False) == distributed.SINGLE
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match=r"under torchrun \(missing RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT\): torchrun --nproc_per_node"):
        distributed.current_rank(True)
    if not distributed.torch.cuda.is_available():
        for name, value in {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "localhost", "MASTER_PORT": "29500"}.items():
            monkeypatch.setenv(name, value)
        with pytest.raises(ValueError, match="multi_gpu=True needs CUDA GPUs"):
            distributed.current_rank(True)


def test_a_rank_closes_its_process_group_on_exit(tmp_path):
    import torch.distributed as dist

    from isaac_rl.rlgames import distributed

    distributed.shutdown()  # no group yet: nothing to do
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    assert dist.is_initialized()
    distributed.shutdown()
    assert not dist.is_initialized()
