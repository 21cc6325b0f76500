"""FrankaCabinet: the Panda model against its published kinematics, the arm opening the drawer on MuJoCo, and the reward math."""

import math

import mujoco
import numpy as np
import pytest
import torch
from conftest import make_shipped_task, step_graph_without_host_sync

from isaac_rl.sim import resolve_asset
from isaac_rl.tasks.franka_cabinet import ARM_JOINTS, DEFAULT_ARM_POS, compute_franka_reward

SCALES = dict(dist_scale=2.0, rot_scale=0.5, around_handle_scale=0.25, open_scale=7.5, finger_dist_scale=5.0, action_penalty_scale=0.01)
# Franka's published joint ranges (rad; fingers m)
PANDA_RANGES = [(-2.8973, 2.8973), (-1.7628, 1.7628), (-2.8973, 2.8973), (-3.0718, -0.0698), (-2.8973, 2.8973), (-0.0175, 3.7525), (-2.8973, 2.8973), (0, 0.04), (0, 0.04)]


def make_franka(device="cpu", num_envs=2, backend="mujoco", **env):
    return make_shipped_task("FrankaCabinet", device, num_envs, backend, **env)


def dh_flange(q: np.ndarray) -> np.ndarray:
    """The flange's position in the Panda's base frame from Franka's modified-DH table."""
    a = [0, 0, 0, 0.0825, -0.0825, 0, 0.088, 0]
    d = [0.333, 0, 0.316, 0, 0.384, 0, 0, 0.107]
    alpha = [0, -math.pi / 2, math.pi / 2, math.pi / 2, -math.pi / 2, math.pi / 2, math.pi / 2, 0]
    transform = np.eye(4)
    for i, theta in enumerate([*q, 0.0]):
        ca, sa, ct, st = math.cos(alpha[i]), math.sin(alpha[i]), math.cos(theta), math.sin(theta)
        step = np.array([[ct, -st, 0, a[i]], [st * ca, ct * ca, -sa, -d[i] * sa], [st * sa, ct * sa, ca, d[i] * ca], [0, 0, 0, 1]])
        transform = transform @ step
    return transform[:3, 3]


# -- the model ----------------------------------------------------------------------


def test_panda_model_matches_the_published_kinematics_and_joint_ranges():
    model = mujoco.MjModel.from_xml_path(str(resolve_asset("mjcf/franka_cabinet.xml")))
    data = mujoco.MjData(model)
    ranges = [tuple(model.jnt_range[model.joint(name).id]) for name in ARM_JOINTS]
    np.testing.assert_allclose(ranges, PANDA_RANGES, atol=1e-4)
    base = model.body("panda_link0").id
    rng = np.random.default_rng(0)
    for q in [np.zeros(7), np.array(DEFAULT_ARM_POS[:7]), *rng.uniform(-1.5, 1.5, (3, 7))]:
        data.qpos[:7] = q
        mujoco.mj_kinematics(model, data)
        # the hand body sits on the flange; compare in the base's frame
        hand = data.body("panda_hand").xpos - data.xpos[base]
        in_base = data.xmat[base].reshape(3, 3).T @ hand
        np.testing.assert_allclose(in_base, dh_flange(q), atol=1e-4)
    assert model.joint("drawer_top_joint").range.tolist() == [0.0, 0.4]


# -- reward math ------------------------------------------------------------------------


def reward_of(grasp, handle, drawer=0.0, left_z=None, right_z=None, forward=(-1.0, 0, 0), up=(0, 0, 1.0), finger_x=None):
    grasp, handle = torch.tensor([grasp]), torch.tensor([handle])
    fx = handle[0, 0].item() if finger_x is None else finger_x
    left = torch.tensor([[fx, 0.0, handle[0, 2].item() + 0.01 if left_z is None else left_z]])
    right = torch.tensor([[fx, 0.0, handle[0, 2].item() - 0.01 if right_z is None else right_z]])
    reward, reset = compute_franka_reward(
        grasp, handle, torch.tensor([forward]), torch.tensor([up]), left, right, torch.tensor([drawer]),
        torch.zeros(1, 9), **SCALES,
    )  # fmt: skip
    return reward.item(), reset.item()


