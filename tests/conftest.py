import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_ASSETS = Path(__file__).resolve().parent / "assets"

torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def run_train(*overrides: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run scripts/train.py as a user would, in `cwd`, and return the finished process."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "train.py"), *overrides],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def checkpoint_training_time(path: Path) -> float:
    """The seconds of training a checkpoint's run had behind it (rsl_rl keeps them in its `infos`)."""
    from isaac_rl.rlgames.checkpoint import load_checkpoint
    from isaac_rl.utils.run_summary import TRAINING_TIME_KEY

    state = load_checkpoint(path)
    return float(state.get(TRAINING_TIME_KEY, (state.get("infos") or {}).get(TRAINING_TIME_KEY, 0.0)))


def assert_training_time_goes_on(before: float, saved_after: Path, resumed_stdout: str) -> None:
    """A run resumed from a checkpoint with `before` seconds of training counts them: in its checkpoints and epoch lines."""
    after = checkpoint_training_time(saved_after)
    assert before > 0 and after > before, (before, after)
    lines = re.findall(r"^epoch \d+/\d+: .*, time ([\d.]+)s \(([\d.]+)s in all\)", resumed_stdout, re.M)
    assert lines, resumed_stdout[-2000:]
    here, in_all = (float(value) for value in lines[-1])
    assert in_all == pytest.approx(before + here, abs=0.11), (before, here, in_all)


# runs a script as `python script args`, then writes which of $MODULES it had loaded by the time it exited
_RUN_AND_LIST_MODULES = """
import os, runpy, sys
script, sys.argv = sys.argv[1], sys.argv[1:]
try:
    runpy.run_path(script, run_name="__main__")
    code = 0
except SystemExit as stop:
    code = stop.code
finally:
    with open(os.environ["LOADED_OUT"], "w") as out:
        out.write(",".join(name for name in os.environ["MODULES"].split(",") if name in sys.modules))
sys.exit(code)
"""


def run_script_and_list_modules(script: str, *args: str, cwd: Path, modules: Sequence[str]) -> tuple[subprocess.CompletedProcess, list[str]]:
    """scripts/<script> as a user runs it, in `cwd`, and which of `modules` it had imported when it exited."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "MODULES": ",".join(modules), "LOADED_OUT": str(cwd / ".loaded")}
    result = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_MODULES, str(REPO_ROOT / "scripts" / script), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    loaded = (cwd / ".loaded").read_text().split(",") if (cwd / ".loaded").exists() else ["<not written>"]
    return result, [name for name in loaded if name]


def step_graph_without_host_sync(env, steps: int) -> None:
    """Capture `env`'s CUDA step graph, then replay it `steps` times with random actions, failing on any host sync."""
    shape = (env.num_envs, env.num_actions)
    env.reset()
    for _ in range(3):  # two eager warm-up steps, then the capture
        env.step(torch.zeros(shape, device=env.device))
    assert env._step_graph is not None
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(steps):
            env.step(2 * torch.rand(shape, device=env.device) - 1)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    env.check_health()
    assert torch.isfinite(env.obs_buf).all()


def random_control_rollout(sim, scale: float, steps: int, read) -> torch.Tensor:
    """`steps` steps under seeded random controls (the same draws on every backend), `read(sim)` after each, stacked on the CPU."""
    generator = torch.Generator().manual_seed(0)
    states = []
    for _ in range(steps):
        sim.set_ctrl((scale * torch.randn(sim.num_envs, sim.info.nu, generator=generator)).to(sim.device))
        sim.step()
        states.append(read(sim).cpu())
    return torch.stack(states)


def random_ops_run_by(fn) -> list[str]:
    """The aten ops that draw from torch's generators (`nondeterministic_seeded`) while `fn()` runs, in order."""
    from torch.utils._python_dispatch import TorchDispatchMode

    drawn: list[str] = []

    class RecordDraws(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if torch.Tag.nondeterministic_seeded in func.tags:
                drawn.append(str(func))
            return func(*args, **(kwargs or {}))

    with RecordDraws():
        fn()
    return drawn


def make_shipped_task(task: str, device: str = "cpu", num_envs: int = 4, backend: str = "mujoco", **env):
    """`task` built from its shipped cfg/task/<task>.yaml with `num_envs`, the physics `backend` and `env` keys changed."""
    from omegaconf import OmegaConf

    from isaac_rl import CFG_ROOT, tasks

    cfg = OmegaConf.to_container(OmegaConf.load(CFG_ROOT / "task" / f"{task}.yaml"))
    cfg["env"].update(numEnvs=num_envs, **env)
    cfg["sim"]["backend"] = backend
    return tasks.make(task, cfg=cfg, rl_device=device, sim_device=device, graphics_device_id=0, headless=True)
