"""Every shipped task's step captures in a CUDA graph, compiled or not, and the replay equals the eager step.

One env is built per case. After its two warm-up steps and the capture, its
whole state (every tensor of the task, its randomizer and sim, every MuJoCo
Warp Data and Model array, the RNG) is saved; the graph replays one step; the
state is put back and the same step runs eagerly, outside the graph and
uncompiled (VecTask's own `_apply_actions`/`_finish_step`). Both started from
one state, so they differ only by rounding: MuJoCo Warp sums contact forces
with atomics in no fixed order, and torch.compile fuses arithmetic. One step
is compared, so no difference carries over.

A quarter of the envs are made to reset in the compared step, so `reset_idx`
(and its random draws) is part of what is compared. Random draws match
because the RNG state is restored before each step: the graph replays the
eager step's draws at the generator's offsets, and with compile_step Inductor
is told to keep aten's random ops (`fallback_random`) instead of its own.
Inductor keeps the draws in program order from torch 2.13 on; before, it
moves separate draws (see "Random draws" in isaac_rl/tasks/base/vec_task.py),
so there a compiled step is compared only where it draws once (the tasks draw
each reset's random numbers in one call); a step drawing at several places
(events, commands, resets) is compared uncompiled only.

Each compiled case starts from fresh Dynamo caches: the tasks share
VecTask's `_finish_step`, and past Dynamo's recompile limit (8 compilations
of one function) a later task would run its step uncompiled and prove nothing.
The same comparison of compiled and eager halves runs on Warp's CPU device,
without a graph, for two tasks (a few tens of seconds of compilation each).
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
from omegaconf import OmegaConf

from isaac_rl import tasks
from isaac_rl.tasks import TASK_MAP
from isaac_rl.tasks.base.vec_task import VecTask
from isaac_rl.utils.config import compose_config

from conftest import random_ops_run_by, step_graph_without_host_sync

SHIPPED_TASKS = list(TASK_MAP)
NUM_ENVS = 64
# Inductor keeps random ops in program order under fallback_random (it chains them) from torch 2.13 on
INDUCTOR_KEEPS_DRAW_ORDER = tuple(int(part) for part in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 13)


def make_task(task: str, compile_step: bool, num_envs: int = NUM_ENVS, device: str = "cuda:0") -> VecTask:
    cfg = compose_config(
        [f"task={task}", f"num_envs={num_envs}", f"sim_device={device}", f"rl_device={device}", "physics_backend=warp",
         f"task.sim.compile_step={compile_step}"]
    )  # fmt: skip
    env = tasks.resolve(cfg.task_name)(
        cfg=OmegaConf.to_container(cfg.task, resolve=True), rl_device=device, sim_device=device, graphics_device_id=0, headless=True
    )
    assert env.compile_step == (compile_step and device.startswith("cuda"))
    return env


def _state_tensors(env: VecTask) -> list[torch.Tensor]:
    """Every writable tensor the step can read or write: the task's, its helpers' (isaac_rl objects), MuJoCo Warp's arrays."""
    import warp as wp

    found: dict[int, torch.Tensor] = {}
    seen: set[int] = set()
    pending = [env]
    while pending:
        obj = pending.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        values = list(vars(obj).values()) if hasattr(obj, "__dict__") else []
        for value in values:
            for item in value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, torch.Tensor):
                    found[id(item)] = item
                elif isinstance(item, wp.array) and str(item.device) == str(wp.device_from_torch(env.device)):
                    tensor = wp.to_torch(item)
                    found[id(tensor)] = tensor
                elif type(item).__module__.startswith(("isaac_rl", "mujoco_warp")):
                    pending.append(item)
    # expanded constants (a stride of 0) cannot be written, and nothing writes them
    return [t for t in found.values() if t.device == env.device and 0 not in t.stride() and not t.requires_grad]


