"""Anymal: the quadruped model stands on its PD drives, and the observation, reward and command math."""

import math
from types import SimpleNamespace

import pytest
import torch
from conftest import make_shipped_task, step_graph_without_host_sync
from omegaconf import OmegaConf

from isaac_rl import CFG_ROOT
from isaac_rl.tasks.anymal import JOINTS, Anymal
from isaac_rl.tasks.base import locomotion
from isaac_rl.tasks.base.rewards import RewardTerms
from isaac_rl.utils.torch_math import quat_from_angle_axis

BASE_CFG = OmegaConf.to_container(OmegaConf.load(CFG_ROOT / "task" / "Anymal.yaml"))
UPRIGHT = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
DT = 0.02


def make_anymal(device="cpu", num_envs=4, backend="mujoco", **env):
    return make_shipped_task("Anymal", device, num_envs, backend, **env)


def reward_terms(n):
    weights = {name: (fn, float(BASE_CFG["env"]["learn"][key]) * DT) for name, (fn, key) in Anymal.reward_terms.items()}
    return RewardTerms(weights, n, "cpu", clip_min=0.0)


def reward_of(lin_vel, ang_vel, commands, torques=None):
    n = lin_vel.shape[0]
    torques = torch.zeros(n, 12) if torques is None else torques
    task = SimpleNamespace(base_lin_vel=lin_vel, base_ang_vel=ang_vel, commands=commands, torques=torques)
    return reward_terms(n).compute(task), locomotion.lin_vel_error_sq(task).sqrt(), locomotion.ang_vel_error_sq(task).sqrt()


# -- math on known inputs -------------------------------------------------------


def test_tracking_a_command_exactly_earns_both_terms_per_second():
    command = torch.tensor([[1.0, -0.5, 0.3]])
    reward, lin_error, ang_error = reward_of(torch.tensor([[1.0, -0.5, 0.0]]), torch.tensor([[0.0, 0.0, 0.3]]), command)
    torch.testing.assert_close(reward, torch.tensor([1.5 * DT]))
    assert lin_error.item() == 0.0 and ang_error.item() == 0.0


def test_tracking_terms_fall_off_as_exp_of_the_squared_error_over_a_quarter():
    command = torch.zeros(1, 3)
    # 0.5 m/s off: exp(-0.25 / 0.25) of the linear term; the yaw rate is exact
    reward, lin_error, _ = reward_of(torch.tensor([[0.3, 0.4, 0.0]]), torch.zeros(1, 3), command)
    torch.testing.assert_close(reward, torch.tensor([(math.exp(-1.0) + 0.5) * DT]))
    torch.testing.assert_close(lin_error, torch.tensor([0.5]))
    # vertical velocity is not tracked
    reward, _, _ = reward_of(torch.tensor([[0.0, 0.0, 2.0]]), torch.zeros(1, 3), command)
    torch.testing.assert_close(reward, torch.tensor([1.5 * DT]))


def test_torques_cost_and_the_reward_never_goes_below_zero():
    command, still = torch.zeros(1, 3), torch.zeros(1, 3)
    torques = torch.full((1, 12), 10.0)  # 12 x 100 N^2m^2 x 2.5e-5 = 0.03 per second
    reward, _, _ = reward_of(still, still, command, torques=torques)
    torch.testing.assert_close(reward, torch.tensor([(1.5 - 0.03) * DT]))
    reward, _, _ = reward_of(still, still, command, torques=torch.full((1, 12), 80.0))
    assert reward.item() == 0.0


def test_reward_terms_equal_isaacgymenvs_formula_on_random_states():
    # the reward as anymal.py computed it in one function before it was built from terms (8319df8)
    torch.manual_seed(0)
    n = 256
    lin_vel, ang_vel, commands, torques = torch.randn(n, 3), torch.randn(n, 3), torch.randn(n, 3), 30 * torch.randn(n, 12)
    lin_error = torch.sum(torch.square(commands[:, :2] - lin_vel[:, :2]), dim=1)
    ang_error = torch.square(commands[:, 2] - ang_vel[:, 2])
    expected = (
        torch.exp(-lin_error / 0.25) * (1.0 * DT) + torch.exp(-ang_error / 0.25) * (0.5 * DT)
        + torch.sum(torch.square(torques), dim=1) * (-0.000025 * DT)
    )  # fmt: skip
    reward, lin, ang = reward_of(lin_vel, ang_vel, commands, torques)
    assert torch.equal(reward, torch.clamp(expected, min=0.0))
    assert torch.equal(lin, lin_error.sqrt()) and torch.equal(ang, ang_error.sqrt())


