"""ShadowHand: the composed hand scene, observation types, goals, falls, consecutive successes, both backends."""

import copy
import importlib.util
import json
import math
import re
import subprocess
import sys

import pytest
import torch
from conftest import (
    REPO_ROOT,
    make_shipped_task,
    run_train,
    step_graph_without_host_sync,
)
from omegaconf import OmegaConf

from isaac_rl import CFG_ROOT, tasks
from isaac_rl.sim import shadow_hand as hand_scene
from isaac_rl.tasks.shadow_hand import rotation_distance, running_consecutive_successes
from isaac_rl.utils.torch_math import quat_rotate
from isaac_rl.utils.run_dirs import newest_run_dir

needs_hands = pytest.mark.skipif(importlib.util.find_spec("gymnasium_robotics") is None, reason='needs pip install -e ".[hands]"')

BASE_CFG = OmegaConf.to_container(OmegaConf.load(CFG_ROOT / "task" / "ShadowHand.yaml"))
# the cube dropped onto the palm, landing and rocking on it under random actions (0.4 s): MuJoCo Warp and C agree
# this long (27 steps, with both on MuJoCo's box-box collider; 14 when MuJoCo Warp took box-box pairs through its
# native CCD); then the two drift apart, as contact-rich scenes do
AGREEMENT_STEPS = 24
AGREEMENT_TOLERANCE = 2e-3


def make_hand(device="cpu", num_envs=4, backend="mujoco", **env):
    return make_shipped_task("ShadowHand", device, num_envs, backend, **env)


# -- math on known inputs -------------------------------------------------------


def test_rotation_distance_is_the_angle_of_the_relative_rotation():
    half = torch.tensor([0.3, 1.0, math.pi])
    quats = torch.stack((torch.cos(half / 2), torch.sin(half / 2), torch.zeros(3), torch.zeros(3)), dim=1)
    torch.testing.assert_close(rotation_distance(quats), half)


def test_consecutive_successes_average_only_the_episodes_that_end():
    average = torch.tensor([10.0])
    successes = torch.tensor([4.0, 30.0, 8.0])
    # only envs 0 and 2 end: their mean (6) enters with factor 0.1
    done = torch.tensor([True, False, True])
    torch.testing.assert_close(running_consecutive_successes(average, successes, done, 0.1), torch.tensor([0.1 * 6 + 0.9 * 10]))
    # no episode ends: unchanged
    torch.testing.assert_close(running_consecutive_successes(average, successes, torch.zeros(3, dtype=torch.bool), 0.1), average)


# -- the task on MuJoCo C ------------------------------------------------------


@needs_hands
@pytest.mark.parametrize(
    "obs_type, asymmetric, num_obs, num_states",
    [("openai", True, 42, 211), ("full_no_vel", False, 77, 0), ("full", False, 157, 0), ("full_state", False, 211, 0)],
)
def test_observation_types_have_isaacgymenvs_sizes(obs_type, asymmetric, num_obs, num_states):
    env = make_hand(num_envs=2, observationType=obs_type, asymmetric_observations=asymmetric)
    obs = env.reset()
    assert obs["obs"].shape == (2, num_obs) and env.num_states == num_states
    if num_states:
        assert obs["states"].shape == (2, num_states) and torch.isfinite(obs["states"]).all()
    obs, *_ = env.step(torch.zeros(2, 20))
    assert torch.isfinite(obs["obs"]).all()


def test_unknown_observation_type_is_refused_with_the_accepted_ones():
    with pytest.raises(ValueError, match="openai, full_no_vel, full, full_state"):
        make_hand(num_envs=1, observationType="pixels")


@needs_hands
def test_actions_are_joint_targets_over_the_control_range_with_a_moving_average():
    env = make_hand(num_envs=2, actionsMovingAverage=0.5)
    env.reset()
    lower, upper = env.sim.ctrl_range.unbind(1)
    env.prev_targets.copy_(lower.expand(2, -1))
    env.step(torch.ones(2, 20))
    # halfway between the previous targets (the lower ends) and the new ones (the upper ends)
    torch.testing.assert_close(env.sim.ctrl, (0.5 * (lower + upper)).expand(2, -1))


