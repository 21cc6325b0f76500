"""From the command to the first epoch: where the seconds go, per task, warm and cold.

    python scripts/benchmark_startup.py                                   # every shipped task, warm and cold
    python scripts/benchmark_startup.py task=Anymal,Ant num_envs=4096 --modes warm
    python scripts/benchmark_startup.py task=Cartpole num_envs=16 sim_device=cpu rl_device=cpu --out bench/startup
    python scripts/benchmark_startup.py --modes cold --train-only         # every task's cold first epoch, compiled once
    python scripts/benchmark_startup.py --train-only                      # every task: a fresh machine's first and second command

For each task and cache state, two fresh processes:
- a probe (this script, --probe) builds the task as scripts/train.py does and
  times each phase: import torch, import the rl_games launcher, import the
  task, initialise CUDA (torch's and Warp's contexts; 0 on the CPU), build
  model and sim (MuJoCo Warp's kernels, loaded or compiled, are
  part of it and also shown alone), reset, the first two steps (warm-ups
  outside the CUDA graph; with `sim.compile_step` the first pays for
  torch.compile), the third (CUDA graph capture; without compile_step the
  second captures) and the steady step; with torch.compile's counters
  (graphs, recompiles, FX graph cache hits and misses);
- `scripts/train.py task=X max_iterations=1`: seconds from the command to
  its first epoch line, the real command path, and to its milestones on the
  way (imports done, sim built, task built, rl_games agent built, first
  reset, step captured).
cold: every cache (Warp, Inductor, Triton) in a new empty directory per
process; warm: the cache root --cache-dir, stepped once before (--no-prime:
not), as a machine that trained before has it.
--train-only leaves out the probe: only the training command's milestones and
first epoch line, and a cold row compiles everything once instead of twice.
With both modes it times a fresh machine's first and second commands: per
task, one command on new empty caches (cold), then the same command on the
caches that one filled (warm; --cache-dir and priming are not used).
--compile-pays adds, per task, whether `task.sim.compile_step` pays: its
compile seconds against the step time it saves over a default run (the
train config's max_epochs x horizon_length steps).
Prints a markdown table and writes startup.csv and startup.md under --out.
Any other key=value is a hydra override for both processes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))  # the probe builds tasks with warm_cache.build_task

from isaac_rl.utils.compile_cache import VARIABLES, cache_root  # noqa: E402
from isaac_rl.utils.startup_timer import T0_VARIABLE, compile_counters, parse_compile_counters, parse_marks  # noqa: E402

PROBE_PREFIX = "isaac_rl startup probe: "
EPOCH_LINE = re.compile(r"^epoch \d+")
KERNELS_LINE = re.compile(r"kernels ready in ([\d.]+)s")
STEADY_STEPS = 100
# the training command's milestones (isaac_rl.utils.startup_timer.mark): column key -> event
TRAIN_MARKS = {
    "imports": "imports done",
    "sim_built": "sim built",
    "task_built": "task built",
    "agent_built": "agent built",
    "reset": "reset",
    "captured": "step captured",
}

# (column, heading) of the table, in order
COLUMNS = [
    ("task", "task"),
    ("cache", "cache"),
    ("num_envs", "envs"),
    ("compile_step", "compile_step"),
    ("python_start_s", "python start"),
    ("import_torch_s", "import torch"),
    ("import_launch_s", "import rl_games launcher"),
    ("import_task_s", "import task"),
    ("cuda_init_s", "CUDA init"),
    ("build_s", "model+sim build"),
    ("warp_kernels_s", "Warp kernels"),
    ("reset_s", "reset"),
    ("step1_s", "step 1 (compile)"),
    ("step2_s", "step 2"),
    ("step3_s", "step 3 (capture)"),
    ("steady_step_ms", "steady step ms"),
    ("compiled_graphs", "graphs"),
    ("recompiles", "recompiles"),
    ("fx_cache", "FX cache hit/miss/bypass"),
    ("probe_total_s", "probe total"),
    ("train_imports_s", "train: imports"),
    ("train_sim_built_s", "train: sim built"),
    ("train_task_built_s", "train: task built"),
    ("train_agent_built_s", "train: agent built"),
    ("train_reset_s", "train: reset"),
    ("train_captured_s", "train: step captured"),
    ("train_fx_cache", "train: FX cache hit/miss/bypass"),
    ("first_epoch_s", "train: first epoch line"),
]


# -- the probe (a child process) ----------------------------------------------
def probe(task: str, overrides: list[str]) -> dict:
    """Build and step `task` in this process, timing each phase from the command's start ($ISAAC_RL_STARTUP_T0)."""
    t0 = float(os.environ.get(T0_VARIABLE) or time.time())
    times = {"python_start_s": time.time() - t0}

    def lap(name: str, since: float) -> float:
        now = time.time()
        times[name] = now - since
        return now

    now = time.time()
    import torch

    now = lap("import_torch_s", now)
    import isaac_rl.rlgames.launch  # noqa: F401  (what scripts/train.py imports before the task)

    now = lap("import_launch_s", now)
    from warm_cache import build_task

    from isaac_rl import tasks

    tasks.resolve(task)
    now = lap("import_task_s", now)
    from isaac_rl.utils.config import compose_config

    cfg = compose_config([f"task={task}", *overrides])
    if str(cfg.sim_device).startswith("cuda"):  # torch's and Warp's CUDA contexts, apart from the build they would be in
        torch.empty(1, device=cfg.sim_device)
        import warp as wp

        wp.init()
    now = lap("cuda_init_s", now)
    env = build_task(task, None, None, overrides)
    now = lap("build_s", now)

    def sync() -> None:
        if env.device.type == "cuda":
            torch.cuda.synchronize(env.device)

    env.reset()
    sync()
    now = lap("reset_s", now)
    actions = torch.zeros((env.num_envs, env.num_actions), device=env.rl_device)
    for step in (1, 2, 3):
        env.step(actions)
        sync()
        now = lap(f"step{step}_s", now)
    for _ in range(STEADY_STEPS):
        env.step(actions)
    sync()
    times["steady_step_ms"] = (time.time() - now) * 1000 / STEADY_STEPS
    times["probe_total_s"] = time.time() - t0
    train = cfg.train.params.config
    return {**times, **compile_counters(), "num_envs": env.num_envs, "compile_step": bool(env.compile_step),
            "cuda_graph": bool(env.use_cuda_graph), "physics": env.sim.describe(),
            "horizon_length": int(train.horizon_length), "max_epochs": int(train.max_epochs)}  # fmt: skip


