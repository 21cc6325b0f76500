"""Domain randomization (`randomization_params`): per-env physics parameters on both backends, draws, schedules, noise and the config checks."""

import copy

import pytest
import torch
from omegaconf import OmegaConf

from isaac_rl import CFG_ROOT, tasks
from isaac_rl.sim import Simulation
from isaac_rl.tasks.base.draws import Draw

from model_task import ModelTask

# A box that slides on a low-friction floor (MuJoCo takes the larger friction of the two geoms: the box's decides)
SLIDER = """
<mujoco>
  <option timestep="0.005"/>
  <worldbody>
    <geom name="floor" type="plane" size="50 50 0.1" friction="0.05 0.005 0.0001"/>
    <body name="box" pos="0 0 0.1">
      <freejoint/>
      <geom name="box" type="box" size="0.1 0.1 0.1" mass="1" friction="0.5 0.005 0.0001"/>
    </body>
  </worldbody>
</mujoco>
"""


def slider_file(tmp_path, backend: str) -> str:
    if backend == "warp":
        pytest.importorskip("mujoco_warp")
    path = tmp_path / "slider.xml"
    path.write_text(SLIDER)
    return str(path)


def slider(tmp_path, backend: str, num_envs: int) -> Simulation:
    return Simulation(slider_file(tmp_path, backend), num_envs=num_envs, device="cpu", substeps=4, backend=backend)


def slide(sim: Simulation, speed: float = 0.0, force: float = 0.0, steps: int = 50) -> torch.Tensor:
    """Distance each env's box travels along x after starting at `speed` m/s, pushed with `force` N."""
    n = sim.num_envs
    qpos = torch.tensor([[0.0, 0.0, 0.1, 1.0, 0.0, 0.0, 0.0]]).repeat(n, 1)
    qvel = torch.zeros(n, 6)
    qvel[:, 0] = speed
    sim.reset_envs(torch.ones(n, dtype=torch.bool), qpos, qvel)
    for _ in range(steps):
        sim.xfrc_applied[:, 1, 0] = force
        sim.step()
    sim.check_health()
    return sim.root_pos[:, 0].clone()


def randomized_slider(tmp_path, backend: str, num_envs: int, box_properties: dict, seed: int) -> Simulation:
    """The slider of a task with the box's `box_properties` (actor_params.box) drawn per env."""
    path = slider_file(tmp_path, backend)
    torch.manual_seed(seed)
    params = {"actor_params": {"box": box_properties}}
    return ModelTask(path, num_envs, backend, randomization_params=params, dt=0.02, sim={"substeps": 4}).sim


@pytest.mark.parametrize("backend", ["mujoco", "warp"])
def test_envs_with_different_drawn_friction_slide_different_distances(tmp_path, backend):
    friction_draws = {"friction": {"range": [0.2, 2.0], "operation": "scaling", "distribution": "uniform"}}
    sim = randomized_slider(tmp_path, backend, 6, {"rigid_shape_properties": friction_draws}, seed=0)
    friction = sim.parameters["geom_friction"][:, 1, 0].clone()
    assert bool(((friction >= 0.1) & (friction <= 1.0)).all()) and friction.std() > 0.05  # 0.5 x [0.2, 2]
    assert bool((sim.parameters["geom_friction"][:, 0, 0] == 0.05).all())  # the floor is not the box's actor
    distance = slide(sim, speed=2.0)
    # kinetic friction: the box stops after v^2 / (2 mu g)
    expected = 2.0**2 / (2 * friction * 9.81)
    torch.testing.assert_close(distance, expected, rtol=0.1, atol=0.02)
    assert torch.argsort(distance).tolist() == torch.argsort(-friction).tolist()


@pytest.mark.parametrize("backend", ["mujoco", "warp"])
def test_envs_with_different_drawn_mass_move_differently_under_the_same_force(tmp_path, backend):
    mass_draws = {"mass": {"range": [1.0, 3.0], "operation": "additive", "distribution": "uniform"}}
    sim = randomized_slider(tmp_path, backend, 4, {"rigid_body_properties": mass_draws}, seed=1)
    mass = sim.parameters["body_mass"][:, 1].clone()
    assert bool(((mass >= 2.0) & (mass <= 4.0)).all())
    torch.testing.assert_close(sim.parameters["body_subtreemass"][:, 0], mass)  # the world's subtree follows
    # inertia follows the mass (same density)
    nominal = sim.parameters.nominal("body_inertia")[1]
    torch.testing.assert_close(sim.parameters["body_inertia"][:, 1], nominal * mass[:, None])
    distance = slide(sim, force=40.0, steps=25)  # 0.5 s of 40 N less friction 0.5 m g
    t = 0.5
    expected = 0.5 * (40.0 / mass - 0.5 * 9.81) * t**2
    torch.testing.assert_close(distance, expected, rtol=0.1, atol=0.01)


