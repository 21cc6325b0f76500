"""AMP: discriminator math on known inputs, the replay buffer, the HumanoidAMP task on MuJoCo, and a run through train.py."""

import copy
import math

import pytest
import torch
from conftest import random_ops_run_by, run_train
from omegaconf import OmegaConf

from isaac_rl import ASSET_ROOT, CFG_ROOT, tasks
from isaac_rl.rlgames.amp.config import AMPConfig
from isaac_rl.rlgames.amp.losses import (
    MIN_ONE_MINUS_D,
    combine_rewards,
    discriminator_accuracy,
    discriminator_loss,
    gradient_penalty,
    squared_weight_norm,
    style_reward,
)
from isaac_rl.rlgames.amp.agent import EpochMeans
from isaac_rl.rlgames.amp.replay_buffer import AMPReplayBuffer
from isaac_rl.tasks.humanoid_amp import NUM_FRAME_FEATURES, HumanoidAMP, compute_forward_speed, heading_inverse
from isaac_rl.rlgames.checkpoint import load_checkpoint
from isaac_rl.utils.run_dirs import newest_run_dir
from isaac_rl.utils.torch_math import quat_from_angle_axis, quat_mul

BASE_CFG = OmegaConf.to_container(OmegaConf.load(CFG_ROOT / "task" / "HumanoidAMP.yaml"))


# -- discriminator math ------------------------------------------------------------
def test_discriminator_loss_on_known_logits():
    # logit 0 is D = 1/2 (BCE log 2 either way); logit ln 3 is D = 3/4 (BCE -ln 3/4 for a demo sample)
    loss = discriminator_loss(torch.tensor([0.0, 0.0]), torch.tensor([math.log(3.0)]))
    assert loss.item() == pytest.approx(0.5 * (math.log(2.0) - math.log(0.75)), rel=1e-6)
    # a confident, correct discriminator has a small loss; a confidently wrong one a large loss
    assert discriminator_loss(torch.tensor([-20.0]), torch.tensor([20.0])).item() < 1e-8
    assert discriminator_loss(torch.tensor([20.0]), torch.tensor([-20.0])).item() == pytest.approx(20.0, rel=1e-6)


def test_discriminator_accuracy_counts_correct_sides():
    policy_acc, demo_acc = discriminator_accuracy(torch.tensor([-1.0, 2.0, -3.0]), torch.tensor([1.0, -1.0]))
    assert policy_acc.item() == pytest.approx(2 / 3)
    assert demo_acc.item() == pytest.approx(0.5)


def test_style_reward_is_minus_log_one_minus_d_scaled_and_clamped():
    reward = style_reward(torch.tensor([0.0, math.log(3.0), 50.0]), scale=2.0)
    expected = [2.0 * math.log(2.0), 2.0 * math.log(4.0), -2.0 * math.log(MIN_ONE_MINUS_D)]
    assert reward.tolist() == pytest.approx(expected, rel=1e-5)


def test_rewards_combine_by_their_weights():
    combined = combine_rewards(torch.tensor([1.0, 2.0]), torch.tensor([10.0, 20.0]), task_weight=0.5, style_weight=0.1)
    assert combined.tolist() == pytest.approx([1.5, 3.0])


def test_gradient_penalty_is_zero_for_a_constant_discriminator():
    disc = torch.nn.Linear(5, 1)
    torch.nn.init.zeros_(disc.weight)
    torch.nn.init.constant_(disc.bias, 3.0)
    inputs = torch.randn(16, 5, requires_grad=True)
    assert gradient_penalty(disc(inputs), inputs).item() == 0.0


def test_gradient_penalty_of_a_linear_discriminator_is_its_squared_weight_norm():
    disc = torch.nn.Linear(3, 1)
    with torch.no_grad():
        disc.weight.copy_(torch.tensor([[1.0, -2.0, 2.0]]))
    inputs = torch.randn(8, 3, requires_grad=True)
    penalty = gradient_penalty(disc(inputs), inputs)
    assert penalty.item() == pytest.approx(9.0)
    # the penalty is differentiable in the weights: d(|w|^2)/dw = 2w
    penalty.backward()
    assert disc.weight.grad[0].tolist() == pytest.approx([2.0, -4.0, 4.0])


