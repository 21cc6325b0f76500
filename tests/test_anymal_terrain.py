"""AnymalTerrain: robots spawn on their tiles, the curriculum moves them, and the observation and reward math."""

import copy
import math
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from isaac_rl import CFG_ROOT, tasks
from isaac_rl.tasks.anymal_terrain import REWARD_TERMS
from isaac_rl.tasks.base import locomotion
from isaac_rl.tasks.base.rewards import RewardTerms

BASE_CFG = OmegaConf.to_container(OmegaConf.load(CFG_ROOT / "task" / "AnymalTerrain.yaml"))
DT = 0.02


def make_task(num_envs=8, **learn):
    cfg = copy.deepcopy(BASE_CFG)
    cfg["env"]["numEnvs"] = num_envs
    cfg["env"]["terrain"].update(numLevels=3, numTerrains=5, borderSize=3.0)
    cfg["env"]["learn"].update(learn)
    cfg["sim"]["backend"] = "mujoco"
    return tasks.make("AnymalTerrain", cfg=cfg, rl_device="cpu", sim_device="cpu", graphics_device_id=0, headless=True)


def state_of(n=1, **inputs):
    """A task's state as the reward terms read it: standing still, level, nothing touching; `inputs` replace parts."""
    zeros3, zeros12 = torch.zeros(n, 3), torch.zeros(n, 12)
    state = dict(
        base_lin_vel=zeros3, base_ang_vel=zeros3, projected_gravity=torch.tensor([[0.0, 0.0, -1.0]]).expand(n, 3),
        base_height=torch.full((n,), 0.52), commands=zeros3, torques=zeros12, last_dof_vel=zeros12, dof_vel=zeros12,
        dof_pos=zeros12, default_dof_pos=torch.zeros(12), last_actions=zeros12, actions=zeros12,
        feet_forces=torch.zeros(n, 4, 3), collision_forces=torch.zeros(n, 4, 3), feet_air_time=torch.zeros(n, 4), dt=DT,
    )  # fmt: skip
    state.update(inputs)
    return SimpleNamespace(**state)


def terms_of(**inputs):
    """Each reward term unweighted, by name, and the feet's next air times."""
    state = state_of(**inputs)
    return {name: fn(state) for name, (fn, _) in REWARD_TERMS.items()}, locomotion.next_feet_air_time(state)


def reward_of(state):
    """The shipped config's reward (weights x dt, clipped at 0)."""
    learn = BASE_CFG["env"]["learn"]
    weights = {name: (fn, float(learn[key]) * DT) for name, (fn, key) in REWARD_TERMS.items()}
    return RewardTerms(weights, state.commands.shape[0], "cpu", clip_min=0.0).compute(state)


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
    assert task.obs_buf.shape == (8, task.observations.size) == (8, 188)


def test_curriculum_promotes_an_env_that_walked_off_its_tile_and_demotes_one_that_stayed():
    task = make_task(num_envs=3, addNoise=False)
    task.set_env_state({"terrain_levels": torch.tensor([0, 2, 1]), "terrain_types": task.terrain_types})
    task.reset()
    task.step(torch.zeros(3, 12))
    # env 0 has walked 4.5 m (more than half a tile): it is moved there and its episode ended
    state = task.sim.scene.actor_root_state("base")
    state[0, 0, 0] += 4.5
    task.sim.scene.write_root_state(torch.tensor([True, False, False]), "base", state)
    task.commands[1, :2] = torch.tensor([1.0, 0.0])  # env 1 was asked for 1 m/s but stayed put: demoted
    task.commands[2, :2] = 0.0  # env 2 was asked to stand and did: it stays
    task.progress_buf[:] = task.max_episode_length - 2  # the next step is the episodes' last
    task.step(torch.zeros(3, 12))
    assert task.terrain_levels.tolist() == [1, 1, 1]
    assert task.env_origins[0].tolist() == task.tile_origins[1, task.terrain_types[0]].tolist()
    assert task.env_origins[1].tolist() == task.tile_origins[1, task.terrain_types[1]].tolist()
    assert task.extras["episode"]["terrain_level"].item() == pytest.approx(1.0)


def test_pushes_set_a_horizontal_base_velocity_every_interval(monkeypatch):
    task = make_task(num_envs=4, pushInterval_s=0.1, addNoise=False)  # every 5 steps, all envs at once
    push = task.event_manager.scheduled["interval"][0]
    fired = []
    run = push.run
    monkeypatch.setattr(push, "run", lambda mask: (fired.append(mask.clone()), run(mask)))
    task.reset()
    for _ in range(10):
        task.step(torch.zeros(4, 12))
    assert [bool(mask.all()) for mask in fired] == [False] * 4 + [True] + [False] * 4 + [True]
    # the push itself: a horizontal base velocity in +-pushVelocity, the vertical one kept
    before = task.sim.root_lin_vel.clone()
    run(torch.ones(4, dtype=torch.bool))
    pushed = task.sim.root_lin_vel
    assert not torch.allclose(before[:, :2], pushed[:, :2]) and pushed[:, :2].abs().max() <= 1.0
    torch.testing.assert_close(pushed[:, 2], before[:, 2])


