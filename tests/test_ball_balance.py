"""BallBalance: the closed-loop table on MuJoCo, the ball's respawn, and the reward, observation and success math."""

from types import SimpleNamespace

import pytest
import torch
from conftest import make_shipped_task, random_ops_run_by, step_graph_without_host_sync

from isaac_rl import ASSET_ROOT
from isaac_rl.tasks.ball_balance import (
    BALL_TARGET_HEIGHT,
    HIPS,
    KNEES,
    ball_on_tray,
    balance_reward,
)

BALL_RADIUS = 0.1
# the ball let go just above the middle of the tray, at rest
DEAD_CENTRE_DROP = dict(dropRadius=0.001, maxHorizontalSpeed=0.0, dropHeight=[0.9, 0.9], dropSpeed=0.0)


def make_ball_balance(device="cpu", num_envs=4, backend="mujoco", **env):
    return make_shipped_task("BallBalance", device, num_envs, backend, **env)


# -- math on known inputs -------------------------------------------------------


def test_reward_is_highest_for_a_still_ball_at_the_target():
    at_target = torch.tensor([[0.0, 0.0, BALL_TARGET_HEIGHT]])
    still = torch.zeros(1, 3)
    reward = balance_reward(SimpleNamespace(ball_pos=at_target, ball_vel=still))
    torch.testing.assert_close(reward, torch.tensor([1.0]))
    # 1 m off target and moving at 1 m/s: (1 / 2) x (1 / 2)
    off = torch.tensor([[1.0, 0.0, BALL_TARGET_HEIGHT]])
    reward = balance_reward(SimpleNamespace(ball_pos=off, ball_vel=torch.tensor([[0.0, 1.0, 0.0]])))
    torch.testing.assert_close(reward, torch.tensor([0.25]))


def test_a_ball_on_the_floor_terminates_the_episode_and_its_reward_is_logged():
    env = make_ball_balance(num_envs=2)
    env.reset()
    state = env.sim.scene.actor_root_state("ball")
    state[1, 0, 0:3] = torch.tensor([2.0, 0.0, BALL_RADIUS])  # env 1's ball on the floor beside the table
    state[:, 0, 7:13] = 0.0
    env.sim.scene.write_root_state(torch.tensor([False, True]), "ball", state)
    _, reward, done, extras = env.step(torch.zeros(2, 3))
    assert done.tolist() == [0, 1]
    # one step into the episode: its logged sum is that step's reward
    torch.testing.assert_close(extras["episode_sums"]["rew_balance"], reward)


def test_ball_on_tray_needs_the_ball_over_the_disc_and_above_it():
    tray = torch.tensor([[0.0, 0.0, 0.56]] * 3)
    balls = torch.tensor([[0.3, 0.0, 0.67], [0.6, 0.0, 0.67], [0.0, 0.0, 0.4]])
    assert ball_on_tray(balls, tray, BALL_RADIUS).tolist() == [True, False, False]


def test_observation_layout_scales_forces_and_torques():
    env = make_ball_balance(num_envs=2)
    env.reset()
    env.step(torch.zeros(2, 3))
    layout, obs = env.observations.layout, env.obs_buf
    assert env.observations.size == env.num_observations == 24
    assert list(layout) == ["knee_pos", "knee_vel", "ball_pos", "ball_vel", "leg_forces_torques"]
    torch.testing.assert_close(obs[:, layout["knee_pos"]], env.sim.scene.joint_pos(KNEES))
    torch.testing.assert_close(obs[:, layout["leg_forces_torques"]], env.sim.sensordata[:, env.sensor_columns] / 20.0)


# -- the env on MuJoCo ------------------------------------------------------------


