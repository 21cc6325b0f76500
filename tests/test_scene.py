"""Scenes beyond one robot: actors, ball joints, equality constraints, external forces, by name, on both backends."""

import math

import pytest
import torch
from conftest import TEST_ASSETS, random_control_rollout

from isaac_rl.sim import Simulation

SCENE = str(TEST_ASSETS / "scene.xml")
# Warp runs on Warp's CPU device here: the CUDA code path without a GPU.
BACKENDS = [("mujoco", "cpu"), ("warp", "cpu")]


def _sim(backend: str = "mujoco", device: str = "cpu", num_envs: int = 3, **kwargs) -> Simulation:
    return Simulation(SCENE, num_envs=num_envs, device=device, backend=backend, **kwargs)


def test_scene_parts_resolve_by_name_and_pattern():
    sim = _sim()
    scene = sim.scene
    # actors are the world body's children: free bodies and articulation roots, fixed props included
    assert scene.actor_names == ["table", "ball", "cart", "arm_upper", "crate", "post", "lamp"]
    assert scene.actor_ids(["crate", "ball"]) == [4, 1]  # in the order asked
    assert scene.body_ids("arm_.*") == [5, 6]
    assert scene.joint_names("scalar") == ["tilt", "cart_slide", "shoulder"]
    assert scene.joint_names("ball") == ["elbow"]
    assert scene.root_state.shape == (3, 7, 13)
    assert scene.ball_quat("elbow").shape == (3, 1, 4) and scene.ball_ang_vel("elbow").shape == (3, 1, 3)
    assert scene.body_pos(".*").shape == (3, 10, 3) and scene.body_vel(["ball", "crate"]).shape == (3, 2, 6)
    assert sim.xfrc_applied.shape == (3, 10, 6)
    # hinge/slide dofs are split by the ball's free joint in qpos: gathered, still right
    torch.testing.assert_close(sim.dof_pos, scene.joint_pos(".*"))
    # a contiguous pick is a view of the state, not a copy
    assert scene.joint_pos("tilt")._is_view() and scene.joint_pos("tilt").data_ptr() == sim.qpos.data_ptr()
    with pytest.raises(KeyError, match="no actor matches 'robot'; the model has: table, ball"):
        scene.actor_ids("robot")
    with pytest.raises(KeyError, match="no hinge/slide joint matches 'elbow'"):
        scene.joint_pos("elbow")
    with pytest.raises(ValueError, match=r"\['post'\] have a fixed base"):
        scene.write_root_state(torch.ones(3, dtype=torch.bool), "post", torch.zeros(3, 1, 13))


def test_root_state_reads_free_joints_with_world_frame_angular_velocity():
    sim = _sim(num_envs=1)
    half = math.pi / 4  # the ball turned 90 degrees about x: its z axis points along -y in the world
    state = torch.tensor([[[0.3, 0.2, 1.0, math.cos(half), math.sin(half), 0, 0, 0.5, 0, 0, 0, -2.0, 0]]])
    sim.scene.write_root_state(torch.tensor([True]), "ball", state)
    adr = 1  # the ball's free joint follows the tilt hinge in qpos
    torch.testing.assert_close(sim.qpos[0, adr : adr + 7], state[0, 0, :7])
    # MuJoCo's free-joint qvel: world-frame linear, body-frame angular (here a spin about the body's z)
    torch.testing.assert_close(sim.qvel[0, 1:7], torch.tensor([0.5, 0, 0, 0, 0, 2.0]), atol=1e-6, rtol=0)
    torch.testing.assert_close(sim.scene.actor_root_state("ball"), state, atol=1e-6, rtol=0)
    # body velocity (from cvel, recomputed by the reset's forward pass on MuJoCo C) agrees
    torch.testing.assert_close(sim.scene.body_vel("ball")[0, 0], state[0, 0, 7:], atol=1e-5, rtol=0)
    # a fixed-base actor reports where it is attached and zero velocity, whatever its joints do
    torch.testing.assert_close(sim.scene.actor_root_state("arm_upper")[0, 0], torch.tensor([0, -2.0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]))