@pytest.mark.parametrize("backend", ["mujoco", "warp"])
def test_gravity_per_env(tmp_path, backend):
    sim = slider(tmp_path, backend, num_envs=2)
    sim.parameters["gravity"][1] = torch.tensor([0.0, 0.0, 0.0])
    qpos = torch.tensor([[0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0]]).repeat(2, 1)
    sim.reset_envs(torch.ones(2, dtype=torch.bool), qpos, torch.zeros(2, 6))
    for _ in range(10):
        sim.step()
    assert sim.root_pos[0, 2] < 0.9 and sim.root_pos[1, 2] == pytest.approx(1.0)


def test_draws_follow_their_distribution_and_schedule():
    device = torch.device("cpu")
    torch.manual_seed(0)
    uniform = Draw((0.5, 1.5), "uniform", "scale").sample((100_000,), device)
    assert 0.5 <= float(uniform.min()) and float(uniform.max()) <= 1.5 and float(uniform.mean()) == pytest.approx(1.0, abs=0.01)
    gaussian = Draw((0.1, 0.2), "gaussian").sample((100_000,), device)  # [mean, std]
    assert float(gaussian.mean()) == pytest.approx(0.1, abs=0.01) and float(gaussian.std()) == pytest.approx(0.2, abs=0.01)
    log = Draw((0.1, 10.0), "loguniform", "scale").sample((100_000,), device)
    assert float(torch.log10(log).mean()) == pytest.approx(0.0, abs=0.02)
    # linear: a quarter of the spread a quarter of the way; scaling draws are pulled towards 1, additive towards 0
    linear = Draw((0.0, 2.0), "uniform", "scale", schedule="linear", schedule_steps=100)
    quarter = linear.sample((100_000,), device, torch.tensor(25))
    assert float(quarter.min()) >= 0.75 and float(quarter.max()) <= 1.25
    constant = Draw((1.0, 2.0), "uniform", "add", schedule="constant", schedule_steps=10)
    assert float(constant.sample((10,), device, torch.tensor(9)).abs().max()) == 0.0
    assert float(constant.sample((10,), device, torch.tensor(10)).min()) >= 1.0


@pytest.mark.parametrize(
    "params, message",
    [
        ({"observation": {}}, r"unknown key\(s\) \['observation'\]"),
        ({"frequency": 0}, "frequency must be a positive integer"),
        ({"actions": {"range": [0, 1], "distribution": "normal"}}, "distribution='normal'; accepted: uniform, gaussian, loguniform"),
        ({"actions": {"range": [1, 0]}}, r"expected \[low, high\]"),
        ({"actions": {"range": 0.1}}, "range must be two numbers"),
        ({"actions": {"range": [0, 1], "schedule": "linear"}}, "schedule_steps must be a positive integer"),
        ({"sim_params": {"timestep": {"range": [0, 1]}}}, "accepted: gravity"),
        ({"actor_params": {"robot": {}}}, "no actor named 'robot'; the scene's actors are: base"),
        ({"actor_params": {"base": {"rigid_body_properties": {"inertia": {"range": [0, 1]}}}}}, "accepted: mass, com"),
        ({"actor_params": {"base": {"dof_properties": {"damping": {"range": [0, 1], "names": "knee"}}}}}, "no joint of actor 'base' matches 'knee'"),
    ],
)
def test_bad_randomization_params_say_what_is_accepted(params, message):
    with pytest.raises((ValueError, KeyError), match=message):
        ModelTask("mjcf/anymal.xml", num_envs=2, randomization_params=params)


def anymal_cfg(randomize: bool, params: dict | None = None) -> dict:
    cfg = OmegaConf.to_container(OmegaConf.load(CFG_ROOT / "task" / "Anymal.yaml"), resolve=False)
    cfg = copy.deepcopy(cfg)
    cfg["env"]["numEnvs"] = 8
    cfg["sim"]["backend"] = "mujoco"
    cfg["task"] = {"randomize": randomize, "randomization_params": params or {}}
    return cfg