@needs_hands
def test_a_reached_goal_pays_the_bonus_and_gets_a_new_orientation_without_a_reset():
    env = make_hand(num_envs=2)
    env.reset()
    for _ in range(40):  # the cube settles in the palm
        env.step(torch.zeros(2, 20))
    # env 0's goal turned to the cube's orientation: reached at the next step
    env.goal_rot[0] = env.object_state[0, 3:7]
    _, reward, done, extras = env.step(torch.zeros(2, 20))
    assert bool(env.goal_reached[0]) and not bool(env.goal_reached[1])
    assert reward[0] > 250.0 > reward[1]
    assert env.successes.tolist() == [1.0, 0.0] and not done.any()
    old_goal, progress = env.goal_rot[0].clone(), int(env.progress_buf[0])
    env.step(torch.zeros(2, 20))
    assert not torch.allclose(env.goal_rot[0], old_goal)
    # the marker beside the hand shows the new goal; the episode carries on
    torch.testing.assert_close(env.sim.scene.actor_root_state("goal")[0, 0, 3:7], env.goal_rot[0])
    assert int(env.progress_buf[0]) == progress + 1 and env.successes[0] == 1.0
    assert extras["goals_reached"] is env.successes


@needs_hands
def test_a_dropped_cube_ends_the_episode_and_feeds_consecutive_successes():
    env = make_hand(num_envs=2)
    env.reset()
    env.step(torch.zeros(2, 20))
    env.successes[1] = 3.0
    state = env.sim.scene.actor_root_state("cube")
    state[:, :, 2] -= 0.3  # below the hand, farther than fallDistance (0.24 m) from the goal position
    env.sim.scene.write_root_state(torch.tensor([False, True]), "cube", state)
    _, _, done, extras = env.step(torch.zeros(2, 20))
    assert done.tolist() == [0, 1]
    # one episode ended with 3 goals: averaged in with factor 0.1
    torch.testing.assert_close(extras["consecutive_successes"], torch.tensor([0.3]))
    goals = env.goal_rot.clone()
    env.step(torch.zeros(2, 20))
    # back above the palm: 4 cm above the goal position, +-1 cm per axis (resetPositionNoise), one step of falling
    assert env.successes[1] == 0.0 and env.goal_dist[1] < math.hypot(0.01, 0.01, 0.05) + 0.005
    # the reset env has a new goal, which the marker shows; the other keeps its own
    assert torch.equal(env.goal_rot[0], goals[0]) and not torch.allclose(env.goal_rot[1], goals[1])
    torch.testing.assert_close(env.sim.scene.actor_root_state("goal")[:, 0, 3:7], env.goal_rot)
    assert not env.goal_reached.any()


@needs_hands
def test_max_consecutive_successes_ends_the_episode_at_the_last_goal():
    # every orientation is within pi of the goal: a goal at every step, so the second step ends the episode
    env = make_hand(num_envs=2, maxConsecutiveSuccesses=2, successTolerance=math.pi)
    env.reset()
    _, _, done, _ = env.step(torch.zeros(2, 20))
    assert not done.any() and env.successes.tolist() == [1.0, 1.0]
    assert env.progress_buf.tolist() == [0, 0]  # each goal restarts the time limit
    _, _, done, extras = env.step(torch.zeros(2, 20))
    assert done.tolist() == [1, 1]
    torch.testing.assert_close(extras["consecutive_successes"], torch.tensor([0.2]))


