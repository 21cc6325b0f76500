"""The Ant task: quaternion helpers, reward and observation math on known inputs, and the env on MuJoCo."""

import copy
import math
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from isaac_rl import CFG_ROOT, tasks
from isaac_rl.tasks.base.rewards import RewardTerms
from isaac_rl.tasks.ant import (
    FOOT_SENSORS,
    NUM_DOFS,
    apply_death_cost,
    compute_potentials,
    reward_terms,
)
from isaac_rl.utils.torch_math import (
    get_euler_xyz,
    normalize_angle,
    quat_axis,
    quat_conjugate,
    quat_from_angle_axis,
    quat_mul,
    quat_rotate,
    quat_rotate_inverse,
    scale_to_unit,
)

BASE_CFG = OmegaConf.to_container(OmegaConf.load(CFG_ROOT / "task" / "Ant.yaml"))
Z = torch.tensor([0.0, 0.0, 1.0])
X = torch.tensor([1.0, 0.0, 0.0])


def ant_cfg(num_envs=4, backend="mujoco", **env):
    cfg = copy.deepcopy(BASE_CFG)
    cfg["env"].update(numEnvs=num_envs, **env)
    cfg["sim"]["backend"] = backend
    return cfg


def make_ant(num_envs=4, backend="mujoco", **env):
    return tasks.make("Ant", cfg=ant_cfg(num_envs, backend, **env), rl_device="cpu", sim_device="cpu", graphics_device_id=0, headless=True)


def yaw_quat(angle: float) -> torch.Tensor:
    return quat_from_angle_axis(torch.tensor(angle), Z)


# -- quaternion helpers (w, x, y, z) ------------------------------------------


def test_quaternion_rotation_of_known_vectors():
    quarter_turn = yaw_quat(math.pi / 2)
    torch.testing.assert_close(quat_rotate(quarter_turn, X), torch.tensor([0.0, 1.0, 0.0]))
    torch.testing.assert_close(quat_rotate_inverse(quarter_turn, torch.tensor([0.0, 1.0, 0.0])), X)
    torch.testing.assert_close(quat_axis(quarter_turn, 0), torch.tensor([0.0, 1.0, 0.0]))


def test_quaternion_product_composes_rotations_and_axes_match_rotation():
    torch.manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(5, 4), dim=-1)
    b = torch.nn.functional.normalize(torch.randn(5, 4), dim=-1)
    v = torch.randn(5, 3)
    torch.testing.assert_close(quat_rotate(quat_mul(a, b), v), quat_rotate(a, quat_rotate(b, v)))
    torch.testing.assert_close(quat_rotate(quat_conjugate(a), quat_rotate(a, v)), v)
    for axis in range(3):
        unit = torch.zeros(5, 3)
        unit[:, axis] = 1.0
        torch.testing.assert_close(quat_axis(a, axis), quat_rotate(a, unit))
    with pytest.raises(ValueError, match="axis must be 0"):
        quat_axis(a, 3)


def test_euler_angles_of_known_rotations_and_angle_wrapping():
    roll, pitch, yaw = get_euler_xyz(yaw_quat(-0.3))
    torch.testing.assert_close(torch.stack([roll, pitch, yaw]), torch.tensor([0.0, 0.0, -0.3]))  # not 2 pi - 0.3
    roll, pitch, yaw = get_euler_xyz(quat_from_angle_axis(torch.tensor(0.4), X))
    torch.testing.assert_close(torch.stack([roll, pitch, yaw]), torch.tensor([0.4, 0.0, 0.0]))
    wrapped = normalize_angle(torch.tensor([0.5, 2 * math.pi + 0.5, -2 * math.pi - 0.5, 3.5]))
    torch.testing.assert_close(wrapped, torch.tensor([0.5, 0.5, -0.5, 3.5 - 2 * math.pi]))
    torch.testing.assert_close(scale_to_unit(torch.tensor([1.0, 3.0, 2.0]), torch.tensor(1.0), torch.tensor(3.0)), torch.tensor([-1.0, 1.0, 0.0]))


