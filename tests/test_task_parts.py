"""The parts tasks are built from, each on its own: reward terms, observation groups, commands, VecTask's episode, tile kinds."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from isaac_rl import CFG_ROOT, tasks
from isaac_rl.rlgames.observer import RLGPUAlgoObserver
from isaac_rl.tasks.base.commands import VelocityCommands
from isaac_rl.tasks.base.observations import ObservationGroup, ObsTerm
from isaac_rl.tasks.base.rewards import RewardTerms
from isaac_rl.tasks.base.vec_task import VecTask
from isaac_rl.terrain import TerrainConfig, generate_terrain, register_tile_kind
from isaac_rl.terrain.sub_terrains import TILE_KINDS
from isaac_rl.utils.torch_math import quat_from_angle_axis

# -- reward terms ---------------------------------------------------------------------


def test_a_terms_episode_sum_adds_its_weighted_values_until_the_env_resets():
    terms = RewardTerms({"speed": (lambda t: t.speed, 2.0), "effort": (lambda t: t.effort, -0.5)}, 2, "cpu")
    state = SimpleNamespace(speed=torch.tensor([1.0, 3.0]), effort=torch.tensor([2.0, 0.0]))
    reward = terms.compute(state)
    torch.testing.assert_close(reward, torch.tensor([2.0 - 1.0, 6.0]))
    terms.compute(state)
    sums = terms.episode_extras()
    torch.testing.assert_close(sums["rew_speed"], torch.tensor([4.0, 12.0]))
    torch.testing.assert_close(sums["rew_effort"], torch.tensor([-2.0, 0.0]))
    terms.reset(torch.tensor([True, False]))
    # the logged sums still hold the ended episode until the next step's reward
    torch.testing.assert_close(sums["rew_speed"], torch.tensor([4.0, 12.0]))
    terms.compute(state)
    torch.testing.assert_close(sums["rew_speed"], torch.tensor([2.0, 18.0]))


def test_a_zero_weight_term_is_never_computed_or_logged():
    def must_not_run(_):
        raise AssertionError("a zero-weight term was computed")

    terms = RewardTerms({"alive": (lambda t: torch.ones(3), 1.0), "stumble": (must_not_run, 0.0)}, 3, "cpu")
    torch.testing.assert_close(terms.compute(None), torch.ones(3))
    assert terms.names == ["alive"] and list(terms.episode_extras()) == ["rew_alive"]


def test_the_reward_clips_from_below_but_the_terms_sums_do_not():
    terms = RewardTerms({"cost": (lambda t: torch.tensor([1.0, -1.0]), -1.0)}, 2, "cpu", clip_min=0.0)
    torch.testing.assert_close(terms.compute(None), torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(terms.episode_extras()["rew_cost"], torch.tensor([-1.0, 1.0]))


def test_a_malformed_term_is_refused():
    with pytest.raises(ValueError, match="reward term 'speed': expected \\(function, weight\\)"):
        RewardTerms({"speed": 1.0}, 2, "cpu")


def test_the_training_log_averages_term_sums_over_ended_episodes_and_shows_the_largest():
    observer = RLGPUAlgoObserver()
    game = SimpleNamespace(current_size=0)
    algo = SimpleNamespace(ppo_device="cpu", writer=None, frame=100, curr_frames=100, max_epochs=10, game_rewards=game)
    observer.after_init(algo)
    sums = {f"rew_{k}": torch.tensor([v, 10 * v, 100 * v]) for k, v in (("a", 1.0), ("b", -2.0), ("c", 0.1), ("d", 3.0), ("e", 0.5))}
    observer.process_infos({"episode_sums": sums}, torch.tensor([True, False, False]))  # env 0's episode ended
    observer.process_infos({"episode_sums": sums}, torch.tensor([1, 2]))  # then envs 1 and 2 (rl_games' indices)
    lines = []
    observer._epoch_line = lambda frame, epoch, time, means: lines.append(means) or ""
    observer.after_print_stats(100, 1, 1.0)
    means = lines[0]
    assert means["rew_a"] == pytest.approx((1 + 10 + 100) / 3) and means["rew_b"] == pytest.approx(-2 * 111 / 3)
    del observer._epoch_line
    line = observer._epoch_line(100, 1, 1.0, means)
    # the four largest terms by magnitude, not the smallest
    assert "rew_d" in line and "rew_b" in line and "rew_a" in line and "rew_e" in line and "rew_c" not in line


# -- observation groups ---------------------------------------------------------------


def make_group(noise_level=None):
    return ObservationGroup(
        {
            "velocity": ObsTerm(lambda t: t.velocity, 3, scale=2.0, noise=0.1),
            "command": ObsTerm(lambda t: t.command, 2, scale=(2.0, 0.25)),
            "height": ObsTerm(lambda t: t.height, 1, scale=5.0, clip=1.0, noise=0.02),
        },
        noise_level=noise_level,
    ).to("cpu")


def test_an_observation_group_gives_its_size_layout_and_scaled_clipped_values():
    group = make_group()
    assert group.size == 6
    assert group.layout == {"velocity": slice(0, 3), "command": slice(3, 5), "height": slice(5, 6)}
    state = SimpleNamespace(velocity=torch.tensor([[1.0, 2.0, 3.0]]), command=torch.tensor([[1.0, 4.0]]), height=torch.tensor([[-3.0]]))
    torch.testing.assert_close(group.compute(state), torch.tensor([[2.0, 4.0, 6.0, 2.0, 1.0, -5.0]]))  # height: clipped, then x 5
    assert "height" in group.describe() and "clip +-1.0" in group.describe()


def test_the_noise_vector_follows_the_layout_and_noise_stays_inside_it():
    group = make_group(noise_level=2.0)
    torch.testing.assert_close(group.noise_vector(), torch.tensor([0.4, 0.4, 0.4, 0.0, 0.0, 0.2]))  # noise x scale x level
    state = SimpleNamespace(velocity=torch.zeros(5000, 3), command=torch.zeros(5000, 2), height=torch.zeros(5000, 1))
    obs = group.compute(state)
    assert (obs[:, 3:5] == 0).all()  # no noise on the command
    assert obs[:, 0].abs().max() <= 0.4 and obs[:, 0].abs().max() > 0.35
    assert obs[:, 5].abs().max() <= 0.2 and obs[:, 5].std() > 0.05
    assert (make_group().compute(state) == 0).all()  # without a noise level, no draw at all


def test_a_term_with_the_wrong_number_of_scales_is_refused():
    with pytest.raises(ValueError, match="an observation term of size 3 got 2 scales"):
        ObservationGroup({"v": ObsTerm(lambda t: t, 3, scale=(1.0, 2.0))})


class PrivilegedCartpole(VecTask):
    """A cartpole whose actor sees the pole alone and whose critic also sees the cart: both declared as groups."""

    def __init__(self, cfg, *args, **kwargs):
        self.actor_obs = ObservationGroup({"pole": ObsTerm(lambda t: t.sim.dof_pos[:, 1:], 1)})
        self.critic_obs = ObservationGroup({**self.actor_obs.terms, "cart": ObsTerm(lambda t: t.sim.dof_pos[:, :1], 1, scale=0.5)})
        cfg["env"].update(numObservations=self.actor_obs.size, numStates=self.critic_obs.size, numActions=1)
        super().__init__(cfg, *args, **kwargs)
        self.actor_obs.to(self.device), self.critic_obs.to(self.device)

    def create_sim(self):
        return self.make_sim("mjcf/cartpole.xml")

    def pre_physics_step(self, actions):
        self.sim.set_ctrl(actions)

    def compute_observations(self):
        self.obs_buf[:] = self.actor_obs.compute(self)
        self.states_buf[:] = self.critic_obs.compute(self)

    def compute_reward(self):
        self.rew_buf[:] = 1.0

    def reset_idx(self, env_mask):
        positions = torch.rand((self.num_envs, 2), device=self.device) - 0.5
        self.sim.reset_envs(env_mask, positions, torch.zeros_like(positions))


def test_an_asymmetric_critic_declares_its_states_as_a_group():
    cfg = {"env": {"numEnvs": 2, "maxEpisodeLength": 10}, "sim": {"dt": 0.02, "backend": "mujoco"}}
    env = PrivilegedCartpole(cfg, "cpu", "cpu", 0, True)
    obs = env.reset()
    assert obs["obs"].shape == (2, 1) and obs["states"].shape == (2, 2) and env.state_space.shape == (2,)
    pole, cart = env.sim.dof_pos[:, 1:], env.sim.dof_pos[:, :1]
    torch.testing.assert_close(obs["states"], torch.cat((pole, 0.5 * cart), dim=1))  # the critic's layout: pole, cart
    torch.testing.assert_close(obs["obs"], env.sim.dof_pos[:, 1:])


# -- commands -------------------------------------------------------------------------

RANGES = {"linear_x": [-2.0, 2.0], "linear_y": [-1.0, 1.0], "yaw": [-0.5, 0.0]}


def test_commands_are_drawn_inside_their_ranges_for_the_masked_envs_only():
    commands = VelocityCommands(RANGES, 10_000, "cpu")
    mask = torch.arange(10_000) % 2 == 0
    commands.resample(mask)
    drawn, kept = commands.commands[mask], commands.commands[~mask]
    for column, (low, high) in enumerate(RANGES.values()):
        assert drawn[:, column].min() >= low and drawn[:, column].max() <= high
        assert drawn[:, column].max() - drawn[:, column].min() > 0.95 * (high - low)
    assert (kept == 0).all()


def test_the_deadband_zeroes_slow_commands_whole():
    commands = VelocityCommands({"linear_x": [-0.3, 0.3], "linear_y": [-0.3, 0.3], "yaw": [1.0, 2.0]}, 4000, "cpu", deadband=0.25)
    commands.resample(torch.ones(4000, dtype=torch.bool))
    speed = torch.linalg.vector_norm(commands.commands[:, :2], dim=1)
    zeroed = speed == 0
    assert zeroed.any() and (~zeroed).any()
    assert (speed[~zeroed] > 0.25).all() and (commands.commands[zeroed, 2] == 0).all()
    assert (commands.commands[~zeroed, 2] >= 1.0).all()


def test_commands_are_resampled_every_interval_the_first_one_drawn_at_a_reset_included():
    commands = VelocityCommands(RANGES, 8, "cpu", resampling_steps=3)
    upright = torch.tensor([[1.0, 0.0, 0.0, 0.0]]).expand(8, 4)
    # a reset's step: the task draws (reset_idx), then updates (update_state) as in every step
    commands.resample(torch.ones(8, dtype=torch.bool))
    commands.update(upright)
    history = [commands.commands.clone()]
    for _ in range(6):
        commands.update(upright)
        history.append(commands.commands.clone())
    changed = [not torch.equal(a, b) for a, b in zip(history, history[1:])]
    # each command holds for 3 steps, the reset's one too (it held for 2 when the reset's update counted down first)
    assert changed == [False, False, True, False, False, True]


def test_heading_control_turns_the_heading_error_into_a_clipped_yaw_rate():
    commands = VelocityCommands({"linear_x": [1.0, 1.0], "linear_y": [0.0, 0.0], "yaw": [0.0, 0.0]}, 3, "cpu", heading_control=True)
    commands.resample(torch.ones(3, dtype=torch.bool))
    commands.heading[:] = torch.tensor([0.4, 3.0, -3.0])
    assert (commands.commands[:, 2] == 0).all()  # until update sees the base
    yaw = torch.tensor([0.0, -3.0, 3.0])
    quat = quat_from_angle_axis(yaw, torch.tensor([0.0, 0.0, 1.0]))
    commands.update(quat)
    # 0.5 x error; env 1's error of 6 rad wraps to 6 - 2 pi (turn the short way); env 2 likewise
    expected = torch.clamp(0.5 * torch.tensor([0.4, 6.0 - 2 * math.pi, -6.0 + 2 * math.pi]), -1.0, 1.0)
    torch.testing.assert_close(commands.commands[:, 2], expected)
    big = VelocityCommands(RANGES, 1, "cpu", heading_control=True)
    big.heading[:] = 3.0
    big.update(torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    assert big.commands[0, 2].item() == 1.0  # 1.5 rad/s asked, 1 allowed


def test_bad_command_ranges_are_refused():
    with pytest.raises(ValueError, match=r"randomCommandVelocityRanges.linear_y=\[1.0, -1.0\]: expected \[min, max\]"):
        VelocityCommands({**RANGES, "linear_y": [1.0, -1.0]}, 1, "cpu")
    with pytest.raises(ValueError, match=r"lacks \['yaw'\]"):
        VelocityCommands({"linear_x": [0, 1], "linear_y": [0, 1]}, 1, "cpu")


# -- the episode in VecTask ---------------------------------------------------------------


def make(name, num_envs, **env):
    cfg = OmegaConf.to_container(OmegaConf.load(CFG_ROOT / "task" / f"{name}.yaml"))
    cfg["env"].update(numEnvs=num_envs, **env)
    if "terrain" in cfg["env"]:  # a small map
        cfg["env"]["terrain"].update(numLevels=2, numTerrains=2, borderSize=2.0)
    cfg["sim"]["backend"] = "mujoco"
    return tasks.make(name, cfg=cfg, rl_device="cpu", sim_device="cpu", graphics_device_id=0, headless=True)


@pytest.mark.parametrize("same_step", [False, True])
def test_vec_task_times_episodes_out_and_resets_in_the_order_asked(same_step):
    env = make("Cartpole", 2, maxEpisodeLength=4, resetInSameStep=same_step)
    env.reset()
    zeros = torch.zeros(2, 1)
    for _ in range(2):
        _, _, done, extras = env.step(zeros)
        assert done.tolist() == [0, 0]
    state_before = torch.stack((env.cart_pos, env.cart_vel, env.pole_angle, env.pole_vel), dim=1).clone()
    obs, _, done, extras = env.step(zeros)  # the 3rd step of 4: progress 3 = maxEpisodeLength - 1
    assert done.tolist() == [1, 1] and extras["time_outs"].tolist() == [1, 1]
    state_now = torch.stack((env.cart_pos, env.cart_vel, env.pole_angle, env.pole_vel), dim=1)
    torch.testing.assert_close(obs["obs"], state_now)  # the observation is of the state the sim is in
    if same_step:
        # legged_gym's order: already the new episode's first observation, its progress 0
        assert env.progress_buf.tolist() == [0, 0] and (state_now[:, 0].abs() <= 0.1).all()
        assert not torch.allclose(state_now, state_before, atol=0.05)
    else:
        # IsaacGymEnvs': the final observation; the reset comes with the next step
        assert env.progress_buf.tolist() == [3, 3]
    _, _, done, _ = env.step(zeros)
    # no second reset; the step after the done flag counts 1 into the new episode (IsaacGymEnvs': reset in it, 0)
    assert done.tolist() == [0, 0] and env.progress_buf.tolist() == ([1, 1] if same_step else [0, 0])


def test_after_a_same_step_reset_the_observed_command_is_the_new_episodes():
    env = make("AnymalTerrain", 2, resetInSameStep=True)
    env.reset()
    env.step(torch.zeros(2, 12))
    old_commands = env.commands.clone()
    env.reset_buf[0] = 1  # env 0's episode ends at the next step (as a termination would)
    env.progress_buf[0] = env.max_episode_length - 2
    obs, _, done, _ = env.step(torch.zeros(2, 12))
    assert done.tolist() == [1, 0]
    observed = obs["obs"][:, env.observations.layout["commands"]] / torch.tensor([2.0, 2.0, 0.25])
    torch.testing.assert_close(observed, env.commands, atol=1e-5, rtol=0)
    assert not torch.equal(env.commands[0], old_commands[0])  # drawn for the new episode, yaw rate steered already


# -- tile kinds -------------------------------------------------------------------------


def test_a_users_tile_kind_joins_the_map_through_the_registry():
    def ridge(tile):
        heights = np.zeros((tile.size, tile.size), dtype=np.float32)
        heights[:, tile.size // 4] = 0.1 + tile.difficulty  # a ridge across the tile, higher each row
        return heights

    register_tile_kind("ridge", ridge)
    try:
        config = TerrainConfig(num_levels=2, num_terrains=4, border_size=1.0, proportions=(0.5,), kinds=("stairs_up", "ridge"))
        terrain = generate_terrain(config)
        assert terrain.kinds == ["stairs_up", "stairs_up", "ridge", "ridge"]
        size = int(config.map_length / config.horizontal_scale)
        border = int(config.border_size / config.horizontal_scale)
        ridge_row1 = terrain.heightfield.heights[border + size : border + 2 * size, border + 2 * size + size // 4]
        assert np.allclose(ridge_row1, 0.1 + 0.5)
        with pytest.raises(ValueError, match=r"unknown \['bumps'\]; registered kinds: .*ridge"):
            TerrainConfig.from_task_cfg({"terrainKinds": ["stairs_up", "bumps"]})
    finally:
        del TILE_KINDS["ridge"]