# -- the parent ----------------------------------------------------------------
def _run(command: list[str], env: dict[str, str], timeout: float) -> tuple[str, dict[str, float], float | None]:
    """Run `command`, reading its merged output as it comes; returns (output, mark times, seconds to the first epoch line)."""
    started = time.time()
    env = {**env, T0_VARIABLE: repr(started), "PYTHONUNBUFFERED": "1"}
    first_epoch = None
    lines = []
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        for line in process.stdout:
            lines.append(line)
            if first_epoch is None and EPOCH_LINE.match(line):
                first_epoch = time.time() - started
            if time.time() - started > timeout:
                process.kill()
                raise RuntimeError(f"{' '.join(command)} ran past {timeout:.0f}s")
        process.wait()
    output = "".join(lines)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}:\n{output[-3000:]}")
    return output, parse_marks(output), first_epoch


def _cache_env(root: Path) -> dict[str, str]:
    """The environment of a child whose every compile cache lives under `root`."""
    return {**os.environ, "ISAAC_RL_CACHE_DIR": str(root), **{v: str(root / name) for name, v in VARIABLES.items()}}


def run_probe(task: str, root: Path, overrides: list[str], timeout: float) -> dict:
    """The probe's results for `task` with its caches in `root`, and the Warp kernels' seconds."""
    command = [sys.executable, str(Path(__file__).resolve()), "--probe", task, *overrides]
    output, _, _ = _run(command, _cache_env(root), timeout)
    found = [line[len(PROBE_PREFIX) :] for line in output.splitlines() if line.startswith(PROBE_PREFIX)]
    if not found:
        raise RuntimeError(f"the probe of {task} printed no result:\n{output[-3000:]}")
    kernels = [float(s) for s in KERNELS_LINE.findall(output)]
    return {**json.loads(found[-1]), "warp_kernels_s": sum(kernels) if kernels else ""}


