"""The fast PPO agent (isaac_rl/rlgames/fast_ppo.py): rl_games' algorithm, its bookkeeping on the device."""

import importlib.util
import re

import numpy as np
import pytest
import torch
from conftest import run_train
from rl_games.algos_torch.torch_ext import AverageMeter
from rl_games.common.schedulers import AdaptiveScheduler

from isaac_rl.rlgames.checkpoint import load_checkpoint
from isaac_rl.rlgames.fast_ppo import DeviceAverageMeter
from isaac_rl.utils.run_dirs import newest_run_dir

STOCK = "train.params.algo.name=a2c_continuous_stock"


def test_device_average_meter_keeps_rl_games_running_mean():
    generator = torch.Generator().manual_seed(0)
    stock, fast = AverageMeter(1, 100), DeviceAverageMeter((1,), 100, torch.device("cpu"))
    stock_len, fast_len = AverageMeter(1, 100), DeviceAverageMeter((), 100, torch.device("cpu"))
    for step in range(60):
        rewards = torch.randn(64, 1, generator=generator)
        lengths = torch.randint(1, 500, (64,), generator=generator).float()
        # no episode ends, a few, or more than the window (64 > 100 - current size)
        done = torch.rand(64, generator=generator) < (0.0 if step % 7 == 0 else 0.9 if step % 11 == 0 else 0.1)
        indices = done.nonzero(as_tuple=False)  # what rl_games indexes with: (k, 1)
        stock.update(rewards[indices])
        stock_len.update(lengths[indices])
        fast.update_masked(rewards, done)
        fast_len.update_masked(lengths, done)
        assert fast.current_size == stock.current_size
        if stock.current_size:
            np.testing.assert_allclose(fast.get_mean(), stock.get_mean(), rtol=1e-5)
            np.testing.assert_allclose(fast_len.get_mean(), stock_len.get_mean(), rtol=1e-5)
            assert fast.get_mean().shape == stock.get_mean().shape and fast_len.get_mean().shape == stock_len.get_mean().shape


def test_the_learning_rate_moves_with_the_kl_as_rl_games_moves_it():
    from isaac_rl.rlgames.fast_ppo import FastA2CAgent

    class Agent:  # the two attributes _adapt_lr reads
        scheduler = AdaptiveScheduler(kl_threshold=0.008)
        lr = torch.tensor(3e-4)

    agent, lr = Agent(), 3e-4
    for kl in [0.001, 0.02, 0.008, 0.0039, 0.0161, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]:
        lr, _ = agent.scheduler.update(lr, 0.0, 0, 0, kl)
        FastA2CAgent._adapt_lr(agent, torch.tensor(kl))
        assert float(agent.lr) == pytest.approx(lr, rel=1e-6)
    assert lr == agent.scheduler.max_lr


def test_the_normalisers_are_found_also_as_torchscript_modules():
    # rl_games' models hold torch.jit.script(RunningMeanStd(...)), no longer an instance of the class: the fast agent
    # must still find them, or its recorded graphs keep reading statistics the normaliser no longer updates
    from rl_games.algos_torch.running_mean_std import RunningMeanStd

    from isaac_rl.rlgames.fast_ppo import is_running_mean_std

    assert is_running_mean_std(torch.jit.script(RunningMeanStd((3,)))) and is_running_mean_std(RunningMeanStd((3,)))
    assert not is_running_mean_std(torch.nn.Linear(3, 3))


def final_weights(cwd, epoch=2):
    (task_runs,) = (cwd / "runs").iterdir()
    # last_<name>_ep_<epoch>_rew_<reward>.pth, or without the reward where no episode ended yet
    (checkpoint,) = [path for path in (newest_run_dir(task_runs) / "nn").glob(f"last_*_ep_{epoch}*.pth") if path.stem.split("_ep_")[1].split("_")[0] == str(epoch)]
    return load_checkpoint(checkpoint)


def test_two_epochs_give_the_same_policy_as_rl_games_agent(tmp_path):
    runs = {}
    for name, extra in (("fast", []), ("stock", [STOCK])):
        cwd = tmp_path / name
        cwd.mkdir()
        result = run_train("task=Cartpole", "num_envs=64", "max_iterations=2", "seed=3", *extra, cwd=cwd)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        runs[name] = final_weights(cwd)
    fast, stock = runs["fast"], runs["stock"]
    for key, value in stock["model"].items():
        torch.testing.assert_close(fast["model"][key], value, atol=1e-4, rtol=1e-4, msg=key)
    fast_lr, stock_lr = fast["optimizer"]["param_groups"][0]["lr"], stock["optimizer"]["param_groups"][0]["lr"]
    assert isinstance(fast_lr, float) and fast_lr == pytest.approx(stock_lr)  # a float: either agent resumes either's files


