"""Events: startup / reset / interval firing, the randomization engine's draws and name-pattern selection, pushes."""

import mujoco
import pytest
import torch

from isaac_rl.tasks.base.draws import Draw
from isaac_rl.tasks.base.event_terms import push_by_setting_velocity, randomize_field
from isaac_rl.tasks.base.events import Event, Noise

from model_task import ModelTask

DT = 0.02
# Two 1 kg boxes on frictionless contacts (condim 1), 1 m apart; `com` is the scene's centre of mass
BOX = '<body name="{0}" pos="{1} 0 0.1"><freejoint/><geom name="{0}" type="box" size="0.1 0.1 0.1" mass="1" condim="1"/></body>'
TWO_BOXES = f"""
<mujoco>
  <option timestep="0.01"/>
  <worldbody>
    <geom name="floor" type="plane" size="50 50 0.1" condim="1"/>
    {BOX.format("a", 0)}
    {BOX.format("b", 1)}
  </worldbody>
  <sensor><subtreecom name="com" body="world"/></sensor>
</mujoco>
"""


def two_boxes(tmp_path, num_envs: int = 4, backend: str = "mujoco", **kwargs) -> ModelTask:
    if backend == "warp":
        pytest.importorskip("mujoco_warp")
    path = tmp_path / "two_boxes.xml"
    path.write_text(TWO_BOXES)
    return ModelTask(str(path), num_envs, backend, dt=DT, **kwargs)


def recorder(calls: list):
    def record(env, env_mask: torch.Tensor) -> None:
        calls.append(env_mask.clone())

    return record


def run(task: ModelTask, steps: int) -> None:
    for _ in range(steps):
        task.step(torch.zeros(task.num_envs, task.num_actions))


# -- when events fire ------------------------------------------------------------
def test_an_interval_event_fires_every_n_steps(tmp_path):
    calls = []
    task = two_boxes(tmp_path, events={"tick": Event(recorder(calls), "interval", interval_s=3 * DT)})
    task.reset()
    run(task, 9)
    fired = torch.stack(calls)  # one call a step, (steps, envs)
    assert fired[[2, 5, 8]].all() and not fired[[0, 1, 3, 4, 6, 7]].any()


def test_random_intervals_are_drawn_per_env_within_their_range(tmp_path):
    calls, together = [], []
    events = {
        "tick": Event(recorder(calls), "interval", interval_s=(2 * DT, 5 * DT)),
        "global": Event(recorder(together), "interval", interval_s=(2 * DT, 5 * DT), global_time=True),
    }
    torch.manual_seed(0)
    task = two_boxes(tmp_path, num_envs=16, events=events)
    task.reset()  # starts every clock
    run(task, 60)
    fired = torch.stack(calls)
    gaps = set()
    for env in range(16):
        steps = [-1] + torch.nonzero(fired[:, env]).flatten().tolist()
        gaps |= {b - a for a, b in zip(steps[:-1], steps[1:])}
    assert gaps == {2, 3, 4, 5}  # every interval in [2, 5] steps, each length drawn somewhere
    assert len({tuple(fired[:, env].tolist()) for env in range(16)}) > 1  # envs keep their own clocks
    everyone = torch.stack(together)
    assert bool((everyone.all(dim=1) | ~everyone.any(dim=1)).all()) and everyone.any()  # one clock: all or none


def test_reset_events_fire_for_the_resetting_envs_and_restart_their_interval_clocks(tmp_path):
    resets, ticks = [], []
    events = {"reset": Event(recorder(resets), "reset"), "tick": Event(recorder(ticks), "interval", interval_s=4 * DT)}
    task = two_boxes(tmp_path, num_envs=3, events=events)
    task.reset()
    assert resets[-1].all()
    run(task, 2)
    assert not resets[-1].any()
    task.reset_buf[1] = 1
    run(task, 1)  # step 3: env 1 resets, its interval clock starts again
    assert resets[-1].tolist() == [False, True, False]
    run(task, 4)
    fired = torch.stack(ticks)
    assert fired[3].tolist() == [True, False, True] and fired[6].tolist() == [False, True, False]


