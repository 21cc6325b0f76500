"""Quadcopter: rotor forces through xfrc_applied on MuJoCo, and the reward, observation and success math."""

import math

import pytest
import torch
from conftest import make_shipped_task, step_graph_without_host_sync

from isaac_rl.tasks.quadcopter import compute_quadcopter_observations, compute_quadcopter_reward, rotor_wrenches
from isaac_rl.utils.torch_math import quat_from_angle_axis

TARGET = torch.tensor([[0.0, 0.0, 1.0]])
UPRIGHT = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
GRAVITY = 9.81


def make_quadcopter(device="cpu", num_envs=2, backend="mujoco", **env):
    return make_shipped_task("Quadcopter", device, num_envs, backend, **env)


def hover_action(env) -> float:
    """The action whose four thrusts carry the quadrotor's weight."""
    mass = float(env.sim.mj_model.body_subtreemass[env.sim.scene.body_ids("chassis")[0]])
    return 2.0 * (mass * GRAVITY / 4) / env.max_thrust - 1.0


# -- math on known inputs -------------------------------------------------------


def test_rotor_wrenches_push_along_the_up_axis_and_drag_torques_cancel_in_a_hover():
    rolled = quat_from_angle_axis(torch.tensor([math.pi / 2]), torch.tensor([1.0, 0.0, 0.0]))  # up axis now along -y
    spin = torch.tensor([1.0, -1.0, 1.0, -1.0])
    wrench = rotor_wrenches(torch.full((1, 4), 0.5), rolled, spin, 0.02)
    torch.testing.assert_close(wrench[0, :, 0:3], torch.tensor([[0.0, -0.5, 0.0]] * 4), atol=1e-6, rtol=0)
    # a counter-clockwise rotor (spin +1) pushes the frame clockwise about its up axis
    torch.testing.assert_close(wrench[0, 0, 3:6], torch.tensor([0.0, 0.01, 0.0]), atol=1e-6, rtol=0)
    torch.testing.assert_close(wrench[0, :, 3:6].sum(dim=0), torch.zeros(3))


def test_reward_peaks_upright_and_still_at_the_target_and_resets_when_lost_or_low():
    still = torch.zeros(1, 3)
    reward, reset = compute_quadcopter_reward(TARGET, UPRIGHT, still, TARGET)
    torch.testing.assert_close(reward, torch.tensor([3.0]))
    assert reset.tolist() == [0]
    # 1 m away: the position term halves, and the up and spin terms count only as much as it does
    reward, _ = compute_quadcopter_reward(torch.tensor([[1.0, 0.0, 1.0]]), UPRIGHT, still, TARGET)
    torch.testing.assert_close(reward, torch.tensor([1.5]))
    spinning = torch.tensor([[0.0, 0.0, 1.0]])
    reward, _ = compute_quadcopter_reward(TARGET, UPRIGHT, spinning, TARGET)
    torch.testing.assert_close(reward, torch.tensor([2.5]))
    # the precision term: its full weight at the target, half of it precision_scale away
    reward, _ = compute_quadcopter_reward(TARGET, UPRIGHT, still, TARGET, precision_weight=1.0, precision_scale=0.1)
    torch.testing.assert_close(reward, torch.tensor([4.0]))
    near = torch.tensor([[0.1, 0.0, 1.0]])
    with_term, _ = compute_quadcopter_reward(near, UPRIGHT, still, TARGET, precision_weight=1.0, precision_scale=0.1)
    without, _ = compute_quadcopter_reward(near, UPRIGHT, still, TARGET)
    torch.testing.assert_close(with_term - without, torch.tensor([0.5]))
    for pos in ([3.5, 0.0, 1.0], [0.0, 0.0, 0.2]):
        _, reset = compute_quadcopter_reward(torch.tensor([pos]), UPRIGHT, still, TARGET)
        assert reset.tolist() == [1], pos


def test_observation_layout_and_scales():
    obs = compute_quadcopter_observations(
        torch.tensor([[3.0, 0.0, 1.0]]), UPRIGHT, torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, math.pi]]), TARGET
    )
    torch.testing.assert_close(obs, torch.tensor([[-1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]]))


# -- the env on MuJoCo ------------------------------------------------------------


@pytest.mark.parametrize("backend", ["mujoco", "warp"])
def test_hover_thrust_holds_altitude_and_uneven_thrust_tips_and_yaws_it(backend):
    env = make_quadcopter(num_envs=3, backend=backend)
    env.reset()
    start = env.sim.root_pos.clone()
    hover = hover_action(env)
    actions = torch.full((3, 4), hover)
    actions[1, [0, 3]] += 0.1  # env 1: more thrust on the +x rotors
    actions[2, [0, 2]] += 0.1  # env 2: more thrust on the counter-clockwise pair, less on the others
    actions[2, [1, 3]] -= 0.1
    for _ in range(30):
        env.step(actions)
    # env 0 hovers: weight carried exactly by four thrusts
    torch.testing.assert_close(env.sim.root_pos[0], start[0], atol=1e-3, rtol=0)
    # env 1 pitches its +x side up: rotation about -y
    assert env.sim.root_ang_vel[1, 1] < -0.5
    # env 2 keeps level but yaws clockwise (the drag of counter-clockwise rotors)
    assert env.sim.root_ang_vel[2, 2] < -0.1 and abs(float(env.sim.root_ang_vel[2, 0])) < 1e-3


def test_success_needs_the_last_hold_steps_near_the_target_of_a_full_episode():
    env = make_quadcopter(num_envs=2, maxEpisodeLength=60, holdSteps=20)
    env.reset()
    at_target = torch.zeros(2, 13)
    at_target[:, 2] = 1.0
    at_target[:, 3] = 1.0
    at_target[1, 0] = 0.2  # env 1 hovers 0.2 m off target, outside successRadius
    env.sim.scene.write_root_state(torch.ones(2, dtype=torch.bool), "chassis", at_target[:, None])
    hover = torch.full((2, 4), hover_action(env))
    ended = []
    for _ in range(59):
        _, _, reset, extras = env.step(hover)
        ended.append((reset.bool(), extras["successes"].clone()))
    reset, successes = ended[-1]
    assert reset.tolist() == [True, True] and successes.tolist() == [True, False]
    assert not any(bool(s.any()) for _, s in ended[:-1])


@pytest.mark.gpu
def test_cuda_graph_step_never_waits_on_the_host():
    env = make_quadcopter("cuda:0", num_envs=256, backend="warp")
    step_graph_without_host_sync(env, 300)
    # random actions fail episodes: some envs were reset inside the graph (scene writes on a mask) and run again
    assert int(env.progress_buf.min()) < 300
