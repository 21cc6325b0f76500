"""isaac_rl tasks as gymnasium vector envs: spaces, NEXT_STEP autoreset, time-outs as truncations."""

import numpy as np
import pytest
import torch
from gymnasium.utils.passive_env_checker import check_obs
from gymnasium.vector import AutoresetMode

from isaac_rl.envs import make_vec


@pytest.fixture(scope="module")
def envs():
    # no termination by distance, episodes of 6 steps: every end is a time-out
    return make_vec("Cartpole", num_envs=4, overrides=["task.env.maxEpisodeLength=6", "task.env.resetDist=100.0"])


def test_spaces_batch_the_tasks_spaces_and_data_is_torch_on_the_device(envs):
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert envs.observation_space.shape == (4, 4) and envs.action_space.shape == (4, 1)
    observations, info = envs.reset(seed=0)
    assert isinstance(observations, torch.Tensor) and observations.device == torch.device("cpu") and info == {}
    observations, rewards, terminated, truncated, _ = envs.step(torch.zeros(4, 1))
    assert observations.shape == (4, 4) and rewards.shape == (4,)
    assert terminated.dtype == torch.bool and truncated.dtype == torch.bool


def test_time_outs_are_truncations_and_the_next_step_resets_with_reward_zero(envs):
    envs.reset(seed=0)
    flags = []
    for _ in range(8):
        _, rewards, terminated, truncated, _ = envs.step(torch.zeros(4, 1))
        flags.append((rewards.clone(), terminated.clone(), truncated.clone(), envs.task.progress_buf.clone()))
    # steps 1..5 run, the 5th reaches maxEpisodeLength - 1 and ends by time-out
    ended_at = [i for i, (_, _, trunc, _) in enumerate(flags) if trunc.all()]
    assert ended_at == [4], [f[2] for f in flags]
    assert not any(term.any() for _, term, _, _ in flags)
    rewards, terminated, truncated, progress = flags[5]
    assert torch.all(rewards == 0) and not terminated.any() and not truncated.any()
    assert torch.all(progress == 0)  # the returned observation is the new episode's first


def test_numpy_mode_passes_gymnasiums_observation_checks_and_returns_fresh_arrays():
    envs = make_vec("Cartpole", num_envs=3, as_numpy=True)
    first, _ = envs.reset(seed=7)
    again, _ = envs.reset(seed=7)
    np.testing.assert_array_equal(first, again)  # a seed reproduces the reset on the CPU backend
    check_obs(first.astype(np.float32), envs.observation_space, "reset")
    kept = first.copy()
    step_obs, rewards, terminated, truncated, _ = envs.step(envs.action_space.sample())
    check_obs(step_obs, envs.observation_space, "step")
    assert isinstance(rewards, np.ndarray) and terminated.dtype == np.bool_ and truncated.dtype == np.bool_
    np.testing.assert_array_equal(first, kept)  # the step did not write into what reset returned
    assert not np.shares_memory(step_obs, first)
    envs.close()


def test_a_gymnasium_task_and_bad_values_are_refused():
    with pytest.raises(ValueError, match="is a gymnasium env already"):
        make_vec("GymEnv", num_envs=2)
    with pytest.raises(ValueError, match=r"task.env.maxEffort=strong: expected a number"):
        make_vec("Cartpole", num_envs=2, overrides=["task.env.maxEffort=strong"])