def test_startup_events_run_once_for_every_env(tmp_path):
    calls = []
    task = two_boxes(tmp_path, events={"startup": Event(recorder(calls), "startup")})
    task.reset()
    task.reset_buf[:] = 1
    run(task, 3)
    assert len(calls) == 1 and calls[0].all()


# -- the randomization engine ------------------------------------------------------
def test_draws_are_clamped_to_physical_values(tmp_path):
    huge = Draw((0.0, 100.0), "gaussian", "add")
    events = {
        "mass": Event(randomize_field, "startup", {"quantity": "mass", "actor": "a", "draw": huge}),
        "friction": Event(randomize_field, "startup", {"quantity": "friction", "draw": huge}),
        "bounded": Event(randomize_field, "startup", {"quantity": "mass", "actor": "b", "draw": Draw((0.5, 2.0), bounds=(None, 1.5))}),
    }
    # randomization_params' gaussians go through the same engine
    params = {"actor_params": {"b": {"rigid_shape_properties": {"friction": {"range": [0.0, 100.0], "distribution": "gaussian"}}}}}
    torch.manual_seed(0)
    task = two_boxes(tmp_path, num_envs=64, events=events, randomization_params=params)
    p = task.sim.parameters
    mass, friction = p["body_mass"][:, 1], p["geom_friction"][:, :, 0]
    assert bool((mass > 0).all()) and bool((mass < 1e-3).any())  # draws below zero sit at the bound
    assert bool((p["body_inertia"][:, 1] > 0).all())
    assert bool((friction >= 0).all()) and bool((friction[:, 0] == 0).any()) and bool((friction[:, 2] == 0).any())
    assert float(p["body_mass"][:, 2].max()) <= 1.5 and float(p["body_mass"][:, 2].min()) >= 0.5


SELECTION = {
    "shank_mass": {"quantity": "mass", "names": ".*_SHANK", "draw": Draw((3.0, 3.0), operation="abs")},
    "foot_friction": {"quantity": "friction", "actor": "base", "names": ".*_foot", "draw": Draw((2.0, 2.0), operation="abs")},
    "knee_damping": {"quantity": "damping", "names": ".*_KFE", "draw": Draw((5.0, 5.0), operation="abs")},
    "left_hip_gains": {"quantity": "kp", "actor": "base", "names": "L._HAA", "draw": Draw((50.0, 50.0), operation="abs")},
    "hip_force_limits": {"quantity": "force_limit", "names": ".*_HFE", "draw": Draw((0.5, 0.5))},
}


@pytest.mark.parametrize("backend", ["mujoco", "warp"])
def test_elements_are_picked_by_name_pattern(backend):
    if backend == "warp":
        pytest.importorskip("mujoco_warp")
    events = {name: Event(randomize_field, "startup", params) for name, params in SELECTION.items()}
    task = ModelTask("mjcf/anymal.xml", num_envs=2, backend=backend, events=events)
    p, m = task.sim.parameters, task.sim.mj_model

    def ids(obj: mujoco.mjtObj, names: list[str]) -> list[int]:
        return [mujoco.mj_name2id(m, obj, name) for name in names]

    def check(field: str, picked: list[int], value: float, column: int | None = None) -> None:
        drawn = p[field] if column is None else p[field][..., column]
        nominal = p.nominal(field) if column is None else p.nominal(field)[..., column]
        expected = nominal.clone()
        expected[picked] = value
        torch.testing.assert_close(drawn, expected.expand_as(drawn))

    legs = ["LF", "RF", "LH", "RH"]
    check("body_mass", ids(mujoco.mjtObj.mjOBJ_BODY, [f"{leg}_SHANK" for leg in legs]), 3.0)
    check("geom_friction", ids(mujoco.mjtObj.mjOBJ_GEOM, [f"{leg}_foot" for leg in legs]), 2.0, column=0)
    knees = [int(m.jnt_dofadr[j]) for j in ids(mujoco.mjtObj.mjOBJ_JOINT, [f"{leg}_KFE" for leg in legs])]
    check("dof_damping", knees, 5.0)
    left_hips = ids(mujoco.mjtObj.mjOBJ_ACTUATOR, ["LF_HAA", "LH_HAA"])
    check("actuator_gainprm", left_hips, 50.0, column=0)
    check("actuator_biasprm", left_hips, -50.0, column=1)  # the servo's bias follows kp
    hips = ids(mujoco.mjtObj.mjOBJ_ACTUATOR, [f"{leg}_HFE" for leg in legs])
    check("actuator_forcerange", hips, 40.0, column=1)  # 80 N m x 0.5, the range keeping its shape
    check("actuator_forcerange", hips, -40.0, column=0)
    task.reset()
    task.step(torch.full((2, 12), 2.0))  # targets 2 rad away: every servo pushes at its limit
    force = task.sim.actuator_force.abs()
    others = [a for a in range(12) if a not in hips]
    torch.testing.assert_close(force[:, hips], torch.full((2, 4), 40.0))
    torch.testing.assert_close(force[:, others], torch.full((2, 8), 80.0))