def test_squared_weight_norm_sums_every_entry():
    assert squared_weight_norm([torch.tensor([1.0, 2.0]), torch.tensor([[3.0]])]).item() == pytest.approx(14.0)


def test_amp_config_reads_and_checks_the_train_keys():
    cfg = AMPConfig.from_train_config({"amp_batch_size": 64, "disc_coef": 2, "normalize_amp_input": False})
    assert (cfg.amp_batch_size, cfg.disc_coef, cfg.normalize_amp_input, cfg.disc_grad_penalty) == (64, 2.0, False, 5.0)
    with pytest.raises(ValueError, match="amp_replay_keep_prob=1.5: expected a probability"):
        AMPConfig.from_train_config({"amp_replay_keep_prob": 1.5})
    with pytest.raises(ValueError, match="amp_batch_size=0: expected a positive integer"):
        AMPConfig.from_train_config({"amp_batch_size": 0})


# -- replay buffer -------------------------------------------------------------------
def _rows(start: int, stop: int) -> torch.Tensor:
    return torch.arange(start, stop, dtype=torch.float32).unsqueeze(1).repeat(1, 2)


def test_replay_buffer_keeps_the_newest_rows_up_to_its_capacity():
    buffer = AMPReplayBuffer(capacity=5, obs_dim=2, device="cpu")
    buffer.store(_rows(0, 3))
    assert len(buffer) == 3 and not buffer.is_full
    assert buffer.contents()[:, 0].tolist() == [0, 1, 2]
    buffer.store(_rows(3, 7))  # wraps around: 0 and 1 are evicted
    assert len(buffer) == 5 and buffer.is_full
    assert buffer.contents()[:, 0].tolist() == [2, 3, 4, 5, 6]
    buffer.store(_rows(10, 20))  # more than fits: only the newest 5 stay
    assert buffer.contents()[:, 0].tolist() == [15, 16, 17, 18, 19]
    samples = buffer.sample(100)
    assert samples.shape == (100, 2) and set(samples[:, 0].tolist()) <= {15.0, 16.0, 17.0, 18.0, 19.0}


def test_replay_buffer_stores_everything_while_filling_then_the_configured_share():
    buffer = AMPReplayBuffer(capacity=8, obs_dim=2, device="cpu")
    buffer.store_fraction(_rows(0, 6), keep_prob=0.25)
    assert len(buffer) == 6  # not full yet: all kept
    buffer.store_fraction(_rows(6, 10), keep_prob=0.25)
    assert buffer.is_full
    before = buffer.contents()
    buffer.store_fraction(_rows(100, 108), keep_prob=0.25)  # full: 2 of the 8 new rows replace the 2 oldest
    after = buffer.contents()
    assert after[:6].tolist() == before[2:].tolist()
    kept = after[6:, 0].tolist()
    assert len(set(kept)) == 2 and all(100 <= k < 108 for k in kept)
    buffer.store_fraction(_rows(200, 208), keep_prob=0.0)
    assert buffer.contents().tolist() == after.tolist()


def test_an_empty_replay_buffer_samples_the_given_rows():
    buffer = AMPReplayBuffer(capacity=4, obs_dim=2, device="cpu")
    assert buffer.sample(3, when_empty=_rows(7, 10)).tolist() == _rows(7, 10).tolist()
    buffer.store(_rows(1, 2))
    assert buffer.sample(3, when_empty=_rows(7, 10)).tolist() == _rows(1, 2).repeat(3, 1).tolist()