def test_heights_are_observed_relative_to_the_base_and_clipped():
    task = make_task(num_envs=2, addNoise=False)
    task.reset()
    task.measured_heights[:, :3] = torch.tensor([[0.0, 0.3, -2.0], [0.1, 0.1, 0.1]])
    task.compute_observations()
    heights = task.obs_buf[:, task.observations.layout["heights"]][:, :3]
    # (base z - 0.5 - ground) x 5, clipped to +-1 m first
    expected = torch.clamp(task.sim.root_pos[:, 2:3] - 0.5 - task.measured_heights[:, :3], -1.0, 1.0) * 5.0
    torch.testing.assert_close(heights, expected)
    assert heights[0, 2] == 5.0  # 2 m below: clipped


def test_noise_scales_follow_the_observation_layout():
    task = make_task(num_envs=1)
    scale, layout = task.observations.noise_vector(), task.observations.layout
    assert scale.shape == (task.num_observations,) == (188,)
    assert list(layout) == ["base_lin_vel", "base_ang_vel", "projected_gravity", "commands", "dof_pos", "dof_vel", "heights", "actions"]
    torch.testing.assert_close(scale[layout["base_lin_vel"]], torch.full((3,), 0.1 * 2.0))  # linear velocity noise x its scale
    assert scale[layout["commands"]].eq(0).all() and scale[layout["actions"]].eq(0).all()  # commands and last actions are exact
    torch.testing.assert_close(scale[layout["heights"]], torch.full((140,), 0.06 * 5.0))


def test_feet_earn_their_air_time_on_touchdown_only_when_asked_to_move():
    down = torch.zeros(1, 4, 3)
    down[0, 0, 2] = 50.0  # foot 0 touches down, the others are in the air
    air = torch.tensor([[0.6, 0.2, 0.0, 0.3]])
    moving = torch.tensor([[1.0, 0.0, 0.0]])
    terms, new_air = terms_of(feet_forces=down, feet_air_time=air, commands=moving)
    assert terms["feet_air_time"].item() == pytest.approx(0.6 + DT - 0.5)
    torch.testing.assert_close(new_air, torch.tensor([[0.0, 0.2 + DT, DT, 0.3 + DT]]))
    terms, _ = terms_of(feet_forces=down, feet_air_time=air, commands=torch.zeros(1, 3))
    assert terms["feet_air_time"].item() == 0.0


def test_penalty_terms_measure_what_they_name():
    knee = torch.zeros(1, 4, 3)
    knee[0, 1] = torch.tensor([0.0, 3.0, 0.0])  # one thigh pressed sideways by 3 N
    feet = torch.zeros(1, 4, 3)
    feet[0, 2] = torch.tensor([6.0, 0.0, 0.5])  # a foot hitting a step edge: large horizontal, little vertical force
    terms, _ = terms_of(
        base_lin_vel=torch.tensor([[0.0, 0.0, 0.5]]), base_ang_vel=torch.tensor([[0.3, 0.4, 2.0]]), collision_forces=knee,
        feet_forces=feet, actions=torch.full((1, 12), 0.5), dof_vel=torch.full((1, 12), 2.0),
    )  # fmt: skip
    assert terms["lin_vel_z"].item() == pytest.approx(0.25)
    assert terms["ang_vel_xy"].item() == pytest.approx(0.25)
    assert terms["collision"].item() == 1.0 and terms["stumble"].item() == 1.0
    assert terms["action_rate"].item() == pytest.approx(12 * 0.25)
    assert terms["joint_acc"].item() == pytest.approx(12 * 4.0)
    assert terms["tracking_ang_vel"].item() == pytest.approx(math.exp(-4.0 / 0.25))


def test_tracking_the_command_is_rewarded_more_than_not_and_the_reward_clips_at_zero():
    commands = torch.tensor([[1.0, 0.0, 0.5]])
    on_command = dict(base_lin_vel=torch.tensor([[1.0, 0.0, 0.0]]), base_ang_vel=torch.tensor([[0.0, 0.0, 0.5]]))
    tracking = reward_of(state_of(commands=commands, **on_command))
    standing = reward_of(state_of(commands=commands))
    sideways = reward_of(state_of(commands=commands, base_lin_vel=torch.tensor([[0.0, 1.0, 0.0]])))
    torch.testing.assert_close(tracking, torch.tensor([1.5 * DT]))  # both tracking terms in full, nothing else
    assert tracking > standing > 0.0 and tracking > sideways
    # a knee on the ground and thrashing joints cost more than tracking earns: clipped at 0
    thrashing = state_of(commands=commands, collision_forces=torch.full((1, 4, 3), 5.0), dof_vel=torch.full((1, 12), 30.0))
    assert reward_of(thrashing).item() == 0.0