# -- reward on known inputs ------------------------------------------------------

WEIGHTS = dict(headingWeight=0.5, upWeight=0.1, actionsCost=0.005, energyCost=0.05, jointsAtLimitCost=0.1)


def reward_of(n=1, height=0.5, up=1.0, heading=1.0, dof_pos=None, dof_vel=None, actions=None, potential=0.0, prev_potential=0.0):
    """(reward, fallen) as Ant computes them, from the quantities its terms read (dof_pos, dof_vel as observed)."""
    full = lambda value: torch.as_tensor(value, dtype=torch.float32).expand(n)  # noqa: E731
    task = SimpleNamespace(
        up_proj=full(up), heading_proj=full(heading), potentials=full(potential), prev_potentials=full(prev_potential),
        dof_pos_unit=torch.zeros(n, 8) if dof_pos is None else dof_pos, dof_vel_scaled=torch.zeros(n, 8) if dof_vel is None else dof_vel,
        actions=torch.zeros(n, 8) if actions is None else actions,
    )  # fmt: skip
    reward = RewardTerms(reward_terms(WEIGHTS), n, "cpu").compute(task)
    return apply_death_cost(reward, full(height), 0.31, -2.0)


def test_upright_still_ant_facing_the_target_earns_alive_up_and_heading():
    reward, fallen = reward_of()
    torch.testing.assert_close(reward, torch.tensor([0.5 + 0.1 + 0.5]))
    assert fallen.tolist() == [False]


def test_heading_reward_is_full_above_0_8_and_proportional_below():
    reward, _ = reward_of(n=4, up=0.0, heading=torch.tensor([1.0, 0.81, 0.4, -0.8]))
    torch.testing.assert_close(reward - 0.5, torch.tensor([0.5, 0.5, 0.25, -0.5]))


def test_up_reward_only_when_nearly_upright():
    reward, _ = reward_of(n=3, heading=0.0, up=torch.tensor([1.0, 0.94, 0.9]))
    torch.testing.assert_close(reward - 0.5, torch.tensor([0.1, 0.1, 0.0]))


def test_action_energy_and_joint_limit_costs():
    dof_pos = torch.zeros(2, 8)
    dof_pos[1, :3] = torch.tensor([1.0, -0.995, 0.995])  # three joints at a limit, either end
    dof_pos[1, 3] = 0.98  # near, not at
    actions = torch.full((2, 8), 0.5)
    dof_vel = torch.full((2, 8), -2.0)
    reward, _ = reward_of(n=2, up=0.0, heading=0.0, dof_pos=dof_pos, dof_vel=dof_vel, actions=actions)
    actions_cost = 0.005 * 8 * 0.25
    energy_cost = 0.05 * 8 * 1.0
    torch.testing.assert_close(reward, torch.tensor([0.5 - actions_cost - energy_cost, 0.5 - actions_cost - energy_cost - 0.3]))


def test_progress_is_the_change_of_potential():
    reward, _ = reward_of(up=0.0, heading=0.0, potential=-59990.0, prev_potential=-60000.0)
    torch.testing.assert_close(reward, torch.tensor([10.5]))


def test_a_torso_below_the_termination_height_gets_the_death_cost_and_falls():
    reward, fallen = reward_of(n=3, height=torch.tensor([0.30, 0.32, 0.5]), potential=5.0)
    assert reward[0] == -2.0 and reward[1] > 0
    assert fallen.tolist() == [True, False, False]