def test_epoch_means_average_what_was_added_since_the_last_clear():
    means = EpochMeans(("a", "b"), "cpu")
    assert means.means() == {}
    means.add(torch.tensor(1.0), torch.tensor([2.0]))
    means.add(torch.tensor(3.0), torch.tensor([6.0]))
    assert means.means() == {"a": 2.0, "b": 4.0}
    means.clear()
    means.add(torch.tensor(5.0), torch.tensor(0.0))
    assert means.means() == {"a": 5.0, "b": 0.0}


# -- the task ----------------------------------------------------------------------------
def make_task(num_envs: int = 4, **env) -> HumanoidAMP:
    cfg = copy.deepcopy(BASE_CFG)
    cfg["env"].update(numEnvs=num_envs, **env)
    cfg["sim"]["backend"] = "mujoco"
    return tasks.make("HumanoidAMP", cfg=cfg, rl_device="cpu", sim_device="cpu", graphics_device_id=0, headless=True)


@pytest.fixture(scope="module")
def task():
    torch.manual_seed(0)
    return make_task(num_envs=4, stateInit="Random")


def test_observation_and_amp_observation_shapes(task):
    steps = task.num_amp_obs_steps
    assert task.amp_observation_space.shape == (steps * NUM_FRAME_FEATURES,)
    obs = task.reset()["obs"]
    assert obs.shape == (4, NUM_FRAME_FEATURES)
    obs, rew, resets, extras = task.step(torch.zeros(4, 28))
    assert extras["amp_obs"].shape == (4, steps * NUM_FRAME_FEATURES)
    assert "forward_speed" in extras["episode"]
    demo = task.fetch_amp_obs_demo(7)
    assert demo.shape == (7, steps * NUM_FRAME_FEATURES) and torch.isfinite(demo).all()


def test_amp_history_shifts_by_one_frame_per_step(task):
    task.reset()
    previous = task.extras["amp_obs"].clone()
    _, _, _, extras = task.step(0.1 * torch.ones(4, 28))
    current = extras["amp_obs"]
    # nothing was reset on this step (resets of done envs happen on the next): the old newest frame is now second
    torch.testing.assert_close(current[:, NUM_FRAME_FEATURES : 2 * NUM_FRAME_FEATURES], previous[:, :NUM_FRAME_FEATURES])
    assert not torch.equal(current[:, :NUM_FRAME_FEATURES], previous[:, :NUM_FRAME_FEATURES])


def test_reset_by_reference_puts_the_humanoid_in_the_reference_pose(task):
    task.reset()
    ids, times = task.reset_motion_ids, task.reset_motion_times
    assert (ids >= 0).all()
    assert (times > 0).any()  # Random init: times across the clip, not only its start
    state = task.motion_lib.get_motion_state(ids, times)
    torch.testing.assert_close(task.sim.dof_pos, state.dof_pos)
    torch.testing.assert_close(task.sim.root_pos, state.root_pos)
    torch.testing.assert_close(task.sim.root_quat, state.root_rot)
    torch.testing.assert_close(task.sim.dof_vel, state.dof_vel)
    torch.testing.assert_close(task.sim.root_ang_vel, state.root_ang_vel, atol=1e-5, rtol=1e-5)
    # the policy's AMP observation after the reset is the demo observation of the same moment
    # (key bodies from the physics model agree with the motion library's to within millimetres)
    demo_like = task._motion_history(ids, times)[0].reshape(4, -1)
    torch.testing.assert_close(task.extras["amp_obs"], demo_like, atol=5e-3, rtol=0)