def test_reward_equals_the_pre_parts_formula_on_random_states():
    # AnymalTerrain's reward as one function computed it before it was built from terms (8319df8), all weights on
    torch.manual_seed(0)
    n = 256
    r = lambda *shape: torch.randn(n, *shape)  # noqa: E731
    state = state_of(
        n, base_lin_vel=r(3), base_ang_vel=r(3), projected_gravity=r(3), base_height=0.5 + 0.1 * torch.randn(n), commands=r(3),
        torques=30 * r(12), last_dof_vel=r(12), dof_vel=r(12), dof_pos=r(12), default_dof_pos=torch.randn(12), last_actions=r(12),
        actions=r(12), feet_forces=10 * r(4, 3), collision_forces=2 * r(4, 3), feet_air_time=torch.rand(n, 4) * (torch.rand(n, 4) > 0.5),
    )  # fmt: skip
    s, lin_error = state, torch.sum(torch.square(state.commands[:, :2] - state.base_lin_vel[:, :2]), dim=1)
    contact = s.feet_forces[..., 2] > 1.0
    stumble = (torch.linalg.vector_norm(s.feet_forces[..., :2], dim=-1) > 5.0) & (s.feet_forces[..., 2].abs() < 1.0)
    old_terms = [
        torch.exp(-lin_error / 0.25), torch.exp(-torch.square(s.commands[:, 2] - s.base_ang_vel[:, 2]) / 0.25),
        torch.square(s.base_lin_vel[:, 2]), torch.sum(torch.square(s.base_ang_vel[:, :2]), dim=1),
        torch.sum(torch.square(s.projected_gravity[:, :2]), dim=1), torch.square(s.base_height - 0.52),
        torch.sum(torch.square(s.torques), dim=1), torch.sum(torch.square(s.last_dof_vel - s.dof_vel), dim=1),
        torch.sum(torch.linalg.vector_norm(s.collision_forces, dim=-1) > 1.0, dim=1).float(), torch.sum(stumble, dim=1).float(),
        torch.sum(torch.square(s.last_actions - s.actions), dim=1),
        torch.sum((s.feet_air_time + DT - 0.5) * ((s.feet_air_time > 0) & contact), dim=1) * (s.commands[:, :2].norm(dim=1) > 0.1),
        torch.sum(torch.abs(s.dof_pos[:, 0::3] - s.default_dof_pos[0::3]), dim=1),
    ]  # fmt: skip
    weights = [1.0, 0.5, -4.0, -0.05, -0.1, -0.2, -0.00002, -0.0005, -0.25, -0.3, -0.01, 1.0, -0.05]
    expected = torch.clamp(sum(term * (w * DT) for term, w in zip(old_terms, weights)), min=0.0)
    keys = [key for _, key in REWARD_TERMS.values()]
    terms = RewardTerms({name: (fn, w * DT) for (name, (fn, _)), w in zip(REWARD_TERMS.items(), weights)}, n, "cpu", clip_min=0.0)
    assert len(keys) == len(weights) and torch.equal(terms.compute(state), expected)
    torch.testing.assert_close(locomotion.next_feet_air_time(state), (s.feet_air_time + DT) * ~contact)


def test_heading_control_steers_the_yaw_rate_command_the_observation_sees():
    task = make_task(num_envs=8, addNoise=False)
    task.reset()
    # fresh from a reset the yaw rate already steers toward the drawn heading (it was 0 for a step)
    observed = task.obs_buf[:, task.observations.layout["commands"]][:, 2] / 0.25
    torch.testing.assert_close(observed, task.commands[:, 2])
    assert observed.abs().max() > 0.1
    task = make_task(num_envs=2, addNoise=False)
    task.reset()
    task.velocity_commands.heading[:] = torch.tensor([0.4, -3.0])
    task.step(torch.zeros(2, 12))
    # the command observed is the one the reward used this step: 0.5 x heading error, within +-1 rad/s
    observed = task.obs_buf[:, task.observations.layout["commands"]][:, 2] / 0.25
    torch.testing.assert_close(observed, task.commands[:, 2])
    assert task.commands[1, 2].item() == pytest.approx(-1.0) and 0.0 < task.commands[0, 2].item() < 0.5


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