def test_closed_loops_hold_the_table_and_the_legs_tilt_it():
    env = make_ball_balance(num_envs=2, **DEAD_CENTRE_DROP)
    env.reset()
    tray = env.sim.scene.actor_root_state("tray")
    start = tray[:, 0, :3].clone()
    for _ in range(100):
        env.step(torch.zeros(2, 3))
    # three pinned feet and held knees: the tray stays where it stands (it only bears the ball)
    torch.testing.assert_close(env.sim.scene.actor_root_state("tray")[:, 0, :3], start, atol=0.01, rtol=0)
    # driving knee 0 (env 0 only) tips the tray: its up axis leans away from vertical
    actions = torch.zeros(2, 3)
    actions[0, 0] = 1.0
    for _ in range(20):
        env.step(actions)
    quat = env.sim.scene.actor_root_state("tray")[:, 0, 3:7]
    tilt = 1.0 - (1.0 - 2.0 * (quat[:, 1] ** 2 + quat[:, 2] ** 2))  # 1 - (z of the tray's up axis)
    assert tilt[0] > 1e-3 and tilt[1] < 1e-4
    assert env.sim.scene.joint_pos(KNEES)[0, 0] > 0.1
    # the joints at the tray are not driven: they move because the loops are closed
    assert abs(float(env.sim.scene.joint_pos(HIPS)[0, 0])) > 0.05


def test_a_model_that_drives_other_joints_than_the_knees_is_refused(tmp_path):
    # IsaacGymEnvs drives the knees (its DOFs 1, 3, 5); the same legs driven at the tray would train another task
    model = (ASSET_ROOT / "mjcf" / "ball_balance.xml").read_text()
    for i in range(3):
        model = model.replace(f'<position name="knee{i}" joint="lower_leg{i}"/>', f'<position name="hip{i}" joint="upper_leg{i}"/>')
    hips_driven = tmp_path / "hips_driven.xml"
    hips_driven.write_text(model)
    with pytest.raises(ValueError, match=r"exactly the position actuators \('knee0', 'knee1', 'knee2'\).*hip0"):
        make_ball_balance(num_envs=1, asset=str(hips_driven))


def test_reset_drops_a_new_ball_in_masked_envs_only():
    env = make_ball_balance(num_envs=64)
    env.reset()
    ball = env.sim.scene.actor_root_state("ball")[:, 0]
    horizontal = torch.linalg.vector_norm(ball[:, :2], dim=1)
    assert (horizontal <= 0.5).all() and ((ball[:, 2] >= 1.0) & (ball[:, 2] <= 2.0)).all()
    torch.testing.assert_close(ball[:, 9], torch.full((64,), -5.0))
    # sideways velocity points back toward the centre
    assert ((ball[:, :2] * ball[:, 7:9]).sum(dim=1) <= 1e-6).all()
    env.step(torch.zeros(64, 3))
    ball = env.sim.scene.actor_root_state("ball")[:, 0]
    # (obs_buf, before clipObservations clips the 5 m/s drop)
    torch.testing.assert_close(env.obs_buf[:, 6:12], torch.cat((ball[:, :3], ball[:, 7:10]), dim=1))
    before = env.sim.scene.root_state.clone()
    mask = torch.zeros(64, dtype=torch.bool)
    mask[:4] = True
    env.reset_idx(mask)
    after = env.sim.scene.root_state
    torch.testing.assert_close(after[4:], before[4:])
    assert not torch.allclose(after[:4, 1], before[:4, 1])


def test_a_reset_draws_all_its_random_numbers_in_one_call():
    # torch.compile may reorder separate draws (torch 2.11's Inductor does): the compiled step would drop other balls
    env = make_ball_balance(num_envs=8)
    env.reset()
    mask = torch.zeros(8, dtype=torch.bool)
    mask[::2] = True
    assert random_ops_run_by(lambda: env.reset_idx(mask)) == ["aten.rand.default"]


@pytest.mark.parametrize("backend", ["mujoco", "warp"])
def test_a_ball_dropped_on_the_middle_of_a_level_tray_stays_and_counts_as_a_success(backend):
    env = make_ball_balance(num_envs=2, backend=backend, maxEpisodeLength=150, **DEAD_CENTRE_DROP)
    env.reset()
    successes = []
    for _ in range(149):
        _, _, reset, extras = env.step(torch.zeros(2, 3))
        successes.append((reset.bool() & extras["successes"]).clone())
    assert torch.stack(successes).sum(0).tolist() == [1, 1]  # each env's one episode ended with the ball on the tray


@pytest.mark.gpu
def test_cuda_graph_step_never_waits_on_the_host():
    env = make_ball_balance("cuda:0", num_envs=256, backend="warp")
    step_graph_without_host_sync(env, 300)
    # random actions fail episodes: some envs were reset inside the graph (scene writes on a mask) and run again
    assert int(env.progress_buf.min()) < 300