@needs_hands
def test_a_goal_reached_at_the_last_step_restarts_the_time_limit_before_the_time_out():
    # a goal at every step (tolerance pi); the step taken would be the episode's last
    env = make_hand(num_envs=2, maxConsecutiveSuccesses=50, successTolerance=math.pi, fallPenalty=-50.0)
    env.reset()
    env.progress_buf[:] = env.max_episode_length - 2
    _, _, done, extras = env.step(torch.zeros(2, 20))
    assert not done.any() and not extras["time_outs"].any() and env.progress_buf.tolist() == [0, 0]
    assert (extras["episode_sums"]["rew_timeout_penalty"] == 0).all()  # IsaacGymEnvs pays half the fall penalty only on a time-out


@needs_hands
def test_reset_time_sets_the_episode_length_in_seconds():
    # IsaacGymEnvs' ShadowHandOpenAI_FF: 8 s at 20 Hz (3 steps of 1/60 s per action)
    env = make_hand(num_envs=1, resetTime=8.0, controlFrequencyInv=3)
    assert env.max_episode_length == 160 and env.dt == pytest.approx(0.05, rel=1e-4)
    assert make_hand(num_envs=1).max_episode_length == BASE_CFG["env"]["maxEpisodeLength"]  # resetTime 0: the step count


@needs_hands
def test_pushes_on_the_cube_are_drawn_per_env_and_decay():
    envs = 256
    env = make_hand(num_envs=envs, forceScale=2.0, forceProbRange=[1.0, 1.0])  # every env pushes at every step
    env.reset()
    cube_quat = env.object_state[:, 3:7].clone()  # the pose the step's push is applied in (random at reset)
    env.step(torch.zeros(envs, 20))
    cube = env.cube_body
    applied = env.sim.scene.xfrc_applied[:, cube]
    # drawn in the cube's frame and applied turned with it, as IsaacGymEnvs' LOCAL_SPACE forces
    torch.testing.assert_close(applied[:, 0:3], quat_rotate(cube_quat, env.cube_push))
    assert not torch.allclose(applied[:, 0:3], env.cube_push, atol=1e-3)
    assert (applied[:, 3:6] == 0).all() and (env.sim.scene.xfrc_applied[:, :cube] == 0).all()  # a force on the cube alone
    expected_std = 2.0 * float(env.sim.info.body_mass[cube])  # forceScale x the cube's mass, N(0, 1) per axis
    assert env.cube_push.std().item() == pytest.approx(expected_std, rel=0.1)
    # no new pushes: the last one decays by forceDecay ** (sim.dt / forceDecayInterval) each env step
    env.push_prob.zero_()
    before = env.cube_push.clone()
    env.step(torch.zeros(envs, 20))
    decay = BASE_CFG["env"]["forceDecay"] ** (BASE_CFG["sim"]["dt"] / BASE_CFG["env"]["forceDecayInterval"])
    torch.testing.assert_close(env.cube_push, decay * before)
    # a reset clears the env's push and draws its probability again (here 1: forceProbRange [1, 1])
    half = envs // 2
    env.reset_buf[:half] = 1
    env.step(torch.zeros(envs, 20))
    assert (env.cube_push[:half] == 0).all() and (env.push_prob[:half] == 1).all()
    torch.testing.assert_close(env.cube_push[half:], decay**2 * before[half:])
    assert (env.push_prob[half:] == 0).all()
    # the shipped ShadowHand does not push
    plain = make_hand(num_envs=2)
    plain.reset()
    plain.step(torch.zeros(2, 20))
    assert (plain.sim.scene.xfrc_applied == 0).all()


@needs_hands
def test_reset_puts_joints_near_zero_and_the_cube_above_the_palm_in_random_orientations():
    env = make_hand(num_envs=8)
    env.reset()
    span = env.sim.dof_limits[:, 1] - env.sim.dof_limits[:, 0]
    assert (env.sim.dof_pos.abs() <= 0.2 * span + 1e-6).all()
    cube = env.sim.scene.actor_root_state("cube")[:, 0]
    assert (cube[:, 0:3] - torch.tensor(hand_scene.CUBE_START)).abs().max() <= 0.01 + 1e-6
    assert torch.unique(cube[:, 3:7].round(decimals=3), dim=0).shape[0] == 8


