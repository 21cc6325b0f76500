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
"""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from isaac_rl import tasks
from isaac_rl.tasks import TASK_MAP
from isaac_rl.tasks.base.vec_task import VecTask
from isaac_rl.utils.config import compose_config

from conftest import step_graph_without_host_sync

SHIPPED_TASKS = list(TASK_MAP)
NUM_ENVS = 64
pytestmark = pytest.mark.gpu


def make_task(task: str, compile_step: bool, num_envs: int = NUM_ENVS) -> VecTask:
    cfg = compose_config(
        [f"task={task}", f"num_envs={num_envs}", "sim_device=cuda:0", "rl_device=cuda:0", f"task.sim.compile_step={compile_step}"]
    )
    env = tasks.resolve(cfg.task_name)(
        cfg=OmegaConf.to_container(cfg.task, resolve=True), rl_device="cuda:0", sim_device="cuda:0", graphics_device_id=0, headless=True
    )
    assert env.use_cuda_graph and env.compile_step == compile_step
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
                elif isinstance(item, wp.array) and item.device.is_cuda:
                    tensor = wp.to_torch(item)
                    found[id(tensor)] = tensor
                elif type(item).__module__.startswith(("isaac_rl", "mujoco_warp")):
                    pending.append(item)
    # expanded constants (a stride of 0) cannot be written, and nothing writes them
    return [t for t in found.values() if t.is_cuda and 0 not in t.stride() and not t.requires_grad]


def save_state(env: VecTask) -> list[tuple[torch.Tensor, torch.Tensor]]:
    torch.cuda.synchronize()
    return [(t, t.clone()) for t in _state_tensors(env)] + [(None, torch.cuda.get_rng_state())]


def restore_state(saved: list[tuple[torch.Tensor | None, torch.Tensor]]) -> None:
    for tensor, value in saved:
        if tensor is None:
            torch.cuda.set_rng_state(value)
        else:
            tensor.copy_(value)
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


@pytest.fixture
def inductor_keeps_aten_random():
    import torch._inductor.config as inductor_config

    before = inductor_config.fallback_random
    inductor_config.fallback_random = True
    yield
    inductor_config.fallback_random = before


@pytest.mark.parametrize("compile_step", [False, True], ids=["graph", "compiled+graph"])
@pytest.mark.parametrize("task", SHIPPED_TASKS)
def test_the_captured_step_equals_the_eager_step(task, compile_step, inductor_keeps_aten_random):
    torch.manual_seed(0)
    env = make_task(task, compile_step)
    generator = torch.Generator(device="cuda:0").manual_seed(1)
    actions = [2 * torch.rand((env.num_envs, env.num_actions), device="cuda:0", generator=generator) - 1 for _ in range(8)]
    env.reset()
    for k in range(6):  # warm-ups, the capture, then replays
        env.step(actions[k])
    assert env._step_graph is not None
    env.reset_buf[::4] = 1  # these envs reset at the start of the compared step's bookkeeping

    saved = save_state(env)
    replayed = _copies(env.step(actions[6]))
    restore_state(saved)
    eager = _copies(eager_step(env, actions[6]))

    for name, value in eager.items():
        graph_value = replayed[name]
        if value.dtype.is_floating_point:
            # rounding only (see the module docstring); 1e-3 is far above it and leaves room for the
            # solver stopping an iteration earlier or later on a rounding-level difference
            torch.testing.assert_close(graph_value, value, atol=1e-3, rtol=1e-3, msg=lambda m: f"{task} {name}: {m}")
        else:
            # a termination threshold crossed by a rounding-level difference flips one env, rarely
            flipped = int((graph_value != value).sum())
            assert flipped <= 1, f"{task} {name}: {flipped} of {value.numel()} entries differ between graph replay and eager step"


@pytest.mark.parametrize("compile_step", [False, True], ids=["graph", "compiled+graph"])
@pytest.mark.parametrize("task", SHIPPED_TASKS)
def test_the_captured_step_replays_without_host_synchronisation(task, compile_step):
    """`task.sim.compile_step=False` (what a failed compile recommends) must capture too: nothing copied from the host."""
    env = make_task(task, compile_step)
    step_graph_without_host_sync(env, steps=30)


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
