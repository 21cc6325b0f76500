"""The VecTask contract, through Cartpole, and RLGPUEnv's env_info."""

import copy

import pytest
import torch
from gymnasium.spaces import Box
from omegaconf import OmegaConf

from isaac_rl import CFG_ROOT, tasks
from isaac_rl.rlgames import register_rlgpu
from isaac_rl.rlgames.env import RLGPUEnv
from isaac_rl.tasks.cartpole import Cartpole, compute_cartpole_reward

BASE_CFG = OmegaConf.to_container(OmegaConf.load(CFG_ROOT / "task" / "Cartpole.yaml"))


def cartpole_cfg(num_envs=8, **env):
    cfg = copy.deepcopy(BASE_CFG)
    cfg["env"].update(numEnvs=num_envs, **env)
    cfg["sim"]["backend"] = "auto"
    return cfg


def make_cartpole(num_envs=8, **env) -> Cartpole:
    return tasks.make("Cartpole", cfg=cartpole_cfg(num_envs, **env), rl_device="cpu", sim_device="cpu", graphics_device_id=0, headless=True)


def test_step_returns_batched_tensors_of_the_right_shapes():
    env = make_cartpole(num_envs=8)
    obs = env.reset()
    assert obs["obs"].shape == (8, 4) and obs["obs"].dtype == torch.float32
    obs, rew, resets, extras = env.step(torch.zeros(8, 1))
    assert obs["obs"].shape == (8, 4) and obs["obs"].device.type == "cpu"
    assert rew.shape == (8,) and rew.dtype == torch.float32
    assert resets.shape == (8,)
    assert extras["time_outs"].shape == (8,)
    assert "states" not in obs  # no asymmetric critic for Cartpole
    assert torch.isfinite(obs["obs"]).all()


def test_observations_are_the_cart_and_pole_state():
    env = make_cartpole(num_envs=2)
    env.reset()
    obs, *_ = env.step(torch.zeros(2, 1))
    expected = torch.stack([env.sim.dof_pos[:, 0], env.sim.dof_vel[:, 0], env.sim.dof_pos[:, 1], env.sim.dof_vel[:, 1]], 1)
    torch.testing.assert_close(obs["obs"], expected)


def test_actions_are_clipped_before_they_reach_the_physics():
    clipped, unclipped = make_cartpole(num_envs=2), make_cartpole(num_envs=2)
    for env in (clipped, unclipped):
        torch.manual_seed(0)
        env.reset()
    clipped.step(torch.ones(2, 1))
    unclipped.step(torch.full((2, 1), 50.0))
    torch.testing.assert_close(unclipped.sim.qpos, clipped.sim.qpos)
    torch.testing.assert_close(unclipped.sim.ctrl, torch.full((2, 1), 400.0))


def test_observations_are_clipped():
    env = make_cartpole(num_envs=2, clipObservations=0.001)
    env.reset()
    obs, *_ = env.step(torch.ones(2, 1))
    assert obs["obs"].abs().max() <= 0.001


def test_failure_gives_minus_two_and_a_reset_then_the_env_restarts():
    env = make_cartpole(num_envs=4)
    env.reset()
    dones = torch.zeros(4, dtype=torch.bool)
    for _ in range(200):  # full force one way topples the pole within a few seconds
        _, rew, resets, extras = env.step(torch.ones(4, 1))
        if resets.any():
            dones = resets.bool()
            break
    assert dones.any(), "pushing hard one way never ended an episode"
    assert (rew[dones] == -2.0).all()
    assert not extras["time_outs"][dones].any()  # a failure is not a time-out
    env.step(torch.zeros(4, 1))
    assert (env.progress_buf[dones] == 0).all()  # reset at the start of the next step
    assert (env.sim.dof_pos[dones].abs() <= 0.1).all()  # back near upright


def test_episode_length_ends_in_a_time_out():
    env = make_cartpole(num_envs=2, maxEpisodeLength=5)
    env.reset()
    results = [env.step(torch.zeros(2, 1)) for _ in range(4)]
    _, _, resets, extras = results[-1]
    assert resets.all() and extras["time_outs"].all()
    assert not results[-2][1].eq(-2.0).any()


def test_reward_function_on_known_states():
    angle = torch.tensor([0.0, 0.5, 0.1, 0.0])
    pole_vel = torch.tensor([0.0, 0.0, 2.0, 0.0])
    cart_vel = torch.tensor([0.0, 1.0, 0.0, 0.0])
    cart_pos = torch.tensor([0.0, 0.0, 0.0, 3.5])
    reward, terminated = compute_cartpole_reward(angle, pole_vel, cart_vel, cart_pos, 3.0)
    torch.testing.assert_close(reward, torch.tensor([1.0, 1.0 - 0.25 - 0.01, 1.0 - 0.01 - 0.01, -2.0]))
    assert terminated.tolist() == [0, 0, 0, 1]  # time-outs are VecTask's


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(KeyError, match="unknown task 'Cartpol'; known tasks: .*Cartpole"):
        tasks.resolve("Cartpol")


def test_bad_env_count_and_devices_are_rejected():
    with pytest.raises(ValueError, match="numEnvs .*must be a positive integer, got 0"):
        make_cartpole(num_envs=0)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            tasks.make("Cartpole", cfg=cartpole_cfg(), rl_device="cpu", sim_device="cuda:0", graphics_device_id=0, headless=True)
    with pytest.raises(ValueError, match="accepted"):
        tasks.make("Cartpole", cfg=cartpole_cfg(), rl_device="tpu", sim_device="cpu", graphics_device_id=0, headless=True)


def test_rlgpu_env_reports_what_rl_games_needs():
    register_rlgpu(lambda **kwargs: make_cartpole(num_envs=3))
    env = RLGPUEnv("rlgpu", num_actors=3)
    info = env.get_env_info()
    assert isinstance(info["observation_space"], Box) and info["observation_space"].shape == (4,)
    assert isinstance(info["action_space"], Box) and info["action_space"].shape == (1,)
    assert info["agents"] == 1 and info["value_size"] == 1
    assert "state_space" not in info
    obs = env.reset()
    assert obs["obs"].shape == (3, 4)
    obs, rew, dones, extras = env.step(torch.zeros(3, 1))
    assert rew.shape == (3,) and "time_outs" in extras


@pytest.mark.gpu
def test_cuda_graph_step_matches_the_eager_step():
    def rollout(use_graph: bool) -> torch.Tensor:
        cfg = cartpole_cfg(num_envs=64)
        cfg["sim"]["use_cuda_graph"] = use_graph
        env = tasks.make("Cartpole", cfg=cfg, rl_device="cuda:0", sim_device="cuda:0", graphics_device_id=0, headless=True)
        assert env.use_cuda_graph == use_graph
        torch.manual_seed(0)
        env.reset()
        actions = torch.sin(torch.arange(64, device="cuda:0") / 7.0)[:, None]
        # 40 steps of gentle pushes: no env fails, so no reset draws random states
        return torch.stack([env.step(0.05 * actions * (-1) ** k)[0]["obs"].clone() for k in range(40)])

    torch.testing.assert_close(rollout(True), rollout(False))