def test_default_and_hybrid_state_init():
    default = make_task(num_envs=3, stateInit="Default")
    default.reset()
    assert torch.equal(default.sim.dof_pos, torch.zeros(3, 28))
    assert (default.reset_motion_ids == -1).all()
    # a Default env has no past: its AMP history repeats its first frame
    amp = default.extras["amp_obs"]
    torch.testing.assert_close(amp[:, :NUM_FRAME_FEATURES], amp[:, NUM_FRAME_FEATURES:])

    hybrid = make_task(num_envs=64, stateInit="Hybrid", hybridInitProb=0.5)
    torch.manual_seed(1)
    hybrid.reset()
    from_reference = hybrid.reset_motion_ids >= 0
    assert 0 < from_reference.sum() < 64  # a per-env mix
    assert torch.equal(hybrid.sim.dof_pos[~from_reference], torch.zeros(int((~from_reference).sum()), 28))
    state = hybrid.motion_lib.get_motion_state(hybrid.reset_motion_ids[from_reference], hybrid.reset_motion_times[from_reference])
    torch.testing.assert_close(hybrid.sim.dof_pos[from_reference], state.dof_pos)


@pytest.mark.parametrize("state_init", ["Random", "Hybrid"])
def test_a_reset_draws_all_its_random_numbers_in_one_call(state_init):
    # torch.compile may reorder separate draws (torch 2.11's Inductor does): the compiled step would start other clip times
    task = make_task(num_envs=4, stateInit=state_init)
    task.reset()
    mask = torch.tensor([True, False, True, False])
    assert random_ops_run_by(lambda: task.reset_idx(mask)) == ["aten.rand.default"]


def test_a_fallen_humanoid_is_reset():
    task = make_task(num_envs=2, stateInit="Default", maxEpisodeLength=300)
    task.reset()
    ended = torch.zeros(2, dtype=torch.bool)
    for _ in range(150):  # limp joints at their lower limits: the humanoid collapses
        _, _, resets, extras = task.step(-torch.ones(2, 28))
        ended |= resets.bool() & ~extras["time_outs"].bool()
    assert ended.all()


def test_features_ignore_heading_and_forward_speed_follows_it():
    yaw = quat_from_angle_axis(torch.tensor([0.0, 1.2]), torch.tensor([[0.0, 0.0, 1.0]] * 2))
    # rotating the root about the vertical leaves its heading-frame rotation unchanged
    tilt = quat_from_angle_axis(torch.tensor([0.3, 0.3]), torch.tensor([[1.0, 0.0, 0.0]] * 2))
    root = quat_mul(yaw, tilt)
    local = quat_mul(heading_inverse(root), root)
    torch.testing.assert_close(local[0], local[1])
    # facing +y (yaw pi/2) and moving along +y at 2 m/s is 2 m/s forward
    facing_y = quat_from_angle_axis(torch.tensor([math.pi / 2]), torch.tensor([[0.0, 0.0, 1.0]]))
    assert compute_forward_speed(facing_y, torch.tensor([[0.0, 2.0, 0.0]])).item() == pytest.approx(2.0, abs=1e-6)


def test_bad_task_config_is_refused_clearly():
    with pytest.raises(FileNotFoundError, match="env.motion_file 'motions/none.npz' not found"):
        make_task(motion_file="motions/none.npz")
    with pytest.raises(ValueError, match="env.stateInit='Sometimes': accepted Default, Start, Random, Hybrid"):
        make_task(stateInit="Sometimes")
    with pytest.raises(ValueError, match="numAMPObsSteps=1"):
        make_task(numAMPObsSteps=1)


# -- a run through scripts/train.py ----------------------------------------------------------
TINY = [
    "task=HumanoidAMP",
    "train.params.config.amp_obs_demo_buffer_size=256",
    "train.params.config.amp_replay_buffer_size=128",
    "train.params.config.amp_batch_size=32",
    "train.params.config.amp_minibatch_size=16",
    "train.params.network.mlp.units=[32,32]",
    "train.params.network.disc.units=[32,32]",
]