def save_state(env: VecTask) -> list[tuple[torch.Tensor | None, torch.Tensor]]:
    """(tensor, copy) of the whole state, and the RNG's (tensor None)."""
    cuda = env.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    rng = torch.cuda.get_rng_state(env.device) if cuda else torch.get_rng_state()
    return [(t, t.clone()) for t in _state_tensors(env)] + [(None, rng)]


def restore_state(env: VecTask, saved: list[tuple[torch.Tensor | None, torch.Tensor]]) -> None:
    cuda = env.device.type == "cuda"
    for tensor, value in saved:
        if tensor is not None:
            tensor.copy_(value)
        elif cuda:
            torch.cuda.set_rng_state(value, env.device)
        else:
            torch.set_rng_state(value)
    if cuda:
        torch.cuda.synchronize()


def eager_step(env: VecTask, actions: torch.Tensor):
    """One step as `VecTask._step` runs it, outside any graph and without the compiled methods."""
    VecTask._apply_actions(env, actions)
    for _ in range(env.control_freq_inv):
        env.sim.step()
    return VecTask._finish_step(env)


def _copies(outputs) -> dict[str, torch.Tensor]:
    obs_dict, rewards, resets, extras = outputs
    copied = {f"obs_dict[{key!r}]": value.clone() for key, value in obs_dict.items()}
    copied.update(rewards=rewards.clone(), resets=resets.clone(), time_outs=extras["time_outs"].clone())
    return copied


def _random_actions(env: VecTask, count: int) -> list[torch.Tensor]:
    generator = torch.Generator(device=env.device).manual_seed(1)
    return [2 * torch.rand((env.num_envs, env.num_actions), device=env.device, generator=generator) - 1 for _ in range(count)]


@pytest.fixture
def inductor_keeps_aten_random():
    """Inductor keeps aten's random ops, and Dynamo compiles anew (see the module docstring)."""
    import torch._inductor.config as inductor_config

    before = inductor_config.fallback_random
    inductor_config.fallback_random = True
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    yield
    inductor_config.fallback_random = before


def compiled_frames() -> int:
    """Frames Dynamo compiled since `inductor_keeps_aten_random` cleared its counters (none for a frame it ran uncompiled)."""
    return torch._dynamo.utils.counters["frames"]["ok"]


def assert_same_step(task: str, what: str, step: dict[str, torch.Tensor], eager: dict[str, torch.Tensor]) -> None:
    """`step`'s outputs equal the eager step's up to rounding (see the module docstring)."""
    for name, value in eager.items():
        other = step[name]
        if value.dtype.is_floating_point:
            # rounding only; 1e-3 is far above it and leaves room for the
            # solver stopping an iteration earlier or later on a rounding-level difference
            torch.testing.assert_close(other, value, atol=1e-3, rtol=1e-3, msg=lambda m: f"{task} {name}, {what} vs eager: {m}")
        else:
            # a termination threshold crossed by a rounding-level difference flips one env, rarely
            flipped = int((other != value).sum())
            assert flipped <= 1, f"{task} {name}: {flipped} of {value.numel()} entries differ between {what} and eager step"


@pytest.mark.gpu
@pytest.mark.parametrize("compile_step", [False, True], ids=["graph", "compiled+graph"])
@pytest.mark.parametrize("task", SHIPPED_TASKS)
def test_the_captured_step_equals_the_eager_step(task, compile_step, inductor_keeps_aten_random):
    torch.manual_seed(0)
    env = make_task(task, compile_step)
    actions = _random_actions(env, 8)
    env.reset()
    for k in range(6):  # warm-ups, the capture, then replays
        env.step(actions[k])
    assert env._step_graph is not None
    if compile_step:
        assert compiled_frames() >= 2, f"{task}: Dynamo compiled {compiled_frames()} frames, not both halves of the step"
    env.reset_buf[::4] = 1  # these envs reset at the start of the compared step's bookkeeping

    saved = save_state(env)
    replayed = _copies(env.step(actions[6]))
    restore_state(env, saved)
    outputs = []
    draws = random_ops_run_by(lambda: outputs.append(_copies(eager_step(env, actions[6]))))
    if compile_step and len(draws) > 1 and not INDUCTOR_KEEPS_DRAW_ORDER:
        pytest.skip(f"{task}'s step draws {len(draws)} times, and Inductor before torch 2.13 may reorder the draws (module docstring)")
    assert_same_step(task, "graph replay", replayed, outputs[0])