@needs_hands
def test_masses_friction_and_gains_randomize_from_the_yaml():
    cfg_task = copy.deepcopy(BASE_CFG["task"])
    cfg = copy.deepcopy(BASE_CFG)
    cfg["env"].update(numEnvs=4)
    cfg["sim"]["backend"] = "mujoco"
    cfg["task"] = {**cfg_task, "randomize": True}
    env = tasks.make("ShadowHand", cfg=cfg, rl_device="cpu", sim_device="cpu", graphics_device_id=0, headless=True)
    params = env.sim.parameters
    for name in ("body_mass", "geom_friction", "actuator_gainprm"):
        values = params[name]
        assert not torch.allclose(values[0], values[1]), name
    env.reset()
    obs, *_ = env.step(torch.zeros(4, 20))
    assert torch.isfinite(obs["obs"]).all()


def test_without_gymnasium_robotics_one_line_names_the_extra(monkeypatch):
    monkeypatch.setattr(hand_scene.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match=r'pip install -e "\.\[hands\]"'):
        hand_scene.shadow_hand_scene()


@needs_hands
def test_evaluate_reports_the_goals_reached_per_played_episode():
    spec = importlib.util.spec_from_file_location("evaluate_script", REPO_ROOT / "scripts" / "evaluate.py")
    evaluate_script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(evaluate_script)
    # every orientation is within pi of the goal: a goal is reached at every step of every episode
    env = make_hand(num_envs=2, maxEpisodeLength=20, successTolerance=math.pi)
    result = evaluate_script.evaluate(env, lambda obs: torch.zeros(obs.shape[0], 20), episodes=1)
    assert result["episodes"] == 2
    assert result["consecutive_successes"] == pytest.approx(result["mean_length"]) and result["mean_length"] > 10
    assert ", consecutive successes" in evaluate_script.consecutive_successes_text(result)


@needs_hands
@pytest.mark.parametrize("task", ["ShadowHand", "ShadowHandOpenAI_FF"])  # the second with a central value network
def test_a_tiny_training_run_logs_consecutive_successes_and_its_policy_plays(task, tmp_path):
    result = run_train(
        f"task={task}", "num_envs=4", "max_iterations=2", "headless=True", "train.params.config.minibatch_size=32",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"^epoch 2/2: .*consecutive_successes \d", result.stdout, re.M), result.stdout[-2000:]
    checkpoint = next(newest_run_dir(tmp_path / "runs" / task).glob(f"nn/last_{task}_ep_2*.pth"))
    if task == "ShadowHandOpenAI_FF":
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
        critic_input = saved["assymetric_vf_nets"]["model.running_mean_std.running_mean"]
        assert critic_input.shape == (211,) and saved["model"]["running_mean_std.running_mean"].shape == (42,)
    played = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "evaluate.py"), f"task={task}", f"checkpoint={checkpoint}", "num_envs=4",
         "task.env.maxEpisodeLength=30", "task.env.resetTime=0"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert played.returncode == 0, played.stdout[-2000:] + played.stderr[-2000:]
    summary = json.loads(played.stdout.strip().splitlines()[-1])
    assert summary["episodes"] == 4 and summary["consecutive_successes"] >= 0.0
    assert re.search(rf"^{task}: 4 episodes on 4 envs .*consecutive successes \d+\.\d\d", played.stdout, re.M)


# -- MuJoCo Warp ----------------------------------------------------------------


def hand_state(env) -> dict[str, torch.Tensor]:
    """What a ShadowHand step reads besides its actions, on the CPU: the physics state (the hand's joints, the cube's
    and the goal marker's free joints) and the task's running buffers (targets, goal, goals reached, progress)."""
    state = {"qpos": env.sim.qpos, "qvel": env.sim.qvel, "progress": env.progress_buf}
    state.update({name: getattr(env, name) for name in ("prev_targets", "goal_pos", "goal_rot", "goal_reached", "successes")})
    return {key: value.detach().clone().cpu() for key, value in state.items()}