def test_reward_grows_as_the_gripper_reaches_aligns_and_opens():
    handle = [0.35, 0.0, 0.68]
    far, _ = reward_of([0.7, 0.1, 0.8], handle, left_z=0.9, right_z=0.85)
    near, _ = reward_of([0.36, 0.0, 0.68], handle)
    on_handle, _ = reward_of(handle, handle)
    assert far < near < on_handle
    # turning the hand away from the handle loses the alignment reward
    turned, _ = reward_of(handle, handle, forward=(0, 1.0, 0), up=(1.0, 0, 0))
    assert turned < on_handle - 0.2
    # opening pays more with the fingers around the handle, and bonuses step up at 0.2 m
    opened, _ = reward_of(handle, handle, drawer=0.25)
    opened_without_grip, _ = reward_of(handle, handle, drawer=0.25, left_z=0.70, right_z=0.69)
    assert opened > on_handle + 7.5 * 0.25 and opened > opened_without_grip
    _, reset = reward_of(handle, handle, drawer=0.395)
    assert reset == 1


def test_a_finger_past_the_handle_into_the_cabinet_costs_the_step():
    handle = [0.35, 0.0, 0.68]
    reward, _ = reward_of(handle, handle, finger_x=0.35 - 0.05)
    assert reward == -1.0


# -- the env on MuJoCo ------------------------------------------------------------------


def test_reset_observations_and_held_pose():
    env = make_franka(num_envs=4)
    obs = env.reset()["obs"]
    assert obs.shape == (4, 23) and torch.isfinite(obs).all()
    arm = env.scene.joint_pos(ARM_JOINTS)
    assert (torch.abs(arm - torch.tensor(DEFAULT_ARM_POS)) <= 0.125 + 1e-6).all()
    torch.testing.assert_close(env.obs_buf[:, 18:21], env.scene.body_pos("drawer_handle")[:, 0] - env.scene.body_pos("panda_grasp")[:, 0])
    for _ in range(50):
        env.step(torch.zeros(4, 9))
    # zero actions keep the position targets: the arm holds its pose without gravity sag
    torch.testing.assert_close(env.scene.joint_pos(ARM_JOINTS), arm, atol=1e-3, rtol=0)
    assert (env.obs_buf[:, 21] == 0).all()


def test_the_arm_can_pull_the_drawer_open_by_its_handle_and_that_counts_as_a_success():
    """A scripted grasp: the gripper put around the handle, fingers closed, the arm's targets moved out along +x."""
    env = make_franka(num_envs=1)
    env.reset()
    model, data = env.sim.mj_model, mujoco.MjData(env.sim.mj_model)
    grasp, hand = model.body("panda_grasp").id, model.body("panda_hand").id

    def pose_at(x: float, q: np.ndarray) -> np.ndarray:
        """Damped least squares: grasp point at (x, 0, handle height), hand pointing -x with its fingers vertical."""
        data.qpos[:9] = q
        target = np.array([x, 0.0, 0.68])
        for _ in range(200):
            mujoco.mj_kinematics(model, data)
            mujoco.mj_comPos(model, data)
            rot = data.xmat[hand].reshape(3, 3)
            error = np.concatenate([target - data.xpos[grasp], np.cross(rot[:, 2], [-1, 0, 0]) + np.cross(rot[:, 1], [0, 0, 1])])
            jp, jr = np.zeros((3, model.nv)), np.zeros((3, model.nv))
            mujoco.mj_jacBody(model, data, jp, jr, grasp)
            jac = np.vstack([jp[:, :7], jr[:, :7]])
            data.qpos[:7] += 0.5 * jac.T @ np.linalg.solve(jac @ jac.T + 1e-3 * np.eye(6), error)
        return data.qpos[:9].copy()

    start = pose_at(0.35, np.array(DEFAULT_ARM_POS))
    start[7:] = 0.04
    qpos = torch.tensor([[*start, 0.0]], dtype=torch.float32)
    env.sim.reset_envs(torch.tensor([True]), qpos, torch.zeros_like(env.sim.qvel))
    env.arm_targets[:] = qpos[:, :9]
    closing = torch.zeros(1, 9)
    closing[0, 7:] = -1.0  # fingers shut at their speed scale
    for _ in range(60):
        env.step(closing)
    previous = start
    for x in np.linspace(0.35, 0.62, 28):
        previous = pose_at(x, previous)
        env.arm_targets[0, :7] = torch.tensor(previous[:7], dtype=torch.float32)
        for _ in range(3):
            _, _, reset, extras = env.step(closing)
    assert float(env.drawer_opening[0]) > 0.2
    assert bool(extras["successes"][0])


@pytest.mark.gpu
def test_cuda_graph_step_never_waits_on_the_host():
    env = make_franka("cuda:0", num_envs=256, backend="warp")
    step_graph_without_host_sync(env, 100)
    # random joint targets move the arm (targets are integrated inside the graph)
    assert float((env.scene.joint_pos(ARM_JOINTS[:7]) - env.default_arm_pos[:7]).abs().max()) > 0.05