def test_the_task_redraws_physics_only_for_envs_that_reset_after_frequency_steps():
    params = {
        "frequency": 3,
        "actor_params": {
            "base": {
                "rigid_shape_properties": {"friction": {"range": [0.5, 1.25], "operation": "scaling"}},
                "rigid_body_properties": {"mass": {"range": [-5.0, 5.0], "names": "base", "setup_only": True}},
                "actuator_properties": {"stiffness": {"range": [0.9, 1.1], "operation": "scaling"}},
            }
        },
    }
    torch.manual_seed(0)
    task = tasks.make("Anymal", cfg=anymal_cfg(True, params), rl_device="cpu", sim_device="cpu", graphics_device_id=0, headless=True)
    p = task.sim.parameters
    kp = p["actuator_gainprm"][:, :, 0]
    assert kp.std(dim=0).min() > 0 and bool(((kp >= 76.5) & (kp <= 93.5)).all())  # per env and actuator, 85 x [0.9, 1.1]
    torch.testing.assert_close(p["actuator_biasprm"][:, :, 1], -kp)  # the servo's bias keeps -kp
    base_mass = p["body_mass"][:, 1].clone()
    assert float((base_mass - p.nominal("body_mass")[1]).abs().max()) <= 5.0 and base_mass.std() > 0
    task.reset()
    actions = torch.zeros(8, 12)
    before = p["geom_friction"][:, :, 0].clone()
    task.reset_buf[:] = 0
    task.reset_buf[0] = 1
    task.step(actions)  # env 0 resets one step after its draw: too soon
    torch.testing.assert_close(p["geom_friction"][:, :, 0], before)
    task.step(actions)
    task.reset_buf[:] = 0
    task.reset_buf[1] = 1
    task.step(actions)  # env 1 resets 3 steps after its draw: new friction and gains, the rest keep theirs
    after = p["geom_friction"][:, :, 0]
    assert not torch.equal(after[1], before[1])
    torch.testing.assert_close(after[2:], before[2:])
    torch.testing.assert_close(p["body_mass"][:, 1], base_mass)  # setup_only: drawn once


def test_observation_and_action_noise_reach_the_policy_and_the_physics():
    params = {"observations": {"range": [0.0, 0.5], "distribution": "gaussian"}, "actions": {"range": [0.0, 0.3], "distribution": "gaussian"}}
    torch.manual_seed(0)
    quiet = tasks.make("Anymal", cfg=anymal_cfg(False), rl_device="cpu", sim_device="cpu", graphics_device_id=0, headless=True)
    noisy = tasks.make("Anymal", cfg=anymal_cfg(True, params), rl_device="cpu", sim_device="cpu", graphics_device_id=0, headless=True)
    torch.manual_seed(1)
    quiet.reset()
    torch.manual_seed(1)
    noisy.reset()
    torch.testing.assert_close(noisy.obs_buf, quiet.obs_buf)  # the same state...
    difference = noisy._observations()["obs"] - quiet._observations()["obs"]
    assert float(difference.std()) == pytest.approx(0.5, rel=0.2)  # ...observed through the noise
    actions = torch.zeros(8, 12)
    quiet.step(actions)
    noisy.step(actions)
    assert float((noisy.sim.dof_pos - quiet.sim.dof_pos).abs().max()) > 1e-3  # noisy actions moved the joints


@pytest.mark.gpu
def test_draws_happen_inside_the_cuda_step_graph_for_envs_that_reset():
    from conftest import step_graph_without_host_sync

    params = {
        "frequency": 1,
        "observations": {"range": [0.0, 0.01], "distribution": "gaussian"},
        "actions": {"range": [0.0, 0.02], "distribution": "gaussian"},
        "sim_params": {"gravity": {"range": [0.0, 0.2], "distribution": "gaussian"}},
        "actor_params": {"base": {"rigid_shape_properties": {"friction": {"range": [0.5, 1.25], "operation": "scaling"}}}},
    }
    # the shipped AnymalTerrain map (its physics kernels are those of the AnymalTerrain GPU test)
    cfg = OmegaConf.to_container(OmegaConf.load(CFG_ROOT / "task" / "AnymalTerrain.yaml"), resolve=False)
    cfg["env"]["numEnvs"] = 1024
    cfg["sim"]["backend"] = "warp"
    cfg["task"] = {"randomize": True, "randomization_params": params}
    task = tasks.make("AnymalTerrain", cfg=cfg, rl_device="cuda:0", sim_device="cuda:0", graphics_device_id=0, headless=True)
    friction = task.sim.parameters["geom_friction"][:, :, 0]
    robot = task.sim.parameters.actor_geoms("base")
    is_ground = torch.ones(friction.shape[1], dtype=torch.bool)
    is_ground[robot] = False
    before = friction.clone()
    step_graph_without_host_sync(task, 300)  # random actions: robots fall and reset
    changed = (friction != before).any(dim=1)
    assert bool(changed.any())  # envs that reset drew again
    drawn = friction[:, robot]
    assert bool(((drawn >= 0.5) & (drawn <= 1.25)).all())
    assert bool((friction[:, is_ground] == 0.2).all())  # the ground pieces are no actor's
