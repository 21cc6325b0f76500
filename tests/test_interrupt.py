"""Ctrl-C (SIGINT) and a scheduler's SIGTERM stop training at an epoch's end, save, and say how to continue."""

import importlib.util
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO_ROOT, run_train

from isaac_rl.rlgames.checkpoint import load_checkpoint
from isaac_rl.utils.run_dirs import newest_run_dir, run_dirs

RUN = ["task=Cartpole", "num_envs=16", "max_iterations=100000"]
STOPPED = re.compile(r"^isaac_rl: (SIG\w+) after epoch (\d+): saved (\S+); continue with: (.+)$")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_training(cwd: Path, *overrides: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "scripts/train.py", *overrides],  # relative, as a user types it: the resume command repeats it
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def signal_after_epochs(process: subprocess.Popen, signum: int, epochs: int) -> tuple[str, str]:
    """Send `signum` once `epochs` epoch lines have been printed; the process's whole stdout and stderr."""
    lines = []
    deadline = time.monotonic() + 300
    for line in process.stdout:
        lines.append(line)
        if sum(bool(re.match(r"epoch \d+/", seen)) for seen in lines) >= epochs:
            process.send_signal(signum)
            break
        assert time.monotonic() < deadline, "".join(lines)
    out, err = process.communicate(timeout=300)
    return "".join(lines) + out, err


