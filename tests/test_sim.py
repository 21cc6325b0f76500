"""The sim layer: physics behaviour, per-env resets, capacity and NaN errors, backend agreement."""

import math

import mujoco
import pytest
import torch
from conftest import TEST_ASSETS, random_control_rollout

from isaac_rl.sim import SimCapacityError, SimNaNError, Simulation

BOXES = str(TEST_ASSETS / "falling_boxes.xml")
# The Warp backend runs on Warp's CPU device here: slow, but the same code
# path as CUDA, so a broken Warp path fails without a GPU.
BACKENDS = [("mujoco", "cpu"), ("warp", "cpu")]


@pytest.mark.parametrize("backend,device", BACKENDS)
def test_free_body_falls_under_gravity(backend, device):
    sim = Simulation(BOXES, num_envs=3, device=device, substeps=4, backend=backend)
    start = sim.root_pos[:, 2].clone()
    steps = 25
    for _ in range(steps):
        sim.step()
    t = steps * sim.dt
    expected_drop = 0.5 * 9.81 * t * t
    torch.testing.assert_close(start - sim.root_pos[:, 2], torch.full((3,), expected_drop), atol=0.02, rtol=0.01)
    torch.testing.assert_close(sim.root_lin_vel[:, 2], torch.full((3,), -9.81 * t), atol=0.02, rtol=0.01)
    # body poses follow the joint state (box is body 1)
    torch.testing.assert_close(sim.body_pos[:, 1], sim.root_pos, atol=0.05, rtol=0)


@pytest.mark.parametrize("backend,device", BACKENDS)
def test_reset_of_some_envs_leaves_the_others_untouched(backend, device):
    sim = Simulation(BOXES, num_envs=4, device=device, substeps=2, backend=backend)
    for _ in range(10):
        sim.step()
    before_qpos, before_qvel = sim.qpos.clone(), sim.qvel.clone()
    new_qpos = sim.default_qpos.repeat(4, 1)
    new_qpos[:, 2] = 3.0
    new_qvel = torch.zeros_like(sim.qvel)
    new_qvel[:, 6] = 1.5  # hinge velocity
    mask = torch.tensor([True, False, True, False])
    sim.reset_envs(mask, new_qpos, new_qvel)
    torch.testing.assert_close(sim.qpos[mask], new_qpos[mask])
    torch.testing.assert_close(sim.qvel[mask], new_qvel[mask])
    torch.testing.assert_close(sim.qpos[~mask], before_qpos[~mask])
    torch.testing.assert_close(sim.qvel[~mask], before_qvel[~mask])
    sim.step()
    # the reset envs now fall from 3 m, the others continue their fall
    assert (sim.root_pos[mask, 2] < 3.0).all() and (sim.root_pos[mask, 2] > 2.9).all()
    assert (sim.root_pos[~mask, 2] < before_qpos[~mask, 2]).all()


@pytest.mark.parametrize("backend,device", BACKENDS)
def test_a_reset_leaves_no_contact_force_of_the_state_before_it(backend, device):
    # a task that ends episodes on contact reads the forces right after a reset: the old ones would end the new episode
    sim = Simulation(BOXES, num_envs=2, device=device, substeps=4, backend=backend, contact_forces=True)
    resting = sim.default_qpos.repeat(2, 1)
    resting[:, 2] = 0.1  # the box on the floor
    sim.reset_envs(torch.ones(2, dtype=torch.bool), resting, torch.zeros_like(sim.qvel))
    for _ in range(5):
        sim.step()
    box_force = sim.scene.body_contact_forces("box")[:, 0]
    assert (box_force[:, 2] > 5.0).all()  # the floor holds the 1 kg box up
    high = sim.default_qpos.repeat(2, 1)
    sim.reset_envs(torch.tensor([True, False]), high, torch.zeros_like(sim.qvel))
    after = sim.scene.body_contact_forces("box")[:, 0]
    assert (after[0] == 0).all()
    torch.testing.assert_close(after[1], box_force[1])