def test_a_robot_on_its_back_ends_its_episode():
    env = make_anymal(num_envs=2)
    env.reset()
    state = env.sim.scene.actor_root_state("base")
    state[1, 0, 3:7] = torch.tensor([0.0, 1.0, 0.0, 0.0])  # env 1 upside down: it falls onto its base
    env.sim.scene.write_root_state(torch.tensor([False, True]), "base", state)
    for _ in range(40):
        _, _, done, extras = env.step(torch.zeros(2, 12))
        if done.any():
            break
    assert done.tolist() == [0, 1] and extras["time_outs"].tolist() == [0, 0]


def test_observations_are_in_the_base_frame_and_scaled_like_isaacgymenvs():
    env = make_anymal(num_envs=1)
    env.reset()
    yawed = quat_from_angle_axis(torch.tensor([math.pi / 2]), torch.tensor([0.0, 0.0, 1.0]))
    qpos, qvel = env.sim.qpos.clone(), torch.zeros_like(env.sim.qvel)
    qpos[:, 3:7], qpos[:, 7:] = yawed, env.default_dof_pos + 0.2
    qvel[:, 0], qvel[:, 5], qvel[:, 6:] = 1.0, 4.0, 10.0  # world +x; yaw rate 4 rad/s (base frame); joints
    env.sim.reset_envs(torch.ones(1, dtype=torch.bool), qpos, qvel)
    env.commands[:] = torch.tensor([1.0, -1.0, 2.0])
    env.actions[:] = 0.7
    env.update_state()
    env.compute_observations()
    obs, layout = env.obs_buf[0], env.observations.layout
    assert env.num_observations == env.observations.size == 48
    assert list(layout) == ["base_lin_vel", "base_ang_vel", "projected_gravity", "commands", "dof_pos", "dof_vel", "actions"]
    # world +x seen by a base yawed 90 degrees left is its -y; x 2.0
    torch.testing.assert_close(obs[layout["base_lin_vel"]], torch.tensor([0.0, -2.0, 0.0]), atol=1e-6, rtol=0)
    torch.testing.assert_close(obs[layout["base_ang_vel"]], torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(obs[layout["projected_gravity"]], torch.tensor([0.0, 0.0, -1.0]), atol=1e-6, rtol=0)
    torch.testing.assert_close(obs[layout["commands"]], torch.tensor([2.0, -2.0, 0.5]))
    torch.testing.assert_close(obs[layout["dof_pos"]], torch.full((12,), 0.2))
    torch.testing.assert_close(obs[layout["dof_vel"]], torch.full((12,), 0.5))
    torch.testing.assert_close(obs[layout["actions"]], torch.full((12,), 0.7))


# -- the task on MuJoCo C -----------------------------------------------------------


def test_with_zero_actions_the_robot_stands_on_its_feet_for_seconds():
    env = make_anymal()
    env.reset()
    for _ in range(150):  # 3 s
        _, _, resets, _ = env.step(torch.zeros(env.num_envs, 12))
        assert resets.sum() == 0
    base_height = env.sim.root_pos[:, 2]
    assert (base_height > 0.4).all() and (base_height < 0.6).all(), base_height
    # the feet carry the weight (49 kg)
    feet = env.sim.scene.body_contact_forces([f"{leg}_FOOT" for leg in ("LF", "RF", "LH", "RH")])
    torch.testing.assert_close(feet[..., 2].sum(dim=1), torch.full((env.num_envs,), 48.8 * 9.81), rtol=0.05, atol=0)


def _control(**gains):
    control = {key: value for key, value in BASE_CFG["env"]["control"].items() if key not in ("stiffness", "damping")}
    return {**control, **gains}


def test_control_stiffness_and_damping_set_every_drives_gains_as_isaacgymenvs_keys_do():
    gains = {}
    for name, control in (("model's", _control()), ("softer", _control(stiffness=40.0, damping=1.0))):
        env = make_anymal(num_envs=2, control=control)
        kp = env.sim.parameters["actuator_gainprm"][..., 0]
        bias = env.sim.parameters["actuator_biasprm"]
        assert (bias[..., 1] == -kp).all()
        gains[name] = (kp.unique().tolist(), (-bias[..., 2]).unique().tolist())
        env.reset()
        for _ in range(50):  # 1 s of zero actions: the drives hold the standing pose against gravity
            env.step(torch.zeros(env.num_envs, 12))
        gains[name] += (env.sim.root_pos[:, 2].mean().item(),)
    assert gains["model's"][:2] == ([85.0], [2.0]) and gains["softer"][:2] == ([40.0], [1.0])
    # softer drives give way further under the robot's weight
    assert gains["softer"][2] < gains["model's"][2] - 0.03, gains
    with pytest.raises(ValueError, match=r"control.stiffness must be >= 0"):
        make_anymal(num_envs=2, control=_control(stiffness=-1.0))


def test_a_reset_draws_new_commands_only_for_the_reset_envs():
    env = make_anymal()
    env.reset()
    before = env.commands.clone()
    mask = torch.tensor([True, False, True, False])
    env.reset_idx(mask)
    assert (env.commands[~mask] == before[~mask]).all()
    assert (env.commands[mask] != before[mask]).all()


def test_a_model_without_anymals_joint_names_is_refused():
    with pytest.raises(ValueError, match="the Anymal task needs a model with a free root joint and 12"):
        make_anymal(asset="mjcf/ant.xml", control=_control())  # with the shipped gains: Ant's motors are no PD servos
    angles = dict(BASE_CFG["env"]["defaultJointAngles"])
    del angles["RH_KFE"]
    with pytest.raises(ValueError, match=r"env.defaultJointAngles lacks \['RH_KFE'\]"):
        make_anymal(defaultJointAngles=angles)
    assert len(JOINTS) == 12


@pytest.mark.gpu
def test_the_cuda_step_stays_in_one_graph_without_host_syncs():
    env = make_anymal(device="cuda:0", num_envs=256, backend="warp")
    step_graph_without_host_sync(env, 200)


def test_only_the_foot_sphere_touches_the_ground_under_a_shank():
    # a shank capsule that reached into its foot sphere touched the ground with it, and MuJoCo Warp put such
    # capsules up to 25 cm deep into rough heightfield ground (docs/locomotion.md)
    import mujoco
    import numpy as np

    from isaac_rl import ASSET_ROOT

    model = mujoco.MjModel.from_xml_path(str(ASSET_ROOT / "mjcf" / "anymal.xml"))
    for leg in ("LF", "RF", "LH", "RH"):
        shank, foot = (mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, f"{leg}_{part}") for part in ("SHANK", "FOOT"))
        (capsule,) = [g for g in range(model.ngeom) if model.geom_bodyid[g] == shank and model.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE]
        (sphere,) = [g for g in range(model.ngeom) if model.geom_bodyid[g] == foot]
        axis = np.zeros(3)
        mujoco.mju_rotVecQuat(axis, np.array([0.0, 0.0, 1.0]), model.geom_quat[capsule])
        half_length, radius = model.geom_size[capsule, 1], model.geom_size[capsule, 0]
        # in the shank's frame, the leg stretched straight down: the capsule's lowest point and the foot's
        capsule_bottom = min(model.geom_pos[capsule, 2] + s * half_length * axis[2] for s in (-1, 1)) - radius
        foot_bottom = model.body_pos[foot, 2] - model.geom_size[sphere, 0]
        assert capsule_bottom - foot_bottom > 0.05, leg