def set_hand_state(env, state: dict[str, torch.Tensor]) -> None:
    """Put `env` in `state` in place, on its device (a captured step graph reads these very tensors).

    Resets draw their start states from the device's random stream, which differs between devices for one seed:
    an env on another device (or backend) is put in the reference env's state instead.
    """
    everyone = torch.ones(env.num_envs, dtype=torch.bool, device=env.device)
    # also zeroes the controls and the solver's warm start, on either backend: every env set from one state starts alike
    env.sim.reset_envs(everyone, state["qpos"].to(env.device), state["qvel"].to(env.device))
    for name in ("prev_targets", "goal_pos", "goal_rot", "goal_reached", "successes"):
        getattr(env, name).copy_(state[name])
    env.progress_buf.copy_(state["progress"])
    # no env resets at the first step: reset_idx would draw from the device's random stream again
    env.reset_buf.zero_()


def _start_state() -> dict[str, torch.Tensor]:
    """The rollouts' one start: a seeded reset on MuJoCo C (the cube above the palm, joints off zero)."""
    env = make_hand(num_envs=2, backend="mujoco")
    torch.manual_seed(0)
    env.reset()
    return hand_state(env)


def _rollout(backend: str, device: str, start: dict[str, torch.Tensor], own_seed: int) -> torch.Tensor:
    """Hand joints and cube pose over AGREEMENT_STEPS steps from `start`, under the same seeded actions."""
    env = make_hand(device=device, num_envs=2, backend=backend)
    # first a reset of its own (seeds differ between the compared rollouts, and on CUDA so do the random streams):
    # only set_hand_state makes the rollouts start alike
    torch.manual_seed(own_seed)
    env.reset()
    assert not torch.equal(hand_state(env)["qpos"], start["qpos"])
    set_hand_state(env, start)
    now = hand_state(env)
    assert all(torch.equal(now[key], start[key]) for key in start), "the state did not transfer exactly"
    generator = torch.Generator().manual_seed(1)
    states = []
    for _ in range(AGREEMENT_STEPS):
        env.step((2 * torch.rand(2, 20, generator=generator) - 1).to(device))
        states.append(torch.cat((env.sim.dof_pos, env.object_state[:, 0:7]), dim=1).cpu())
    return torch.stack(states)


@needs_hands
def test_warp_and_mujoco_agree_on_the_hand_and_cube():
    start = _start_state()
    reference = _rollout("mujoco", "cpu", start, own_seed=1)
    warp = _rollout("warp", "cpu", start, own_seed=2)
    torch.testing.assert_close(warp, reference, atol=AGREEMENT_TOLERANCE, rtol=0)
    # the cube fell onto the palm meanwhile, in every env (the fingers toss it up again later)
    assert reference[:, :, 26].amin(dim=0).max() < hand_scene.CUBE_START[2] - 0.02


@needs_hands
@pytest.mark.gpu
def test_cuda_and_cpu_agree_on_the_hand_and_cube():
    start = _start_state()
    cuda = _rollout("warp", "cuda:0", start, own_seed=1)
    torch.testing.assert_close(cuda, _rollout("mujoco", "cpu", start, own_seed=1), atol=AGREEMENT_TOLERANCE, rtol=0)


@needs_hands
@pytest.mark.gpu
@pytest.mark.parametrize("obs_type, asymmetric", [("full_state", False), ("openai", True)])
def test_cuda_step_graph_has_no_host_sync(obs_type, asymmetric):
    env = make_hand(device="cuda:0", num_envs=256, backend="warp", observationType=obs_type, asymmetric_observations=asymmetric)
    step_graph_without_host_sync(env, steps=50)