def test_root_angular_velocity_is_reported_in_the_world_frame():
    sim = Simulation(BOXES, num_envs=1, device="cpu", backend="mujoco")
    qpos = sim.default_qpos.repeat(1, 1)
    half = math.pi / 4  # body turned 90 degrees about x
    qpos[0, 3:7] = torch.tensor([math.cos(half), math.sin(half), 0.0, 0.0])
    qvel = torch.zeros_like(sim.qvel)
    qvel[0, 5] = 2.0  # spin about the body's z axis, which points along -y in the world
    sim.reset_envs(torch.tensor([True]), qpos, qvel)
    torch.testing.assert_close(sim.root_ang_vel[0], torch.tensor([0.0, -2.0, 0.0]), atol=1e-5, rtol=0)


def test_contact_buffer_overflow_is_an_error_not_a_warning():
    # 4 box-floor contacts need 4 slots; give each world 1.
    sim = Simulation(BOXES, num_envs=2, device="cpu", substeps=2, backend="warp", nconmax=1, njmax=64)
    qpos = sim.default_qpos.repeat(2, 1)
    qpos[:, 2] = 0.099  # resting on the floor
    sim.reset_envs(torch.ones(2, dtype=torch.bool), qpos, torch.zeros_like(sim.qvel))
    sim.step()
    with pytest.raises(SimCapacityError, match="nconmax"):
        sim.check_health()


@pytest.mark.parametrize("backend,device", BACKENDS)
def test_nan_physics_is_reported(backend, device):
    sim = Simulation(BOXES, num_envs=2, device=device, backend=backend)
    qvel = torch.zeros_like(sim.qvel)
    qvel[1, 0] = float("nan")
    sim.reset_envs(torch.tensor([False, True]), sim.default_qpos.repeat(2, 1), qvel)
    sim.step()
    with pytest.raises(SimNaNError, match=r"1 env\(s\) \(e.g. \[1\]\)"):
        sim.check_health()


def test_warp_kinematics_op_reads_and_writes_the_tensors_it_is_given():
    """The body-pose refresh after a reset is the custom op `isaac_rl::mujoco_warp_kinematics`, so a compiled step
    traces it whole. A compiled graph may hand it qpos's new value in a buffer of its own (the array itself is written
    at the graph's end) and scratch buffers to write: the kinematics must read and write those, not the backend's."""
    sim = Simulation(BOXES, num_envs=2, device="cpu", backend="warp", refresh_body_states=True)
    backend = sim.backend
    qpos, body_pos = sim.qpos.clone(), sim.body_pos.clone()
    reads = [t.clone() for t in backend._kinematics_reads]  # qpos first
    reads[0][:, 2] += 1.0  # the box 1 m higher, in the given buffer alone
    # as torch.compile's scratch buffers: copies (the world body's pose is never written), xpos (first) unknown
    writes = [t.clone() for t in backend._kinematics_writes]
    writes[0][:, 1:] = float("nan")
    torch.ops.isaac_rl.mujoco_warp_kinematics(backend._op_handle, reads, writes)
    torch.testing.assert_close(writes[0][:, 1], body_pos[:, 1] + torch.tensor([0.0, 0.0, 1.0]))  # box
    torch.testing.assert_close(writes[0][:, 2], body_pos[:, 2])  # arm: on its own fixed base
    torch.testing.assert_close(sim.qpos, qpos, atol=0, rtol=0)
    torch.testing.assert_close(sim.body_pos, body_pos, atol=0, rtol=0)
    # the backend's own arrays are bound again: a reset refreshes them
    qpos[:, 2] += 2.0
    sim.reset_envs(torch.ones(2, dtype=torch.bool), qpos, torch.zeros_like(sim.qvel))
    torch.testing.assert_close(sim.body_pos[:, 1], body_pos[:, 1] + torch.tensor([0.0, 0.0, 2.0]))