def test_reward_terms_equal_isaacgymenvs_formula_on_random_states():
    # the reward as ant.py computed it in one function before it was built from terms (8319df8)
    torch.manual_seed(0)
    n = 512
    up, heading = torch.rand(n) * 2 - 1, torch.rand(n) * 2 - 1
    dof_pos, dof_vel, actions = torch.rand(n, 8) * 2.02 - 1.01, torch.randn(n, 8), torch.rand(n, 8) * 2 - 1
    potential, prev = torch.randn(n) * 100, torch.randn(n) * 100
    height = torch.rand(n)
    heading_reward = torch.where(heading > 0.8, torch.full_like(heading, 0.5), 0.5 * heading / 0.8)
    up_reward = torch.where(up > 0.93, torch.full_like(up, 0.1), torch.zeros_like(up))
    expected = (
        (potential - prev) + 0.5 + up_reward + heading_reward - 0.005 * torch.sum(actions**2, dim=-1)
        - 0.05 * torch.sum(torch.abs(actions * dof_vel), dim=-1) - 0.1 * torch.sum(torch.abs(dof_pos) > 0.99, dim=-1)
    )  # fmt: skip
    expected = torch.where(height < 0.31, torch.full_like(expected, -2.0), expected)
    reward, _ = reward_of(n, height, up, heading, dof_pos, dof_vel, actions, potential, prev)
    torch.testing.assert_close(reward, expected, rtol=1e-6, atol=1e-6)


def test_potentials_are_horizontal_distance_over_dt_in_float64():
    pos = torch.tensor([[0.0, 0.0, 0.7], [997.0, 4.0, 0.3]])
    targets = torch.tensor([[1000.0, 0.0, 0.0]]).repeat(2, 1)
    potentials = compute_potentials(pos, targets, 0.02)
    torch.testing.assert_close(potentials, torch.tensor([-1000.0 / 0.02, -5.0 / 0.02], dtype=torch.float64))
    # moving 0.1 m toward the target in one step of 0.02 s earns a progress of 5 (m/s), without the 4e-3
    # rounding that float32 has at a potential of -5e4
    moved = compute_potentials(pos[:1] + torch.tensor([0.1, 0.0, 0.0]), targets[:1], 0.02) - compute_potentials(pos[:1], targets[:1], 0.02)
    torch.testing.assert_close(moved, torch.tensor([5.0], dtype=torch.float64), atol=1e-5, rtol=0)


# -- observations on known inputs -------------------------------------------------