def measure(task: str, cache: str, root: Path | None, overrides: list[str], timeout: float, prime: bool, with_probe: bool = True) -> dict:
    """One row: a probe (unless not `with_probe`) and a training run of `task`, cold (root None: new empty caches
    each) or warm in `root`."""
    row = {"task": task, "cache": cache}
    train_command = [sys.executable, str(SCRIPTS / "train.py"), f"task={task}", "max_iterations=1", "headless=True", *overrides]
    with tempfile.TemporaryDirectory(prefix="isaac_rl_startup_") as scratch:
        train_command.append(f"train_dir={Path(scratch) / 'runs'}")
        probe_root = root or Path(scratch) / "probe_cache"
        train_root = root or Path(scratch) / "train_cache"
        if prime:
            run_probe(task, probe_root, overrides, timeout)
        if with_probe:
            row.update(run_probe(task, probe_root, overrides, timeout))
        output, marks, first_epoch = _run(train_command, _cache_env(train_root), timeout)
        if first_epoch is None:
            raise RuntimeError(f"{' '.join(train_command)} printed no epoch line:\n{output[-3000:]}")
        row["first_epoch_s"] = first_epoch
        row.update({f"train_{key}_s": marks.get(event, "") for key, event in TRAIN_MARKS.items()})
        row["train_fx_cache"] = parse_compile_counters(output).get("fx_cache", "")
    return row


def compile_pays(task: str, compiled: dict, root: Path, overrides: list[str], timeout: float) -> dict:
    """Whether `sim.compile_step` pays for `task` over a default run: its compile seconds against the step time it saves.

    `compiled` is a warm probe's row with the step compiled; the uncompiled probe runs here, in the same warm cache.
    """
    eager = run_probe(task, root, [*overrides, "task.sim.compile_step=False"], timeout)
    # the compiled run's first three steps compile, warm up and capture; the uncompiled run's warm up, capture, replay
    cost = sum(compiled[f"step{k}_s"] - eager[f"step{k}_s"] for k in (1, 2, 3))
    saved_ms = eager["steady_step_ms"] - compiled["steady_step_ms"]
    run_steps = compiled["horizon_length"] * compiled["max_epochs"]
    break_even = cost * 1000 / saved_ms if saved_ms > 0 else float("inf")
    return {
        "task": task, "num_envs": compiled["num_envs"], "compile_s": cost,
        "step_ms_compiled": compiled["steady_step_ms"], "step_ms_uncompiled": eager["steady_step_ms"],
        "break_even_epochs": break_even / compiled["horizon_length"], "default_run_epochs": compiled["max_epochs"],
        "compile_pays": bool(break_even < run_steps),
    }  # fmt: skip


PAYS_COLUMNS = [
    ("task", "task"), ("num_envs", "envs"), ("compile_s", "compile + capture s"),
    ("step_ms_compiled", "step ms compiled"), ("step_ms_uncompiled", "step ms uncompiled"),
    ("break_even_epochs", "break-even epochs"), ("default_run_epochs", "default run epochs"), ("compile_pays", "compile pays"),
]  # fmt: skip


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def markdown_table(rows: list[dict], columns: list[tuple[str, str]] = COLUMNS) -> str:
    header = "| " + " | ".join(heading for _, heading in columns) + " |"
    rule = "|" + "---|" * len(columns)
    body = ["| " + " | ".join(_cell(row.get(key, "")) for key, _ in columns) + " |" for row in rows]
    return "\n".join([header, rule, *body])