def test_a_trainer_in_inference_mode_steps_the_compiled_step():
    # rsl_rl steps the env inside torch.inference_mode. The compiled step's first call traces the index plans that
    # Anymal's reset builds lazily (numpy), and dynamo failed to guard them from tensors made in inference mode
    # ("Guard failed on the same frame it was created"). CUDA runs compile the halves; here the CPU compiles them.
    env = make_anymal(num_envs=4)
    torch._dynamo.reset()  # VecTask._finish_step's compiled versions are shared by every env in the process
    env._compile_step_halves()
    with torch.inference_mode():
        env.reset()
        env.reset_buf[:] = 1  # the first compiled call resets every env
        for _ in range(3):
            obs, rewards, _, _ = env.step(torch.zeros(4, 12))
    # the learner keeps these: normal tensors, usable outside inference mode too
    assert not obs["obs"].is_inference() and not rewards.is_inference()
    assert torch.isfinite(obs["obs"]).all()


@pytest.mark.parametrize("backend", ["mujoco", "warp"])
def test_a_fall_ends_one_episode_not_also_the_next(backend):
    # a reset must not leave the fallen robot's contact forces for the new episode's terminations to read (MuJoCo Warp
    # kept them: every fall then ended a second, empty episode)
    env = make_anymal(num_envs=2, backend=backend, addNoise=False)
    env.reset()
    upside_down = env.sim.scene.actor_root_state("base").clone()
    upside_down[0, 0, 2] = 0.3
    upside_down[0, 0, 3:7] = torch.tensor([0.0, 1.0, 0.0, 0.0])  # rolled half a turn: the base lands first
    env.sim.scene.write_root_state(torch.tensor([True, False]), "base", upside_down)
    for _ in range(50):
        _, _, done, _ = env.step(torch.zeros(2, 12))
        if done[0]:
            break
    assert done[0]
    _, _, done, _ = env.step(torch.zeros(2, 12))
    assert not done[0]