@pytest.mark.parametrize("backend", ["mujoco", "warp"])
def test_a_mass_drawn_at_reset_holds_from_the_reset_on(tmp_path, backend):
    draw = Draw((1.0, 9.0), operation="abs")
    events = {"mass": Event(randomize_field, "reset", {"quantity": "mass", "actor": "a", "draw": draw})}
    torch.manual_seed(0)
    task = two_boxes(tmp_path, backend=backend, events=events)
    run(task, 3)
    task.reset()  # draws box a's mass, then puts both boxes back
    mass = task.sim.parameters["body_mass"][:, 1].clone()
    assert mass.std() > 0.5
    com_x = 1.0 / (mass + 1.0)  # box a at x 0, box b (1 kg) at x 1
    if backend == "mujoco":  # MuJoCo C computes the reset state with the env's own parameters
        torch.testing.assert_close(task.sim.sensor("com")[:, 0], com_x)
    for _ in range(10):  # 10 N on box a, frictionless: semi-implicit Euler moves it a h^2 n (n + 1) / 2 in n physics steps
        task.sim.xfrc_applied[:, 1, 0] = 10.0
        task.step(torch.zeros(task.num_envs, 1))
    h, n = DT / 2, 20
    torch.testing.assert_close(task.sim.qpos[:, 0], 10.0 / mass * h**2 * n * (n + 1) / 2, rtol=0.02, atol=1e-5)


def test_a_push_sets_the_named_velocity_components_of_the_envs_it_fires_for(tmp_path):
    push = Event(push_by_setting_velocity, "interval", {"velocity_range": {"x": (1.0, 2.0), "yaw": (-1.0, -0.5)}}, interval_s=2 * DT)
    task = two_boxes(tmp_path, num_envs=8, events={"push": push})
    task.reset()
    pushed = [0, 5]  # x, yaw
    run(task, 1)
    assert float(task.sim.scene.actor_root_state("a")[:, 0, 7:13][:, pushed].abs().max()) < 1e-3  # not yet
    run(task, 1)
    velocity = task.sim.scene.actor_root_state("a")[:, 0, 7:13]
    assert bool(((velocity[:, 0] >= 1.0) & (velocity[:, 0] <= 2.0)).all()) and velocity[:, 0].std() > 0
    assert bool(((velocity[:, 5] >= -1.0) & (velocity[:, 5] <= -0.5)).all())
    assert float(velocity[:, [1, 3, 4]].abs().max()) < 1e-3  # the others kept theirs
    assert float(task.sim.scene.actor_root_state("b")[:, 0, 7:13][:, pushed].abs().max()) < 1e-3  # the first actor only


def test_noise_changes_actions_and_observations(tmp_path):
    events = {"obs": Noise("observations", Draw((0.0, 0.5), "gaussian", "add")), "act": Noise("actions", Draw((5.0, 5.0), operation="abs"))}
    task = two_boxes(tmp_path, events=events)
    obs = task.reset()["obs"]
    assert float((obs - task.obs_buf).std()) == pytest.approx(0.5, rel=0.3)
    assert float(task.event_manager.noisy_actions(torch.zeros(4, 1)).min()) == 5.0


