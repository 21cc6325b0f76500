"""AnymalTerrain: robots spawn on their tiles, the curriculum moves them, and the observation and reward math."""

import copy
import math

import pytest
import torch
from omegaconf import OmegaConf

from isaac_rl import CFG_ROOT, tasks
from isaac_rl.tasks.anymal_terrain import (
    NUM_OBS,
    anymal_terrain_reward_terms,
    compute_anymal_terrain_observations,
    observation_noise_scale,
    wrap_to_pi,
)

BASE_CFG = OmegaConf.to_container(OmegaConf.load(CFG_ROOT / "task" / "AnymalTerrain.yaml"))
DT = 0.02


def make_task(num_envs=8, **learn):
    cfg = copy.deepcopy(BASE_CFG)
    cfg["env"]["numEnvs"] = num_envs
    cfg["env"]["terrain"].update(numLevels=3, numTerrains=5, borderSize=3.0)
    cfg["env"]["learn"].update(learn)
    cfg["sim"]["backend"] = "mujoco"
    return tasks.make("AnymalTerrain", cfg=cfg, rl_device="cpu", sim_device="cpu", graphics_device_id=0, headless=True)


def terms_of(n=1, **inputs):
    zeros3, zeros12 = torch.zeros(n, 3), torch.zeros(n, 12)
    args = dict(
        base_lin_vel=zeros3, base_ang_vel=zeros3, projected_gravity=torch.tensor([[0.0, 0.0, -1.0]]).expand(n, 3),
        base_height=torch.full((n,), 0.52), commands=zeros3, torques=zeros12, last_dof_vel=zeros12, dof_vel=zeros12,
        dof_pos=zeros12, default_dof_pos=torch.zeros(12), last_actions=zeros12, actions=zeros12,
        feet_contacts=torch.zeros(n, 4, 3), knee_contacts=torch.zeros(n, 4, 3), feet_air_time=torch.zeros(n, 4), dt=DT,
    )  # fmt: skip
    args.update(inputs)
    return anymal_terrain_reward_terms(**args)


def test_robots_start_on_their_tiles_and_stand_there():
    task = make_task()
    task.reset()
    origins = task.env_origins
    assert (task.terrain_levels == 0).all()  # maxInitMapLevel 0
    assert torch.all((task.sim.root_pos[:, :2] - origins[:, :2]).abs() <= 0.5)
    for _ in range(50):
        task.step(torch.zeros(8, 12))
    task.check_health()
    # standing (PD at the standing pose) about 0.5 m above the ground under each base, not fallen
    height = task.sim.root_pos[:, 2] - task.measured_heights.mean(dim=1)
    assert torch.all((height > 0.4) & (height < 0.65)), height
    assert not task.reset_buf.any()
    assert task.obs_buf.shape == (8, NUM_OBS)


def test_curriculum_promotes_an_env_that_walked_off_its_tile():
    task = make_task(num_envs=2, addNoise=False)
    task.reset()
    task.step(torch.zeros(2, 12))
    # env 0 has walked 4.5 m (more than half a tile): it is moved there and its episode ended
    state = task.sim.scene.actor_root_state("base")
    state[0, 0, 0] += 4.5
    task.sim.scene.write_root_state(torch.tensor([True, False]), "base", state)
    task.commands[1, :2] = torch.tensor([1.0, 0.0])  # env 1 was asked for 1 m/s but stayed put: demoted (floored at 0)
    task.reset_buf[:] = 1
    task.step(torch.zeros(2, 12))
    assert task.terrain_levels.tolist() == [1, 0]
    assert task.env_origins[0].tolist() == task.tile_origins[1, task.terrain_types[0]].tolist()
    assert task.extras["episode"]["terrain_level"].item() == pytest.approx(0.5)


def test_pushes_set_a_horizontal_base_velocity_every_interval():
    task = make_task(num_envs=4, pushInterval_s=0.1, addNoise=False)  # every 5 steps
    task.reset()
    for _ in range(4):
        task.step(torch.zeros(4, 12))
    before = task.sim.root_lin_vel[:, :2].clone()
    task.push_robots(torch.tensor(True))
    pushed = task.sim.root_lin_vel[:, :2]
    assert not torch.allclose(before, pushed) and pushed.abs().max() <= 1.0
    task.push_robots(torch.tensor(False))
    torch.testing.assert_close(task.sim.root_lin_vel[:, :2], pushed)


def test_heights_are_observed_relative_to_the_base_and_clipped():
    n = 2
    ground = torch.tensor([[0.0, 0.3, -2.0], [0.1, 0.1, 0.1]])
    base_pos = torch.tensor([[0.0, 0.0, 0.5], [0.0, 0.0, 0.6]])
    obs = compute_anymal_terrain_observations(
        torch.tensor([[1.0, 0, 0, 0]]).expand(n, 4), base_pos, torch.zeros(n, 3), torch.zeros(n, 3),
        torch.tensor([[0.0, 0.0, -1.0]]).expand(n, 3), torch.zeros(n, 3), torch.ones(3), torch.zeros(n, 12), torch.zeros(12),
        torch.zeros(n, 12), ground, torch.zeros(n, 12), 2.0, 0.25, 1.0, 0.05, 5.0,
    )  # fmt: skip
    heights = obs[:, 48 - 12 : 48 - 12 + 3]
    # (base z - 0.5 - ground) x 5, clipped to +-1 m first
    torch.testing.assert_close(heights, torch.tensor([[0.0, -1.5, 5.0], [0.0, 0.0, 0.0]]))