def test_sigint_saves_the_epoch_and_the_printed_command_resumes_at_the_next(tmp_path):
    (tmp_path / "scripts").symlink_to(REPO_ROOT / "scripts")
    first = start_training(tmp_path, *RUN)
    stdout, stderr = signal_after_epochs(first, signal.SIGINT, epochs=3)
    assert first.returncode == 130, stdout[-2000:] + stderr[-2000:]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-3000:]
    last = stdout.strip().splitlines()[-1]
    match = STOPPED.match(last)
    assert match and match.group(1) == "SIGINT", stdout[-2000:]
    epoch, checkpoint, command = int(match.group(2)), Path(match.group(3)), match.group(4)
    # the epoch that was running finished: its line printed, its state saved, atomically, in the run's nn/
    assert re.search(rf"^epoch {epoch}/100000: ", stdout, re.M) and epoch >= 3
    run_dir = newest_run_dir(tmp_path / "runs" / "Cartpole")
    assert checkpoint.parent == (run_dir / "nn").relative_to(tmp_path) and load_checkpoint(tmp_path / checkpoint)["epoch"] == epoch
    assert not list((run_dir / "nn").glob(".*.tmp"))
    assert shlex.split(command) == ["python", "scripts/train.py", *RUN, f"resume={run_dir.relative_to(tmp_path)}"]

    # the printed command, with fewer epochs to go, continues the same run at the next epoch
    resumed = run_train(*shlex.split(command)[2:], f"max_iterations={epoch + 2}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    printed = [int(e) for e in re.findall(r"^epoch (\d+)/", resumed.stdout, re.M)]
    assert printed == [epoch + 1, epoch + 2], resumed.stdout[-2000:]
    assert run_dirs(tmp_path / "runs" / "Cartpole") == [run_dir]


def test_sigterm_saves_and_exits_143_and_a_second_signal_exits_at_once(tmp_path):
    (tmp_path / "scripts").symlink_to(REPO_ROOT / "scripts")
    term = start_training(tmp_path, *RUN)
    stdout, stderr = signal_after_epochs(term, signal.SIGTERM, epochs=2)
    assert term.returncode == 143, stdout[-2000:] + stderr[-2000:]
    match = STOPPED.match(stdout.strip().splitlines()[-1])
    assert match and match.group(1) == "SIGTERM" and (tmp_path / match.group(3)).is_file(), stdout[-2000:]

    # epochs of seconds (262144 frames: about 5 s on a 2-core machine), so that both signals, 0.2 s apart, land inside one
    # and the second does not wait for its end (with 128 steps an epoch took 0.5 s and the run sometimes ended first)
    twice = start_training(tmp_path, "task=Cartpole", "num_envs=256", "train.params.config.horizon_length=1024", "max_iterations=100000")
    lines = []
    for line in twice.stdout:
        lines.append(line)
        if line.startswith("epoch "):
            break
    time.sleep(0.3)
    twice.send_signal(signal.SIGINT)
    time.sleep(0.2)
    twice.send_signal(signal.SIGINT)
    out, err = twice.communicate(timeout=120)
    assert twice.returncode == 130, "".join(lines) + out + err
    assert "SIGINT again: exiting now, nothing saved" in err and "Traceback" not in err, err[-2000:]
    assert not STOPPED.search(out)


def test_rl_games_own_agent_stops_the_same_way(tmp_path):
    (tmp_path / "scripts").symlink_to(REPO_ROOT / "scripts")
    stock = start_training(tmp_path, *RUN, "train.params.algo.name=a2c_continuous_stock")
    stdout, stderr = signal_after_epochs(stock, signal.SIGINT, epochs=2)
    assert stock.returncode == 130 and "Traceback" not in stderr, stdout[-2000:] + stderr[-2000:]
    match = STOPPED.match(stdout.strip().splitlines()[-1])
    assert match and load_checkpoint(tmp_path / match.group(3))["epoch"] == int(match.group(2)) >= 2, stdout[-2000:]


def test_the_resume_command_repeats_the_launcher_and_the_overrides(monkeypatch):
    spec = importlib.util.spec_from_file_location("train_script", REPO_ROOT / "scripts" / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    monkeypatch.setattr(sys, "argv", ["scripts/train.py"])
    argv = ["task=Ant", "checkpoint=runs/Ant/x/nn/Ant.pth", "+train.params.config.gamma=0.98", "hydra.searchpath=[file:///a b]"]
    run = Path("runs/Ant/2026-01-01_00-00-00")
    expected = "scripts/train.py task=Ant +train.params.config.gamma=0.98 'hydra.searchpath=[file:///a b]' resume=runs/Ant/2026-01-01_00-00-00"
    assert train._resume_command(argv, run) == f"python {expected}"
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert train._resume_command(argv, run) == f"torchrun --nproc_per_node=4 {expected}"
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert train._resume_command(argv, run) == f"torchrun --nnodes=2 ... --nproc_per_node=2 {expected}"


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU (gloo) ranks; GPUs take NCCL")
def test_sigterm_to_torchrun_stops_every_rank_at_one_epoch_and_rank_0_saves(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    launcher = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}",
         str(REPO_ROOT / "scripts" / "train.py"), "multi_gpu=True", *RUN],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    stdout, stderr = signal_after_epochs(launcher, signal.SIGTERM, epochs=2)  # torchrun passes it on to its workers
    stopped = [STOPPED.match(line) for line in stdout.splitlines() if STOPPED.match(line)]
    assert len(stopped) == 1, stdout[-2000:] + stderr[-3000:]  # rank 0 alone reports
    epoch, checkpoint = int(stopped[0].group(2)), tmp_path / stopped[0].group(3)
    assert load_checkpoint(checkpoint)["epoch"] == epoch
    assert stopped[0].group(4).startswith("torchrun --nproc_per_node=2 ")


@pytest.mark.parametrize("trainer", ["rsl_rl", "skrl"])
def test_other_trainers_stop_save_and_resume_at_the_next_epoch_the_same_way(trainer, tmp_path):
    pytest.importorskip(trainer)
    from isaac_rl.trainers import common

    (tmp_path / "scripts").symlink_to(REPO_ROOT / "scripts")
    first = start_training(tmp_path, *RUN, f"trainer={trainer}")
    stdout, stderr = signal_after_epochs(first, signal.SIGINT, epochs=2)
    assert first.returncode == 130 and "Traceback" not in stderr, stdout[-2000:] + stderr[-2000:]
    match = STOPPED.match(stdout.strip().splitlines()[-1])
    assert match and match.group(1) == "SIGINT", stdout[-2000:]
    epoch, checkpoint, command = int(match.group(2)), tmp_path / match.group(3), match.group(4)
    assert re.search(rf"^epoch {epoch}/100000: ", stdout, re.M) and epoch >= 2
    assert common._library(trainer).checkpoint_progress(str(checkpoint))[0] == epoch
    run_dir = newest_run_dir(tmp_path / "runs" / f"Cartpole_{trainer}")
    assert checkpoint.parent == run_dir / "nn" and not list((run_dir / "nn").glob(".*.tmp"))
    assert shlex.split(command) == ["python", "scripts/train.py", *RUN, f"trainer={trainer}", f"resume={run_dir.relative_to(tmp_path)}"]

    resumed = run_train(*shlex.split(command)[2:], f"max_iterations={epoch + 1}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert re.findall(r"^epoch (\d+)/", resumed.stdout, re.M) == [str(epoch + 1)], resumed.stdout[-2000:]
    assert resumed.stdout.strip().splitlines()[-1].startswith(f"isaac_rl: trained to epoch {epoch + 1} (1 in this run), ")