def test_model_capacity_is_estimated_from_colliding_pairs():
    sim = Simulation(BOXES, num_envs=1, backend="mujoco")
    # box-floor is the one colliding pair (the arm is non-colliding): 4 contacts,
    # pyramidal condim-3 cones need 4 rows each
    assert sim.capacity.nconmax == 4
    assert sim.capacity.njmax == 16


def test_bad_arguments_are_rejected_clearly():
    with pytest.raises(ValueError, match="num_envs must be a positive integer"):
        Simulation(BOXES, num_envs=0)
    with pytest.raises(ValueError, match="unknown physics backend 'physx'"):
        Simulation(BOXES, num_envs=1, backend="physx")
    with pytest.raises(FileNotFoundError, match="model file 'nope.xml' not found"):
        Simulation("nope.xml", num_envs=1)
    with pytest.raises(KeyError, match="no sensor named 'imu'"):
        Simulation(BOXES, num_envs=1).sensor("imu")


def _cartpole_rollout(backend: str, device: str, steps: int) -> torch.Tensor:
    sim = Simulation("cartpole.xml", num_envs=4, device=device, substeps=2, timestep=1 / 120, backend=backend)
    qpos = torch.tensor([[0.0, 0.05], [0.1, -0.05], [-0.2, 0.1], [0.0, 0.0]], device=device)
    sim.reset_envs(torch.ones(4, dtype=torch.bool, device=device), qpos, torch.zeros_like(qpos))
    return random_control_rollout(sim, 20.0, steps, lambda sim: torch.cat([sim.qpos, sim.qvel], dim=1))


# Float32 (Warp) against float64 (MuJoCo C) on a chaotic system: trajectories
# agree tightly over 1 s of simulated time, and drift apart later.
AGREEMENT_STEPS = 60
AGREEMENT_TOLERANCE = 1e-3


def test_warp_and_mujoco_backends_agree_on_cpu():
    reference = _cartpole_rollout("mujoco", "cpu", AGREEMENT_STEPS)
    warp = _cartpole_rollout("warp", "cpu", AGREEMENT_STEPS)
    torch.testing.assert_close(warp, reference, atol=AGREEMENT_TOLERANCE, rtol=AGREEMENT_TOLERANCE)


@pytest.mark.gpu
def test_cuda_and_cpu_backends_agree():
    reference = _cartpole_rollout("mujoco", "cpu", AGREEMENT_STEPS)
    cuda = _cartpole_rollout("warp", "cuda:0", AGREEMENT_STEPS)
    torch.testing.assert_close(cuda, reference, atol=AGREEMENT_TOLERANCE, rtol=AGREEMENT_TOLERANCE)


def test_a_model_composed_in_code_runs_like_a_file():
    spec = mujoco.MjSpec()
    box = spec.worldbody.add_body(name="box", pos=[0, 0, 1])
    box.add_freejoint(name="box")
    box.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.1, 0.1, 0.1], mass=1.0)
    sim = Simulation(spec, num_envs=2, timestep=0.01, substeps=2)
    assert sim.info.has_free_root and sim.dt == pytest.approx(0.02)
    for _ in range(10):
        sim.step()
    # in free fall for 0.2 s: 1 - g t^2 / 2 (semi-implicit Euler: a little further)
    assert sim.root_pos[:, 2].tolist() == pytest.approx([1 - 0.5 * 9.81 * 0.2**2] * 2, abs=0.02)


def test_position_gains_are_refused_for_actuators_that_are_not_position_servos():
    # Ant's actuators are motors (torque = gear x ctrl): they have no kp or kv to set
    with pytest.raises(ValueError, match=r"actuator '.+' is not a position servo \(MJCF <position>\)"):
        Simulation("mjcf/ant.xml", num_envs=1, position_gains=(50.0, None))
    # left out, the model is loaded as it is
    assert Simulation("mjcf/ant.xml", num_envs=1, position_gains=(None, None)).info.nu == 8