def test_noise_scales_follow_the_observation_layout():
    scale = observation_noise_scale(BASE_CFG["env"]["learn"], torch.device("cpu"))
    assert scale.shape == (NUM_OBS,)
    torch.testing.assert_close(scale[:3], torch.full((3,), 0.1 * 2.0))  # linear velocity noise x its scale
    assert scale[9:12].eq(0).all() and scale[-12:].eq(0).all()  # commands and last actions are exact
    torch.testing.assert_close(scale[36:176], torch.full((140,), 0.06 * 5.0))


def test_feet_earn_their_air_time_on_touchdown_only_when_asked_to_move():
    down = torch.zeros(1, 4, 3)
    down[0, 0, 2] = 50.0  # foot 0 touches down, the others are in the air
    air = torch.tensor([[0.6, 0.2, 0.0, 0.3]])
    moving = torch.tensor([[1.0, 0.0, 0.0]])
    terms, new_air = terms_of(feet_contacts=down, feet_air_time=air, commands=moving)
    assert terms["air_time"].item() == pytest.approx(0.6 + DT - 0.5)
    torch.testing.assert_close(new_air, torch.tensor([[0.0, 0.2 + DT, DT, 0.3 + DT]]))
    terms, _ = terms_of(feet_contacts=down, feet_air_time=air, commands=torch.zeros(1, 3))
    assert terms["air_time"].item() == 0.0


def test_penalty_terms_measure_what_they_name():
    knee = torch.zeros(1, 4, 3)
    knee[0, 1] = torch.tensor([0.0, 3.0, 0.0])  # one thigh pressed sideways by 3 N
    feet = torch.zeros(1, 4, 3)
    feet[0, 2] = torch.tensor([6.0, 0.0, 0.5])  # a foot hitting a step edge: large horizontal, little vertical force
    terms, _ = terms_of(
        base_lin_vel=torch.tensor([[0.0, 0.0, 0.5]]), base_ang_vel=torch.tensor([[0.3, 0.4, 2.0]]), knee_contacts=knee,
        feet_contacts=feet, actions=torch.full((1, 12), 0.5), dof_vel=torch.full((1, 12), 2.0),
    )  # fmt: skip
    assert terms["lin_vel_z"].item() == pytest.approx(0.25)
    assert terms["ang_vel_xy"].item() == pytest.approx(0.25)
    assert terms["collision"].item() == 1.0 and terms["stumble"].item() == 1.0
    assert terms["action_rate"].item() == pytest.approx(12 * 0.25)
    assert terms["joint_acc"].item() == pytest.approx(12 * 4.0)
    assert terms["ang_vel_error"].item() == pytest.approx(2.0)


def test_reward_clips_at_zero_and_rewards_tracking():
    task = make_task(num_envs=2, addNoise=False)
    task.reset()
    task.step(torch.zeros(2, 12))
    assert torch.all(task.rew_buf >= 0.0)
    assert wrap_to_pi(torch.tensor([3 * math.pi / 2, -3 * math.pi / 2])).tolist() == pytest.approx([-math.pi / 2, math.pi / 2])


@pytest.mark.gpu
def test_the_cuda_step_on_the_full_map_stays_in_one_graph_and_finite():
    # the shipped map (10 x 20 tiles, randomization on) on MuJoCo Warp: pieces of heightfield keep contacts sane
    from conftest import step_graph_without_host_sync

    cfg = copy.deepcopy(BASE_CFG)
    cfg["env"]["numEnvs"] = 1024
    cfg["sim"]["backend"] = "warp"
    task = tasks.make("AnymalTerrain", cfg=cfg, rl_device="cuda:0", sim_device="cuda:0", graphics_device_id=0, headless=True)
    step_graph_without_host_sync(task, 300)
    assert bool((task.sim.qvel.abs() < 100).all())


def test_a_resumed_run_keeps_each_envs_terrain_row_and_column():
    task = make_task(num_envs=8)
    task.terrain_levels.copy_(torch.tensor([0, 1, 2, 2, 1, 0, 2, 1]))
    state = task.get_env_state()
    resumed = make_task(num_envs=8)
    resumed.set_env_state(state)
    assert resumed.terrain_levels.tolist() == [0, 1, 2, 2, 1, 0, 2, 1]
    assert resumed.terrain_types.tolist() == task.terrain_types.tolist()
    resumed.reset()  # the first reset keeps the rows and places the robots on their tiles
    assert resumed.terrain_levels.tolist() == [0, 1, 2, 2, 1, 0, 2, 1]
    torch.testing.assert_close(resumed.env_origins, task.tile_origins[resumed.terrain_levels, resumed.terrain_types])
    assert float((resumed.sim.root_pos[:, :2] - resumed.env_origins[:, :2]).abs().max()) <= 0.5 + 1e-5
    more = make_task(num_envs=16)  # another num_envs: rows drawn from the saved ones
    more.set_env_state(state)
    assert set(more.terrain_levels.tolist()) <= {0, 1, 2}


def test_the_mean_level_is_logged_per_terrain_kind():
    task = make_task(num_envs=8)
    levels, columns = torch.tensor([0, 1, 2, 2, 1, 0, 2, 1]), torch.tensor([0, 0, 1, 2, 2, 2, 3, 4])
    task.set_env_state({"terrain_levels": levels, "terrain_types": columns})
    episode = task.extras["episode"]
    assert episode["terrain_level"].item() == pytest.approx(levels.float().mean().item())
    for kind in task.level_kinds:
        envs = [i for i, column in enumerate(columns.tolist()) if task.terrain.kinds[column] == kind]
        assert episode[f"terrain_level_{kind}"].item() == pytest.approx(levels[envs].float().mean().item() if envs else 0.0), kind