@pytest.mark.skipif(importlib.util.find_spec("gymnasium_robotics") is None, reason='needs pip install -e ".[hands]"')
def test_a_central_value_learns_as_in_rl_games_agent(tmp_path):
    """ShadowHandOpenAI_FF: the actor on 42 observations, rl_games' CentralValueTrain on the 211 states."""
    runs = {}
    for name, extra in (("fast", []), ("stock", [STOCK])):
        cwd = tmp_path / name
        cwd.mkdir()
        result = run_train(
            "task=ShadowHandOpenAI_FF", "num_envs=4", "max_iterations=2", "seed=3", "train.params.config.minibatch_size=8", *extra, cwd=cwd
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        runs[name] = final_weights(cwd)
    fast, stock = runs["fast"], runs["stock"]
    assert stock["assymetric_vf_nets"]["model.running_mean_std.running_mean"].shape == (211,)
    for part in ("model", "assymetric_vf_nets"):  # the normalisers' statistics included
        for key, value in stock[part].items():
            torch.testing.assert_close(fast[part][key], value, atol=1e-4, rtol=1e-4, msg=f"{part} {key}")
    for optimizer in ("optimizer", "assymetric_vf_optimizer"):
        fast_lr, stock_lr = (run[optimizer]["param_groups"][0]["lr"] for run in (fast, stock))
        assert isinstance(fast_lr, float) and fast_lr == pytest.approx(stock_lr)


@pytest.mark.parametrize("agent", ["fast", "stock"])
def test_both_agents_train_cartpole_to_450(agent, tmp_path):
    result = run_train("task=Cartpole", "num_envs=256", "max_iterations=100", *([STOCK] if agent == "stock" else []), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rewards = [float(r) for r in re.findall(r"mean episode reward (-?[\d.]+)", result.stdout)]
    assert max(rewards) >= 450, rewards[::10]


def test_a_run_of_one_agent_resumes_with_the_other(tmp_path):
    first = run_train("task=Cartpole", "num_envs=64", "max_iterations=2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = run_train("task=Cartpole", "num_envs=64", "max_iterations=4", "resume=True", STOCK, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    again = run_train("task=Cartpole", "num_envs=64", "max_iterations=6", "resume=True", cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "epoch 6/6" in again.stdout


MIXED_PRECISION = "train.params.config.mixed_precision=True"


@pytest.mark.gpu
@pytest.mark.parametrize(
    "graphs", [[], ["train.params.config.torch_compile=True"], [MIXED_PRECISION]], ids=["graphs", "graphs_compiled", "graphs_bf16"]
)
def test_the_cuda_graphs_train_as_the_eager_agent(graphs, tmp_path):
    # 6 epochs: the rollout's graphs are recorded in the first; the update runs eagerly in epochs 1-3, is recorded in
    # 4 and replayed in 5 and 6. torch_compile and mixed_precision (rl_games' bf16 autocast and GradScaler) are on in
    # both runs: fused kernels round differently from eager ones, so only the graphs differ. Cartpole only:
    # HumanoidAMP's falls and contacts amplify rounding (graphed and eager runs already differ by ~1e-2 after 3 epochs
    # in which only the rollout is recorded), so AMP's recorded update is checked by the sync test below and by
    # training (docs/benchmarks.md).
    runs, tolerance = {}, 1e-4 if not graphs else 1e-3
    eager = [*graphs, "+train.params.config.cuda_graphs=False"]
    for name, extra in (("graphs", graphs), ("eager", eager)):
        cwd = tmp_path / name
        cwd.mkdir()
        result = run_train("task=Cartpole", "num_envs=256", "max_iterations=6", "seed=3", "sim_device=cuda:0", "rl_device=cuda:0", *extra, cwd=cwd)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        runs[name] = final_weights(cwd, epoch=6)
    for key, value in runs["eager"]["model"].items():  # the normalisers' statistics included
        torch.testing.assert_close(runs["graphs"]["model"][key], value, atol=tolerance, rtol=tolerance)
    assert runs["graphs"]["optimizer"]["param_groups"][0]["lr"] == pytest.approx(runs["eager"]["optimizer"]["param_groups"][0]["lr"])


AMP_RUN = [  # HumanoidAMP, small networks and buffers: the discriminator, its buffers and statistics in the graph
    "task=HumanoidAMP", "train.params.network.mlp.units=[64,64]", "train.params.network.disc.units=[64,64]",
    "train.params.config.amp_obs_demo_buffer_size=4096", "train.params.config.amp_replay_buffer_size=8192",
    "train.params.config.amp_batch_size=256", "train.params.config.amp_minibatch_size=512",
]  # fmt: skip


CENTRAL_VALUE_RUN = [  # ShadowHandOpenAI_FF, small networks: the central value's rollout and update in the graphs
    "task=ShadowHandOpenAI_FF", "train.params.network.mlp.units=[64,64]",
    "train.params.config.central_value_config.network.mlp.units=[64,64]",
]  # fmt: skip


@pytest.mark.gpu
@pytest.mark.parametrize(
    "task",
    [
        ["task=Ant"], AMP_RUN, [*AMP_RUN, MIXED_PRECISION], [*AMP_RUN, "train.params.config.torch_compile=True"],
        CENTRAL_VALUE_RUN, [*CENTRAL_VALUE_RUN, "+train.params.config.cuda_graphs=False"],
    ],
    ids=["ant", "amp", "amp_bf16", "amp_compiled", "central_value", "central_value_eager"],  # compiled: the discriminator's double backward stays eager
)
def test_a_cuda_epoch_runs_without_host_syncs(task, tmp_path):
    import os
    import subprocess
    import sys

    from conftest import REPO_ROOT

    env = {**os.environ, "ISAAC_RL_CHECK_SYNCS": "1", "ISAAC_RL_TRACEBACK": "1"}
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "train.py"), *task, "num_envs=1024", "max_iterations=6", "headless=True"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "epoch 6/6" in result.stdout