def test_observation_layout_for_a_turned_ant():
    env = make_ant(num_envs=1)
    env.reset()
    qpos, qvel = env.sim.qpos.clone(), torch.zeros_like(env.sim.qvel)
    qpos[:, 3:7] = yaw_quat(math.pi / 2)  # facing +y; the target is along +x
    lower, upper = env.dof_lower, env.dof_upper
    qpos[:, 7:] = lower + torch.tensor([0.0, 1.0, 0.5, 0.25, 0.75, 0.0, 1.0, 0.5]) * (upper - lower)
    qvel[:, 0], qvel[:, 5], qvel[:, 6:] = 1.0, 0.7, 5.0
    env.sim.reset_envs(torch.ones(1, dtype=torch.bool), qpos, qvel)
    env.actions[:] = torch.linspace(-1, 1, 8)
    env.update_state()
    env.compute_observations()
    layout, o = env.observations.layout, env.obs_buf[0]
    assert env.num_observations == env.observations.size == 60
    assert o[layout["torso_height"]].item() == pytest.approx(float(qpos[0, 2]))
    torch.testing.assert_close(o[layout["base_lin_vel"]], torch.tensor([0.0, -1.0, 0.0]), atol=1e-6, rtol=0)  # +x = the torso's right
    torch.testing.assert_close(o[layout["base_ang_vel"]], torch.tensor([0.0, 0.0, 0.7]))
    # yaw, roll, angle to the target
    torch.testing.assert_close(o[layout["yaw_roll_angle_to_target"]], torch.tensor([math.pi / 2, 0.0, -math.pi / 2]), atol=1e-3, rtol=0)
    torch.testing.assert_close(o[layout["up_heading_proj"]], torch.tensor([1.0, 0.0]), atol=1e-6, rtol=0)  # upright, across the target
    torch.testing.assert_close(o[layout["dof_pos"]], torch.tensor([-1.0, 1.0, 0.0, -0.5, 0.5, -1.0, 1.0, 0.0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(o[layout["dof_vel"]], torch.full((NUM_DOFS,), 5.0 * 0.2))
    torch.testing.assert_close(o[layout["foot_force_torques"]], env.foot_force_torques[0] * 0.1)
    torch.testing.assert_close(o[layout["actions"]], torch.linspace(-1, 1, 8))


# -- the env on MuJoCo (C library) ------------------------------------------------


def test_env_steps_to_finite_60_dim_observations_and_logs_forward_speed():
    env = make_ant(num_envs=4)
    assert env.sim.info.actuator_names == env.sim.info.dof_names  # action i drives dof i
    obs = env.reset()["obs"]
    assert obs.shape == (4, 60)
    # fresh from reset: upright at the start height, facing the target
    torch.testing.assert_close(obs[:, 0], torch.full((4,), 0.75))
    torch.testing.assert_close(obs[:, 9:12], torch.tensor([[0.0, 1.0, 1.0]]).repeat(4, 1), atol=1e-6, rtol=0)
    for _ in range(5):
        obs, rew, resets, extras = env.step(2 * torch.rand(4, 8) - 1)
    assert obs["obs"].shape == (4, 60) and torch.isfinite(obs["obs"]).all()
    assert rew.shape == (4,) and torch.isfinite(rew).all()
    torch.testing.assert_close(extras["episode"]["forward_speed"], env.sim.root_lin_vel[:, 0])


def test_foot_sensors_read_nothing_in_the_air_and_carry_the_ant_on_the_floor():
    env = make_ant(num_envs=2)
    env.reset()
    zero = torch.zeros(2, 8)
    obs, *_ = env.step(zero)
    feet = env.observations.layout["foot_force_torques"]
    foot_force = lambda obs: obs[:, feet].reshape(2, 4, 2, 3)[:, :, 0].norm(dim=-1).sum(dim=1) / 0.1  # noqa: E731
    in_the_air = foot_force(obs["obs"])
    for _ in range(90):  # fall 0.4 m and settle
        obs, *_ = env.step(zero)
    on_the_floor = foot_force(obs["obs"])
    # the ankles carry everything but the shins: (total mass - 4 shins) x g
    mass = env.sim.info.body_mass
    shins = sum(mass[env.sim.info.body_index(f"{leg}_shin")] for leg in ("front_left", "front_right", "back_left", "back_right"))
    carried = (mass.sum() - shins) * 9.81
    torch.testing.assert_close(on_the_floor, torch.full((2,), carried, dtype=torch.float32), rtol=0.05, atol=0)
    assert (in_the_air < 0.1 * carried).all(), in_the_air
    assert len(FOOT_SENSORS) == 8


def test_a_torso_dropped_from_height_lands_on_its_legs():
    env = make_ant(num_envs=2)
    env.reset()
    qpos = env.sim.qpos.clone()
    qpos[:, 2] = 1.5
    env.sim.reset_envs(torch.ones(2, dtype=torch.bool), qpos, torch.zeros_like(env.sim.qvel))
    heights = []
    for _ in range(120):
        env.step(torch.zeros(2, 8))
        heights.append(env.sim.root_pos[:, 2].clone())
    heights = torch.stack(heights)
    assert (heights[:20, 0] < 1.5).all() and heights[:20, 0].diff().lt(0).all()  # falls
    assert (heights[-1] > 0.31).all() and (heights[-1] < 0.45).all()  # standing on its legs, not through the floor
    assert env.sim.root_lin_vel.norm(dim=1).max() < 0.05  # at rest
    assert (env.progress_buf == 120).all()  # never ended as fallen


def test_a_fallen_ant_gets_the_death_cost_and_restarts_at_the_start_pose():
    env = make_ant(num_envs=3)
    env.reset()
    qpos = env.sim.qpos.clone()
    qpos[1, 2] = 0.2  # torso on the floor
    env.sim.reset_envs(torch.tensor([False, True, False]), qpos, torch.zeros_like(env.sim.qvel))
    _, rew, resets, _ = env.step(torch.zeros(3, 8))
    assert resets.tolist() == [0, 1, 0] and rew[1] == -2.0 and rew[0] > 0
    env.step(torch.zeros(3, 8))
    assert env.progress_buf.tolist() == [2, 0, 2]
    torch.testing.assert_close(env.sim.root_pos[1], torch.tensor([0.0, 0.0, 0.75]))


def test_reset_mask_resets_only_the_masked_envs():
    env = make_ant(num_envs=4)
    env.reset()
    for _ in range(10):
        env.step(2 * torch.rand(4, 8) - 1)
    before = env.sim.qpos.clone(), env.sim.qvel.clone(), env.potentials.clone(), env.progress_buf.clone()
    mask = torch.tensor([True, False, True, False])
    env.reset_envs(mask)  # the task's reset_idx and VecTask's bookkeeping
    qpos, qvel, potentials, progress = env.sim.qpos, env.sim.qvel, env.potentials, env.progress_buf
    torch.testing.assert_close(qpos[~mask], before[0][~mask])
    torch.testing.assert_close(qvel[~mask], before[1][~mask])
    torch.testing.assert_close(potentials[~mask], before[2][~mask])
    assert progress[~mask].tolist() == before[3][~mask].tolist() and progress[mask].tolist() == [0, 0]
    torch.testing.assert_close(qpos[mask, :7], torch.tensor([[0.0, 0.0, 0.75, 1.0, 0.0, 0.0, 0.0]]).repeat(2, 1))
    lower, upper = env.dof_lower, env.dof_upper
    assert ((env.sim.dof_pos[mask] >= lower) & (env.sim.dof_pos[mask] <= upper)).all()
    assert (env.sim.dof_vel[mask].abs() <= 0.1).all() and (qvel[mask, :6] == 0).all()
    torch.testing.assert_close(potentials[mask], torch.full((2,), -1000.0 / env.dt, dtype=torch.float64))


def test_bad_model_is_rejected_clearly():
    with pytest.raises(ValueError, match="needs a model with a free root joint and 8 actuated hinge joints"):
        make_ant(num_envs=1, asset="mjcf/cartpole.xml")


# -- the Warp backend on Warp's CPU device (the CUDA code path, slow) -------------


def test_warp_backend_runs_the_ant_like_the_mujoco_backend():
    envs = {backend: make_ant(num_envs=2, backend=backend) for backend in ("warp", "mujoco")}
    rollouts = {}
    for backend, env in envs.items():
        torch.manual_seed(0)
        env.reset()
        for _ in range(3):
            obs, rew, resets, _ = env.step(torch.full((2, 8), 0.3))
        assert obs["obs"].shape == (2, 60) and rew.shape == (2,) and resets.shape == (2,)
        assert torch.isfinite(obs["obs"]).all()
        rollouts[backend] = obs["obs"]
    # the same start state and actions, still in the air: both backends agree on every observation
    torch.testing.assert_close(rollouts["warp"], rollouts["mujoco"], atol=1e-3, rtol=1e-3)


@pytest.mark.gpu
def test_cuda_step_never_waits_on_the_host():
    cfg = ant_cfg(num_envs=64, backend="warp")
    env = tasks.make("Ant", cfg=cfg, rl_device="cuda:0", sim_device="cuda:0", graphics_device_id=0, headless=True)
    env.reset()
    actions = torch.zeros(64, 8, device="cuda:0")
    env.step(actions)  # first step: lazy CUDA initialisation may sync
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(60):  # reset_idx runs in every step, on a mask
            env.step(2 * torch.rand(64, 8, device="cuda:0") - 1)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    env.check_health()
    assert torch.isfinite(env.obs_buf).all()


@pytest.mark.gpu
def test_compiled_graph_step_matches_the_eager_step():
    # On CUDA, MuJoCo Warp sums contact and constraint forces with atomics, in no fixed order: two
    # rollouts of one env drift apart (2.8e-4 after 40 steps, eager against eager), and the drift
    # grows. So each compared step starts both envs from one snapshot of the eager env's rollout:
    # what is compared is one step, and no difference can carry over to the next.
    def make(fast: bool):
        cfg = ant_cfg(num_envs=64, backend="warp")
        cfg["sim"].update(use_cuda_graph=fast, compile_step=fast)
        env = tasks.make("Ant", cfg=cfg, rl_device="cuda:0", sim_device="cuda:0", graphics_device_id=0, headless=True)
        assert env.compile_step == fast
        return env

    fast, eager = make(True), make(False)
    actions = 0.3 * torch.sin(torch.arange(64 * 8, device="cuda:0").view(64, 8) / 5.0)
    for _ in range(3):  # two eager warm-up steps, then the capture: every later step replays the graph
        fast.step(actions)
    assert fast._step_graph is not None
    torch.manual_seed(0)
    eager.reset()
    for k in range(40):
        state = ant_state(eager)
        outputs = []
        for env in (fast, eager):
            set_ant_state(env, state)
            obs, rew, done, _ = env.step(actions * (-1) ** k)
            outputs.append((obs["obs"].clone(), rew.clone(), done.clone()))  # copies: graph outputs are reused
        (fast_obs, fast_rew, fast_done), (eager_obs, eager_rew, eager_done) = outputs
        # From one state the two steps differ only in float32 rounding: atomic sums in another order,
        # torch.compile's fused arithmetic (on Warp's CPU device, where sums run serially, two eager
        # steps are bitwise equal: test below). 1e-3 is far above rounding, and leaves room for the
        # solver stopping an iteration earlier or later on a rounding-level difference.
        torch.testing.assert_close(fast_obs, eager_obs, atol=1e-3, rtol=1e-3, msg=lambda m: f"step {k}: {m}")
        # the progress reward, a difference of potentials of ~-6e4, is taken in float64 (compute_potentials)
        torch.testing.assert_close(fast_rew, eager_rew, atol=1e-3, rtol=1e-3, msg=lambda m: f"step {k}: {m}")
        # exact: they could differ only for a torso within rounding of terminationHeight
        assert torch.equal(fast_done, eager_done), k


def ant_state(env) -> dict[str, torch.Tensor]:
    """What an Ant step reads besides its actions: the physics state and the task's running buffers."""
    state = {"qpos": env.sim.qpos, "qvel": env.sim.qvel, "potentials": env.potentials, "prev_potentials": env.prev_potentials}
    return {key: value.clone() for key, value in {**state, "progress": env.progress_buf}.items()}


def set_ant_state(env, state: dict[str, torch.Tensor]) -> None:
    """Put `env` in `state` in place (a captured step graph reads these very tensors)."""
    everyone = torch.ones(env.num_envs, dtype=torch.bool, device=env.device)
    # also zeroes ctrl and the solver's warm start: two envs set from one state start their solvers alike
    env.sim.reset_envs(everyone, state["qpos"], state["qvel"])
    env.potentials.copy_(state["potentials"])
    env.prev_potentials.copy_(state["prev_potentials"])
    env.progress_buf.copy_(state["progress"])
    # No env resets at the start of the step: reset_idx would draw new start states from two different
    # random streams. Resets are compared as the step's output.
    env.reset_buf.zero_()


def test_a_snapshot_puts_two_warp_envs_in_one_state():
    """The GPU test's snapshot on Warp's CPU device, where MuJoCo Warp runs the same code, serially."""
    envs = make_ant(num_envs=4, backend="warp"), make_ant(num_envs=4, backend="warp")
    torch.manual_seed(0)
    for env in envs:
        env.reset()
    # histories of their own (solver warm start, potentials, progress): the first lands on its feet
    for _ in range(30):
        envs[0].step(torch.full((4, 8), 0.3))
    for _ in range(5):
        envs[1].step(2 * torch.rand(4, 8) - 1)
    for k in range(20):
        state = ant_state(envs[0])
        outputs = []
        for env in envs:
            set_ant_state(env, state)
            obs, rew, done, _ = env.step(torch.full((4, 8), 0.3 * (-1) ** k))
            outputs.append(torch.cat((obs["obs"], rew[:, None], done[:, None].float()), 1))
        # serial kernels sum in one order: the same state must give bitwise the same step
        assert torch.equal(*outputs), k
