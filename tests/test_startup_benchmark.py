"""scripts/benchmark_startup.py and scripts/warm_cache.py on the CPU: what CI can run of issue 29's start-up work."""

import csv
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT

from isaac_rl.tasks import TASK_MAP

SCRIPTS = REPO_ROOT / "scripts"


def _run(script: str, *args: str, timeout: int = 600, **variables: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", **variables}
    return subprocess.run([sys.executable, str(SCRIPTS / script), *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_the_startup_benchmark_times_each_phase_and_the_first_epoch_on_cpu(tmp_path):
    out = tmp_path / "bench"
    # as on the GPU machines, whose image writes no byte-code: the report says its imports are not a normal install's
    no_bytecode = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": ""}
    result = _run("benchmark_startup.py", "task=Cartpole", "num_envs=16", "sim_device=cpu", "rl_device=cpu", "--modes", "cold", "--out", str(out), **no_bytecode)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "byte-code caching is off" in (out / "startup.md").read_text()
    rows = list(csv.DictReader(open(out / "startup.csv")))
    assert [(row["task"], row["cache"], row["num_envs"]) for row in rows] == [("Cartpole", "cold", "16")]
    row = rows[0]
    for phase in ("import_torch_s", "import_launch_s", "cuda_init_s", "build_s", "reset_s", "step1_s", "step3_s", "probe_total_s", "first_epoch_s"):
        assert float(row[phase]) >= 0, phase
    # the real command reached its milestones in order, then its first epoch line
    milestones = ("train_imports_s", "train_sim_built_s", "train_task_built_s", "train_agent_built_s", "train_reset_s")
    seconds = [float(row[key]) for key in milestones]
    assert 0 < seconds[0] and seconds == sorted(seconds), dict(zip(milestones, seconds))
    assert float(row["first_epoch_s"]) > seconds[-1]
    table = (out / "startup.md").read_text()
    assert "| Cartpole | cold | 16 |" in table and "train: first epoch line" in table
    assert "| Cartpole | cold | 16 |" in result.stdout


def test_the_startup_benchmark_refuses_what_is_not_an_override_or_a_task(tmp_path):
    result = _run("benchmark_startup.py", "Cartpole", "--out", str(tmp_path))
    assert result.returncode == 2 and "expected hydra overrides key=value" in result.stderr
    result = _run("benchmark_startup.py", "task=Cartpol", "--out", str(tmp_path))
    assert result.returncode == 2 and "unknown task(s) Cartpol; accepted: Cartpole, Ant" in result.stderr


def test_warm_cache_refuses_an_unknown_task():
    result = _run("warm_cache.py", "--tasks", "Cartpole", "Humanoidd")
    assert result.returncode == 2 and "unknown task(s) Humanoidd; accepted: " + ", ".join(TASK_MAP) in result.stderr


def test_the_docker_image_and_its_warm_command_cover_every_shipped_task():
    dockerfile = (REPO_ROOT / "docker" / "Dockerfile").read_text()
    warm_runs = [line for line in dockerfile.splitlines() if line.startswith("RUN") and "warm_cache.py" in line]
    assert warm_runs and all("--tasks" not in line for line in warm_runs)  # no list: every shipped task
    entrypoint = (REPO_ROOT / "docker" / "entrypoint.sh").read_text()
    assert "set -- Cartpole Ant" not in entrypoint
    help_text = _run("warm_cache.py", "--help").stdout
    assert " ".join(TASK_MAP) in " ".join(help_text.split())
    assert "GymEnv" not in TASK_MAP and Path(REPO_ROOT / "cfg" / "task" / "GymEnv.yaml").exists()


def test_warm_cache_compiles_the_step_under_the_matmul_precision_of_a_training_run():
    # torch.compile's cache keys include the float32 matmul precision, which rl_games' Runner sets for the whole
    # training process: a step warmed under another one was compiled again by every training run (seen on an H200)
    report = "print(torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32)"
    warmed = f"import sys, torch; sys.path.insert(0, 'scripts'); from warm_cache import build_task; build_task('Cartpole', 'cpu', 2); {report}"
    trained = f"import torch; from isaac_rl.rlgames.launch import build_runner; build_runner(None); {report}"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    settings = [
        subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=True).stdout.split()[-2:]
        for code in (warmed, trained)
    ]
    assert settings[0] == settings[1], settings


def test_the_startup_benchmark_can_time_the_training_command_alone(tmp_path):
    out = tmp_path / "bench"
    # both modes: a fresh machine's first command, then its second on the caches the first one filled
    result = _run("benchmark_startup.py", "task=Cartpole", "num_envs=16", "sim_device=cpu", "rl_device=cpu", "--modes", "warm", "cold", "--train-only", "--out", str(out))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    rows = list(csv.DictReader(open(out / "startup.csv")))
    assert [row["cache"] for row in rows] == ["cold", "warm"]
    for row in rows:
        assert row["import_torch_s"] == "" and row["step1_s"] == ""  # no probe ran
        assert float(row["first_epoch_s"]) > float(row["train_reset_s"]) > float(row["train_imports_s"]) > 0
    refused = _run("benchmark_startup.py", "task=Cartpole", "--train-only", "--compile-pays")
    assert refused.returncode != 0 and "--compile-pays times the probe's steps" in refused.stderr