@pytest.mark.parametrize("algo", ["amp_continuous", "amp_continuous_stock"])  # isaac_rl's agent, and on rl_games' own
def test_amp_trains_saves_the_discriminator_and_plays(algo, tmp_path):
    result = run_train(
        *TINY, "num_envs=8", "max_iterations=2", "train.params.config.horizon_length=8", f"train.params.algo.name={algo}",
        "train.params.config.minibatch_size=32", "train.params.config.mini_epochs=2", cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "amp epoch 2: style reward" in result.stdout
    checkpoints = sorted((newest_run_dir(tmp_path / "runs" / "HumanoidAMP") / "nn").glob("*.pth"))
    assert checkpoints, result.stdout[-2000:]
    model = load_checkpoint(checkpoints[-1])["model"]
    assert "a2c_network.disc_logits.weight" in model and "amp_mean_std.running_mean" in model
    assert model["amp_mean_std.count"].item() > 1  # the normalizer saw the rollouts' AMP observations
    events = b"".join(p.read_bytes() for p in (newest_run_dir(tmp_path / "runs" / "HumanoidAMP") / "summaries").iterdir())
    for tag in (b"amp/disc_loss", b"amp/disc_demo_acc", b"amp/style_reward", b"amp/disc_grad_penalty"):
        assert tag in events

    played = run_train(*TINY, "num_envs=4", "test=True", f"checkpoint={checkpoints[-1]}", cwd=tmp_path, timeout=300)
    assert played.returncode == 0, played.stdout[-3000:] + played.stderr[-3000:]
    assert "isaac_rl: played " in played.stdout and "av style reward per step:" in played.stdout


@pytest.mark.gpu
def test_cuda_graph_step_matches_the_eager_step():
    def rollout(use_graph: bool) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = copy.deepcopy(BASE_CFG)
        cfg["env"].update(numEnvs=32, stateInit="Start")  # resets to the clip start: the same in both runs
        cfg["sim"].update(backend="warp", use_cuda_graph=use_graph)
        env = tasks.make("HumanoidAMP", cfg=cfg, rl_device="cuda:0", sim_device="cuda:0", graphics_device_id=0, headless=True)
        assert env.use_cuda_graph == use_graph
        torch.manual_seed(0)
        env.reset()
        actions = 0.3 * torch.sin(torch.arange(32 * 28, device="cuda:0").view(32, 28) / 5.0)
        amp, resets = [], []
        for k in range(12):
            _, _, done, extras = env.step(actions * (-1) ** k)
            amp.append(extras["amp_obs"].clone())
            resets.append(done.clone())
        return torch.stack(amp), torch.stack(resets)

    graph_amp, graph_resets = rollout(True)
    eager_amp, eager_resets = rollout(False)
    assert torch.equal(graph_resets, eager_resets)
    torch.testing.assert_close(graph_amp, eager_amp, atol=1e-3, rtol=1e-3)
    # the captured step keeps aging the AMP history
    torch.testing.assert_close(graph_amp[1:, :, NUM_FRAME_FEATURES:], graph_amp[:-1, :, :NUM_FRAME_FEATURES])


@pytest.mark.parametrize("ground", [True, False])
def test_a_sunken_clip_is_put_back_on_the_floor(tmp_path, ground):
    from dataclasses import replace

    from isaac_rl.motion import load_motion_npz, save_motion_npz

    walk = load_motion_npz(ASSET_ROOT / "motions" / "humanoid_walk.npz")
    sunken = tmp_path / "sunken_walk.npz"
    save_motion_npz(sunken, replace(walk, root_translation=walk.root_translation - [0.0, 0.0, 0.06]))
    task = make_task(num_envs=2, motion_file=str(sunken), groundMotions=ground)
    frames = task.motion_lib.clip_frames(0)
    lowest = task.sim.ground_clearance(torch.cat((frames.root_pos, frames.root_rot, frames.dof_pos), dim=1)).min().item()
    # the authored walk keeps one sole on the floor; sunk 6 cm it is put back (or left inside the floor when asked)
    assert lowest == pytest.approx(0.0 if ground else -0.06, abs=2e-3)
    task.reset()
    if ground:
        assert task.sim.ground_clearance(task.sim.qpos).min().item() > -2e-3  # reference inits start on, not in, the floor