@pytest.mark.parametrize("task", ["BallBalance", "HumanoidAMP"])  # a few tens of seconds of compilation each on 2 cores
def test_the_compiled_step_equals_the_eager_step_on_warps_cpu_device(task, inductor_keeps_aten_random):
    """`sim.compile_step`'s compiled halves against VecTask's own, on Warp's CPU device: no GPU, no graph.

    What compilation alone changes (a write through a view, aliasing, an op
    on an expanded tensor, random draws taken in another order) shows here
    as on the GPU; these tasks reach graph breaks (Warp kinematics), the
    motion library and scene writes inside their reset.
    """
    torch.manual_seed(0)
    env = make_task(task, compile_step=False, num_envs=8, device="cpu")
    env._compile_step_halves()
    actions = _random_actions(env, 3)
    env.reset()
    for k in range(2):  # the compilation, and the recompilation a second call may set off
        env.reset_buf[::4] = 1
        env.step(actions[k])
    assert compiled_frames() >= 2, f"{task}: Dynamo compiled {compiled_frames()} frames, not both halves of the step"
    env.reset_buf[::4] = 1  # resets, with their random draws, are part of the step

    saved = save_state(env)
    compiled = _copies(env.step(actions[2]))
    restore_state(env, saved)
    eager = _copies(eager_step(env, actions[2]))
    assert_same_step(task, "compiled step", compiled, eager)


@pytest.mark.gpu
@pytest.mark.parametrize("compile_step", [False, True], ids=["graph", "compiled+graph"])
@pytest.mark.parametrize("task", SHIPPED_TASKS)
def test_the_captured_step_replays_without_host_synchronisation(task, compile_step):
    """`task.sim.compile_step=False` (what a failed compile recommends) must capture too: nothing copied from the host."""
    env = make_task(task, compile_step)
    step_graph_without_host_sync(env, steps=30)


@pytest.mark.gpu
@pytest.mark.parametrize("task", ["Anymal", "AnymalTerrain"])
def test_anymal_steps_uncompiled_in_a_cuda_graph(task):
    """The crash issue 29 reports: "Cannot copy between CPU and CUDA tensors during CUDA graph capture"."""
    env = make_task(task, compile_step=False, num_envs=256)
    env.reset()
    actions = torch.zeros((env.num_envs, env.num_actions), device="cuda:0")
    for _ in range(200):  # past the first episode terminations: reset_idx writes real resets inside the graph
        obs, _, _, _ = env.step(actions)
    assert env._step_graph is not None
    assert torch.isfinite(obs["obs"]).all()


@pytest.mark.parametrize("task", ["Cartpole", "Anymal"])
def test_the_saved_state_is_the_whole_state_on_warps_cpu_device(task):
    """What the GPU comparison relies on, checked where sums run serially: two steps from one restored state are equal.

    Anything the step reads and the snapshot missed (a buffer, the RNG, a MuJoCo Warp array) would make them differ.
    """
    torch.manual_seed(0)
    env = make_task(task, compile_step=False, num_envs=4, device="cpu")
    actions = _random_actions(env, 4)
    env.reset()
    for k in range(3):
        env.step(actions[k])
    env.reset_buf[::2] = 1  # resets, with their random draws, are part of the step
    saved = save_state(env)
    first = _copies(env.step(actions[3]))
    restore_state(env, saved)
    second = _copies(env.step(actions[3]))
    for name, value in first.items():
        torch.testing.assert_close(second[name], value, atol=0, rtol=0, msg=lambda m: f"{task} {name}: {m}")