@pytest.mark.parametrize(
    "declare, message",
    [
        (lambda: Event(print, "often"), "event mode 'often'; accepted: startup, reset, interval"),
        (lambda: Event(print, "interval"), "interval_s is for mode 'interval' and needed there"),
        (lambda: Event(print, "interval", interval_s=(2.0, 1.0)), r"interval_s must be seconds > 0 or \[min, max\]"),
        (lambda: Event(print, "startup", min_steps_between_resets=3), "min_steps_between_resets is for mode 'reset'"),
        (lambda: Noise("rewards", Draw((0, 1))), "noise target 'rewards'; accepted: actions, observations"),
        (lambda: Draw((0, 1), "normal"), "distribution='normal'; accepted: uniform, gaussian, loguniform"),
        (lambda: Draw((0, 1), operation="multiply"), "operation='multiply'; accepted: add, scale, abs"),
    ],
)
def test_bad_declarations_say_what_is_accepted(declare, message):
    with pytest.raises(ValueError, match=message):
        declare()


@pytest.mark.parametrize(
    "params, message",
    [
        ({"quantity": "density", "draw": Draw((1, 2))}, "event 'x': no quantity 'density' to randomize; accepted: mass, com"),
        ({"quantity": "mass", "actor": "c", "draw": Draw((1, 2))}, "no actor named 'c'; the scene's actors are: a, b"),
        ({"quantity": "friction", "names": "wheel.*", "draw": Draw((1, 2))}, "no geom matches 'wheel.*'; the model has: floor, a, b"),
        ({"quantity": "kp", "actor": "a", "draw": Draw((1, 2))}, "randomize kp: actor 'a' has no actuators"),
        ({"quantity": "gravity", "actor": "a", "draw": Draw((1, 2))}, "gravity is one per env: it takes no actor or names"),
    ],
)
def test_bad_event_params_name_the_event_and_what_is_accepted(tmp_path, params, message):
    with pytest.raises(ValueError, match=message):
        two_boxes(tmp_path, events={"x": Event(randomize_field, "startup", params)})


@pytest.mark.gpu
def test_events_in_the_cuda_step_graph_replay_as_the_eager_step(tmp_path):
    """Interval pushes and reset draws (fixed values: the same in both runs) inside the captured, compiled step."""
    from conftest import step_graph_without_host_sync

    events = {
        "push": Event(push_by_setting_velocity, "interval", {"velocity_range": {"x": (1.0, 1.0)}}, interval_s=(3 * DT, 3 * DT)),
        "mass": Event(randomize_field, "reset", {"quantity": "mass", "actor": "a", "draw": Draw((4.0, 4.0), operation="abs")}),
        "friction": Event(randomize_field, "startup", {"quantity": "friction", "draw": Draw((0.5, 0.5), operation="abs")}),
    }

    def rollout(use_graph: bool) -> torch.Tensor:
        path = tmp_path / "two_boxes.xml"
        path.write_text(TWO_BOXES.replace('condim="1"', 'condim="3"'))
        task = ModelTask(str(path), 64, "warp", "cuda:0", events, max_episode_length=7, dt=DT, sim={"use_cuda_graph": use_graph})
        assert task.use_cuda_graph == use_graph
        task.reset()
        actions = torch.zeros(64, 1, device="cuda:0")
        return torch.stack([task.step(actions)[0]["obs"].clone() for _ in range(30)])

    graph, eager = rollout(True), rollout(False)
    torch.testing.assert_close(graph, eager, atol=1e-5, rtol=1e-5)
    assert float(eager[:, :, 14].max()) > 0.5  # box a was pushed (and slowed by friction): qvel[0] follows 14 qpos

    path = tmp_path / "two_boxes.xml"
    task = ModelTask(str(path), 64, "warp", "cuda:0", events, max_episode_length=7, dt=DT)
    step_graph_without_host_sync(task, 50)
    assert bool((task.sim.parameters["body_mass"][:, 1] == 4.0).all())
