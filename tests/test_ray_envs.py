"""`task=GymEnv task.env.rayWorkers=N`: gymnasium envs stepped in Ray worker processes, as in this process."""

import re

import pytest
import torch
from conftest import run_train

from isaac_rl.rlgames import gym_env

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def rollout(gym_id: str, workers: int, num_envs: int = 5, steps: int = 40) -> list[torch.Tensor]:
    gym_env.register_gym(gym_env.make_gym_creator(gym_id), "cpu", seed=3, ray_workers=workers)
    envs = gym_env.GymVecEnv(gym_env.ENV_NAME, num_envs, seed=3, ray_workers=workers)
    generator = torch.Generator().manual_seed(0)
    try:
        out = [envs.reset()]
        for _ in range(steps):
            actions = torch.randint(0, 2, (num_envs,), generator=generator)
            observations, rewards, dones, extras = envs.step(actions)
            out += [observations, rewards, dones.float(), extras["time_outs"].float()]
        return out
    finally:
        envs.close()


def test_ray_workers_step_the_same_envs_as_this_process():
    # 5 CartPole envs split 3 + 2 over two workers: same seeds, same actions, same results, episode ends included
    in_process, in_ray = rollout("CartPole-v1", 0), rollout("CartPole-v1", 2)
    assert sum(float(t.sum()) for t in in_process[3::4]) > 0  # some episodes ended and were reset
    for a, b in zip(in_process, in_ray):
        torch.testing.assert_close(a, b)


def test_more_workers_than_envs_is_refused():
    gym_env.register_gym(gym_env.make_gym_creator("CartPole-v1"), "cpu", seed=0, ray_workers=4)
    with pytest.raises(ValueError, match=r"rayWorkers=4 is more than the 2 envs"):
        gym_env.GymVecEnv(gym_env.ENV_NAME, 2, ray_workers=4)


def test_cartpole_trains_with_its_envs_in_ray_workers(tmp_path):
    result = run_train(
        "task=GymEnv", "task.env.gym_id=CartPole-v1", "train=GymEnvDiscretePPO", "num_envs=8",
        "task.env.rayWorkers=2", "max_iterations=3", cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "physics gymnasium CartPole-v1 (cpu, 2 Ray workers)" in result.stdout
    assert re.search(r"^epoch 3/3: mean episode reward", result.stdout, re.M), result.stdout[-2000:]