def split_overrides(words: list[str]) -> tuple[list[str] | None, list[str]]:
    """(tasks named by `task=A,B` or None, the other overrides); every word must be key=value."""
    bad = [w for w in words if "=" not in w or w.startswith("=")]
    if bad:
        raise ValueError(f"expected hydra overrides key=value (task=Cartpole,Ant num_envs=64 ...), got {' '.join(bad)}")
    named = [w.split("=", 1)[1] for w in words if w.startswith("task=")]
    others = [w for w in words if not w.startswith("task=")]
    tasks = [t for value in named for t in value.split(",") if t] or None
    return tasks, others


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="task=A,B (default: every shipped task), num_envs=N, any hydra override")
    parser.add_argument("--modes", nargs="+", choices=("warm", "cold"), default=["warm", "cold"])
    parser.add_argument("--cache-dir", default=None, help="the warm cache root (default: $ISAAC_RL_CACHE_DIR, else ~/.cache/isaac_rl)")
    parser.add_argument("--no-prime", action="store_true", help="measure the warm cache as it is, without stepping each task once first")
    parser.add_argument("--out", default="bench/startup", help="directory for startup.csv and startup.md")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one process may take")
    parser.add_argument("--compile-pays", action="store_true", help="also time the warm step uncompiled and say per task whether "
                        "task.sim.compile_step pays over a default run (CUDA: compile_step is off on the CPU)")  # fmt: skip
    parser.add_argument("--train-only", action="store_true", help="only the training command's milestones and first epoch "
                        "line, no probe: a cold row compiles everything once instead of twice")  # fmt: skip
    parser.add_argument("--keep-fresh", metavar="DIR", help="with --train-only and both modes: keep each task's caches in DIR/<task> "
                        "(emptied first) for later warm runs with --cache-dir DIR/<task> --no-prime")  # fmt: skip
    parser.add_argument("--probe", metavar="TASK", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train_only and args.compile_pays:
        parser.error("--compile-pays times the probe's steps: leave out --train-only")
    # a fresh machine's first and second commands: the warm row runs on the cache its task's cold row filled
    first_then_second = args.train_only and set(args.modes) == {"cold", "warm"}
    if args.keep_fresh and not first_then_second:
        parser.error("--keep-fresh keeps the caches of --train-only's cold and warm rows: give --train-only and both modes")
    if args.probe:
        print(PROBE_PREFIX + json.dumps(probe(args.probe, args.overrides)), flush=True)
        return 0
    try:
        tasks, overrides = split_overrides(args.overrides)
    except ValueError as error:
        parser.error(str(error))
    from isaac_rl.tasks import TASK_MAP

    tasks = tasks or list(TASK_MAP)
    unknown = [t for t in tasks if t not in TASK_MAP]
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}; accepted: {', '.join(TASK_MAP)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    note = bytecode_note()
    if note:
        print(f"benchmark_startup: {note}", file=sys.stderr, flush=True)
    modes = ["cold", "warm"] if first_then_second else args.modes
    rows = []
    with tempfile.TemporaryDirectory(prefix="isaac_rl_fresh_") as scratch:
        fresh_root = Path(args.keep_fresh) if args.keep_fresh else Path(scratch)
        for task in tasks:
            shutil.rmtree(fresh_root / task, ignore_errors=True)  # a fresh machine's caches start empty
            for mode in modes:
                if first_then_second:
                    root, prime = fresh_root / task, False
                elif mode == "warm":
                    root, prime = cache_root(args.cache_dir), not args.no_prime
                else:
                    root, prime = None, False
                try:
                    row = measure(task, mode, root, overrides, args.timeout, prime, with_probe=not args.train_only)
                except RuntimeError as error:
                    print(f"benchmark_startup: {task} ({mode}) failed: {error}", file=sys.stderr, flush=True)
                    row = {"task": task, "cache": mode, "first_epoch_s": "failed"}
                rows.append(row)
                print(f"benchmark_startup: {task} ({mode}): first epoch line {_cell(row.get('first_epoch_s'))}s after the command", flush=True)
    table = markdown_table(rows)
    print(table)
    _write_csv(out / "startup.csv", rows, COLUMNS)
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    preface = f"{note}\n\n" if note else ""
    report = f"`{command}`\n\n{preface}{table}\n"
    failed = any(row.get("first_epoch_s") == "failed" for row in rows)
    if args.compile_pays:
        pays = []
        for row in rows:
            if row["cache"] == "warm" and row.get("compile_step") is True:
                try:
                    pays.append(compile_pays(row["task"], row, cache_root(args.cache_dir), overrides, args.timeout))
                except RuntimeError as error:
                    print(f"benchmark_startup: {row['task']} uncompiled failed: {error}", file=sys.stderr, flush=True)
                    failed = True
        pays_table = markdown_table(pays, PAYS_COLUMNS) if pays else "(no warm run compiled its step: compile_step is off without CUDA graphs)"
        print(pays_table)
        _write_csv(out / "compile_pays.csv", pays, PAYS_COLUMNS)
        report += f"\nDoes `task.sim.compile_step` pay (warm caches)?\n\n{pays_table}\n"
    (out / "startup.md").write_text(report)
    print(f"benchmark_startup: wrote {out / 'startup.csv'} and {out / 'startup.md'}")
    return 1 if failed else 0


def bytecode_note() -> str | None:
    """Why the import columns may not be a normal install's: Python writes no byte-code caches in this environment."""
    if not sys.flags.dont_write_bytecode or sys.pycache_prefix:
        return None
    # the GPU machines' image sets PYTHONDONTWRITEBYTECODE=1 and ships torch without __pycache__: every process then
    # compiles each imported module's source (import torch 5.4 s, the rl_games launcher 18 s on an H200 machine)
    return ("byte-code caching is off (PYTHONDONTWRITEBYTECODE): unless the installed packages carry their .pyc files, "
            "each process compiles every imported module's source, so the import columns are not a normal install's; "
            "unset it or set PYTHONPYCACHEPREFIX to a writable directory to measure with caches")  # fmt: skip


def _write_csv(path: Path, rows: list[dict], columns: list[tuple[str, str]]) -> None:
    fields = [key for key, _ in columns] + sorted({k for row in rows for k in row} - {key for key, _ in columns})
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    sys.exit(main())