def _make_on_warps_cpu_device(task: str, num_envs: int = 4) -> VecTask:
    cfg = compose_config([f"task={task}", f"num_envs={num_envs}", "sim_device=cpu", "rl_device=cpu", "physics_backend=warp"])
    return tasks.resolve(cfg.task_name)(
        cfg=OmegaConf.to_container(cfg.task, resolve=True), rl_device="cpu", sim_device="cpu", graphics_device_id=0, headless=True
    )


STEPS_AFTER_THE_FIRST = 4


@pytest.mark.parametrize("task", [t for t in SHIPPED_TASKS if t != "GymEnv"])  # GymEnv steps gymnasium: nothing to compile
def test_the_compiled_step_is_two_graphs_from_its_first_call(task):
    """`sim.compile_step` compiles exactly two frames, the step's two halves, each one whole graph, at the first step,
    and nothing after: no graph break (pieces run eagerly inside the CUDA graph, more graphs to compile and look up
    at start-up) and no recompilation (the second warm-up step, or worse the capture, compiling again; docs/startup.md).

    What the step reads must exist before it: index plans (`build_index_plans`), `extras`' keys, Warp array views.
    Compiled with backend="aot_eager": dynamo and AOTAutograd as Inductor runs them, without generating code.
    Dynamo alone ("eager") is not enough: its outputs are the very tensors the step stored, AOTAutograd's are
    new aliases as Inductor's are, and a guard on such an identity (`extras` re-set each step) fails only there.
    """
    if task == "ShadowHand" and importlib.util.find_spec("gymnasium_robotics") is None:
        pytest.skip('needs pip install -e ".[hands]"')
    torch.manual_seed(0)
    torch._dynamo.reset()
    env = _make_on_warps_cpu_device(task, num_envs=2)
    env._compile_step_halves(backend="aot_eager")
    actions = _random_actions(env, 1 + STEPS_AFTER_THE_FIRST)
    counters = torch._dynamo.utils.counters
    counters.clear()
    env.reset()
    env.step(actions[0])
    assert counters["frames"]["ok"] == 2, f"{task}: the first step compiled {counters['frames']['ok']} frames, not 2 (one per half)"
    with torch._dynamo.config.patch(error_on_recompile=True):  # a recompilation fails here, with its guard
        for k in range(1, 1 + STEPS_AFTER_THE_FIRST):
            env.reset_buf[::2] = 1  # resets run in the compiled half
            env.step(actions[k])
    assert counters["frames"]["ok"] == 2, f"{task}: steps 2-{1 + STEPS_AFTER_THE_FIRST} compiled frames again"
    assert counters["stats"]["unique_graphs"] == 2, f"{task}: {counters['stats']['unique_graphs']} graphs"
    assert not counters["graph_break"], f"{task}: graph breaks {dict(counters['graph_break'])}"


@pytest.mark.parametrize("task", [t for t in SHIPPED_TASKS if t != "GymEnv"])  # GymEnv steps gymnasium: nothing to compile
def test_the_task_math_traces_into_one_graph(task):
    """With `sim.compile_step`, dynamo must trace the task's torch math whole: a graph break runs the rest of the
    method eagerly, op by op, inside the CUDA graph (an `operator.attrgetter` observation term did, in Ant and Humanoid).
    Traced here with fullgraph=True and no code generation (backend="eager"): a break is an error."""
    if task == "ShadowHand" and importlib.util.find_spec("gymnasium_robotics") is None:
        pytest.skip('needs pip install -e ".[hands]"')
    env = _make_on_warps_cpu_device(task)
    env.reset()
    actions = torch.zeros((env.num_envs, env.num_actions))
    torch._dynamo.reset()
    # no step first: the index plans exist once the task is built (`build_index_plans`)
    methods = [("pre_physics_step", (actions,)), ("update_state", ()), ("compute_observations", ()), ("compute_reward", ())]
    # HumanoidAMP's reset runs MuJoCo Warp's kinematics: a custom op, traced as one node
    methods.append(("reset_idx", (torch.arange(env.num_envs) % 2 == 0,)))
    for method, args in methods:
        torch.compile(getattr(env, method), backend="eager", fullgraph=True)(*args)
