"""The Humanoid task (IsaacGymEnvs' Humanoid on MuJoCo): observation layout, reward terms on known inputs, the env."""

import re
from types import SimpleNamespace

import pytest
import torch
from conftest import make_shipped_task, run_train, step_graph_without_host_sync

from isaac_rl.tasks.humanoid import NUM_DOFS, energy_cost, joints_at_limit_cost
from isaac_rl.utils.run_dirs import newest_run_dir

GEARS = [67.5, 67.5, 67.5, 45, 45, 135, 90, 22.5, 22.5, 45, 45, 135, 90, 22.5, 22.5, 67.5, 67.5, 45, 67.5, 67.5, 45]


def make_humanoid(num_envs=4, backend="mujoco", device="cpu", **env):
    return make_shipped_task("Humanoid", device, num_envs, backend, **env)


def test_gear_weighted_energy_and_graded_joint_limit_costs():
    ratio = torch.tensor([1.0, 0.5])
    task = SimpleNamespace(
        motor_effort_ratio=ratio,
        actions=torch.tensor([[1.0, -1.0]]),
        dof_vel_scaled=torch.tensor([[2.0, 2.0]]),
        dof_pos_unit=torch.tensor([[0.99, -1.0]]),
    )
    torch.testing.assert_close(energy_cost(task), torch.tensor([2.0 * 1.0 + 2.0 * 0.5]))
    # half way from 0.98 to the limit costs 0.5, at the limit 1 (times the gear ratio)
    torch.testing.assert_close(joints_at_limit_cost(task), torch.tensor([0.5 * 1.0 + 1.0 * 0.5]))
    task.dof_pos_unit = torch.tensor([[0.97, -0.5]])
    torch.testing.assert_close(joints_at_limit_cost(task), torch.tensor([0.0]))


def test_observations_are_iges_108_with_joint_torques_and_ankle_sensors():
    env = make_humanoid(num_envs=2)
    layout = env.observations.layout
    assert env.num_observations == 108 and env.num_actions == NUM_DOFS == 21
    assert (layout["dof_force"], layout["foot_force_torques"], layout["actions"]) == (slice(54, 75), slice(75, 87), slice(87, 108))
    torch.testing.assert_close(env.motor_efforts, torch.tensor(GEARS))
    obs = env.reset()["obs"]
    torch.testing.assert_close(obs[:, 0], torch.full((2,), 1.34))
    actions = torch.linspace(-1, 1, 21).repeat(2, 1)
    obs = env.step(actions)[0]["obs"]
    # the joint torques the motors applied: action x gear, x contactForceScale
    torch.testing.assert_close(obs[:, 54:75], actions * torch.tensor(GEARS) * 0.01)
    torch.testing.assert_close(obs[:, 87:108], actions)
    # angular velocity x 0.25
    torch.testing.assert_close(obs[:, 4:7], env.sim.root_ang_vel_local * 0.25)


def test_feet_carry_the_body_and_a_fallen_humanoid_gets_the_death_cost():
    env = make_humanoid(num_envs=2)
    env.reset()
    zero = torch.zeros(2, 21)
    ended = torch.zeros(2, dtype=torch.bool)
    carried = torch.zeros(2)
    for step in range(150):
        obs, rew, resets, _ = env.step(zero)
        if step < 15:
            # landing on its feet: the ankle sensors carry about the body weight (41 kg, 400 N)
            carried = torch.maximum(carried, obs["obs"][:, 75:87].reshape(2, 2, 2, 3)[:, :, 0].norm(dim=-1).sum(dim=1) / 0.01)
        ended |= resets.bool()
        torch.testing.assert_close(rew[resets.bool()], torch.full_like(rew[resets.bool()], -1.0))
        if ended.all():
            break
    # unpowered, it folds within a few seconds; the episodes end at the 0.8 m termination height
    assert ended.all() and (carried > 300).all(), carried


@pytest.mark.gpu
def test_the_cuda_step_stays_in_one_graph_without_host_syncs():
    step_graph_without_host_sync(make_humanoid(num_envs=256, backend="warp", device="cuda:0"), 200)


@pytest.mark.parametrize("success_speed,succeeded", [(-100.0, True), (100.0, False)])
def test_an_episode_succeeds_when_it_reaches_the_time_limit_fast_enough(success_speed, succeeded):
    env = make_humanoid(num_envs=2, maxEpisodeLength=4, successSpeed=success_speed)
    env.reset()
    for _ in range(2):
        extras = env.step(torch.zeros(2, 21))[3]
        assert not extras["successes"].any()
    extras = env.step(torch.zeros(2, 21))[3]  # the time limit
    assert env.timeout_buf.all() and (extras["successes"] == succeeded).all()
    travelled = env.sim.root_pos[:, 0] - env.start_root_pose[0]
    torch.testing.assert_close(extras["episode"]["mean_forward_speed"], travelled / (3 * env.dt))


def test_humanoid_trains_two_epochs_and_logs_its_speed(tmp_path):
    result = run_train("task=Humanoid", "num_envs=16", "max_iterations=2", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert re.search(r"^epoch 2/2: .*forward_speed", result.stdout, re.M), result.stdout[-2000:]
    assert list(newest_run_dir(tmp_path / "runs" / "Humanoid").glob("nn/last_Humanoid_ep_2*.pth"))


def test_a_model_without_21_driven_joints_is_refused():
    with pytest.raises(ValueError, match="21 actuated hinge joints"):
        make_humanoid(num_envs=1, asset="mjcf/ant.xml")


def test_warp_backend_runs_the_humanoid_like_the_mujoco_backend():
    envs = {backend: make_humanoid(num_envs=2, backend=backend) for backend in ("warp", "mujoco")}
    actions = torch.linspace(-0.5, 0.5, 21).repeat(2, 1)
    observations = {}
    for backend, env in envs.items():
        torch.manual_seed(0)  # the same reset noise
        env.reset()
        observations[backend] = torch.stack([env.step(actions)[0]["obs"].clone() for _ in range(5)])
    # joint torques, ankle sensors and all: the same observations on both backends
    torch.testing.assert_close(observations["warp"], observations["mujoco"], atol=2e-3, rtol=1e-3)