@pytest.mark.parametrize("backend,device", BACKENDS)
def test_writing_root_and_joint_state_touches_only_masked_envs_and_named_parts(backend, device):
    sim = _sim(backend, device, num_envs=3)
    sim.set_ctrl(torch.tensor([[1.0, 2.0]]).repeat(3, 1))
    for _ in range(5):
        sim.step()
    before_root, before_qpos, before_qvel = sim.scene.root_state, sim.qpos.clone(), sim.qvel.clone()
    mask = torch.tensor([True, False, True])
    crate = torch.tensor([1.5, 0.5, 2.0, 1, 0, 0, 0, 0, 0, 0, 1.0, 0, 0]).repeat(3, 1, 1)
    sim.scene.write_root_state(mask, "crate", crate)
    after = sim.scene.root_state
    torch.testing.assert_close(after[mask][:, 4], crate[mask][:, 0])
    torch.testing.assert_close(after[~mask], before_root[~mask])  # other envs untouched
    others = [0, 1, 2, 3, 5, 6]
    torch.testing.assert_close(after[:, others], before_root[:, others])  # other actors untouched
    torch.testing.assert_close(sim.ctrl, torch.tensor([[1.0, 2.0]]).repeat(3, 1))  # controls kept
    # ball joint and a hinge, masked too
    quat = torch.tensor([math.cos(0.2), 0, 0, math.sin(0.2)]).repeat(3, 1, 1)
    sim.scene.write_joint_state(mask, "elbow", quat, torch.full((3, 1, 3), 0.1))
    sim.scene.write_joint_state(mask, "shoulder", torch.full((3, 1), 0.3), None)
    torch.testing.assert_close(sim.scene.ball_quat("elbow")[mask], quat[mask])
    torch.testing.assert_close(sim.scene.ball_ang_vel("elbow")[mask], torch.full((2, 1, 3), 0.1))
    torch.testing.assert_close(sim.scene.joint_pos("shoulder")[mask], torch.full((2, 1), 0.3))
    torch.testing.assert_close(sim.qpos[~mask], before_qpos[~mask])
    torch.testing.assert_close(sim.qvel[~mask], before_qvel[~mask])
    sim.step()
    assert (sim.scene.actor_root_state("crate")[mask, 0, 2] < 2.0).all()  # the respawned crate falls from 2 m


@pytest.mark.parametrize("backend,device", BACKENDS)
def test_upward_force_of_m_g_makes_a_free_body_float(backend, device):
    sim = _sim(backend, device, num_envs=2, substeps=2)
    crate = sim.scene.body_ids("crate")[0]
    start = torch.tensor([1.0, 0, 1.0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]).repeat(2, 1, 1)
    sim.scene.write_root_state(torch.ones(2, dtype=torch.bool), "crate", start)
    mass = float(sim.info.body_mass[crate])
    sim.xfrc_applied[0, crate, 2] = mass * 9.81  # env 0 floats, env 1 falls
    for _ in range(40):
        sim.step()
    z = sim.scene.actor_root_state("crate")[:, 0, 2]
    t = 40 * sim.dt
    assert abs(float(z[0]) - 1.0) < 1e-3
    assert abs(float(1.0 - z[1]) - 0.5 * 9.81 * t * t) < 0.02
    # a reset clears the applied force of the reset envs only
    sim.reset_envs(torch.tensor([False, True]), sim.qpos.clone(), sim.qvel.clone())
    assert float(sim.xfrc_applied[0, crate, 2]) == pytest.approx(mass * 9.81)


def _ball_on_table_rollout(backend: str, device: str, steps: int) -> torch.Tensor:
    """The free ball rolling on the actuated tilting table (contact between a free object and an articulation).

    Per step: root states of the ball, crate and welded lamp; hinge/slide and ball joints; two bodies' velocities.
    """
    def read(sim: Simulation) -> torch.Tensor:
        root = sim.scene.actor_root_state(["ball", "crate", "lamp"])
        joints = torch.cat([sim.scene.joint_pos(".*"), sim.scene.ball_quat("elbow").flatten(1)], dim=1)
        bodies = sim.scene.body_vel(["table_top", "arm_lower"]).flatten(1)
        return torch.cat([root.flatten(1), joints, bodies], dim=1)

    return random_control_rollout(_sim(backend, device, num_envs=2, substeps=2), 3.0, steps, read)


# float32 (Warp) against float64 (MuJoCo C), with contacts: 100 steps (1 s) agree to 1e-3
# (measured on Warp's CPU device: 9e-5 at step 100, growing steadily, so 10x margin).
SCENE_AGREEMENT_STEPS = 100
SCENE_AGREEMENT_TOLERANCE = 1e-3


def test_warp_and_mujoco_agree_on_a_scene_with_contact():
    reference = _ball_on_table_rollout("mujoco", "cpu", SCENE_AGREEMENT_STEPS)
    warp = _ball_on_table_rollout("warp", "cpu", SCENE_AGREEMENT_STEPS)
    torch.testing.assert_close(warp, reference, atol=SCENE_AGREEMENT_TOLERANCE, rtol=0)
    # the weld holds the free lamp on its post (soft constraint: sags 0.4 mm)
    lamp_start = torch.tensor([-1.0, 0.0, 0.6])
    assert (reference[:, :, 26:29] - lamp_start).abs().max() < 0.01


@pytest.mark.gpu
def test_cuda_and_cpu_agree_on_a_scene_with_contact():
    reference = _ball_on_table_rollout("mujoco", "cpu", SCENE_AGREEMENT_STEPS)
    cuda = _ball_on_table_rollout("warp", "cuda:0", SCENE_AGREEMENT_STEPS)
    torch.testing.assert_close(cuda, reference, atol=SCENE_AGREEMENT_TOLERANCE, rtol=0)
