"""The README's two set-up commands give each kind of machine the right torch first (issue 28, item 1).

Each command is run by bash as written, with `pip`, `python` and (on the "GPU
machine") `nvidia-smi` replaced by stubs that log their arguments, so the test
sees what a user's shell would run, in order, without installing anything.
"""

import re
import subprocess
from pathlib import Path

import pytest
from conftest import REPO_ROOT

CPU_TORCH = "pip install torch --index-url https://download.pytorch.org/whl/cpu"
TEST_COMMAND = "python -m pytest -q -n 2 --dist loadfile"


def setup_commands() -> dict[int, str]:
    """The README's 'Set-up command N' blocks: the first indented line after each marker."""
    text = (REPO_ROOT / "README.md").read_text()
    commands = {}
    for match in re.finditer(r"^Set-up command (\d+)\b[^\n]*\n\n {4}(\S[^\n]*)$", text, re.M):
        commands[int(match.group(1))] = match.group(2)
    return commands


def run_in_stub_shell(command: str, tmp_path: Path, gpu: bool) -> list[str]:
    """The pip/python/nvidia-smi calls `command` makes in bash, in order."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    stubs = ["pip", "python"] + (["nvidia-smi"] if gpu else [])
    for name in stubs:
        stub = bin_dir / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n')
        stub.chmod(0o755)
    # PATH holds the stubs only: a real nvidia-smi, pip or python of this machine cannot answer
    result = subprocess.run(["/bin/bash", "-c", command], env={"PATH": str(bin_dir)}, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return log.read_text().splitlines() if log.exists() else []


def test_there_are_exactly_two_set_up_commands_main_job_then_tests():
    commands = setup_commands()
    assert sorted(commands) == [1, 2], commands
    assert commands[1].endswith("python scripts/train.py task=Cartpole")
    assert commands[2].endswith(TEST_COMMAND)
    # CI runs the README's test command
    assert (REPO_ROOT / ".ci" / "run").read_text().rstrip().splitlines()[-1] == TEST_COMMAND
    # nothing the README asks to install comes before them
    text = (REPO_ROOT / "README.md").read_text()
    assert text.index("pip install") > text.index("Set-up command 1")


@pytest.mark.parametrize("number,install,run", [(1, "pip install -e .", "python scripts/train.py task=Cartpole"),
                                                (2, 'pip install -e .[test,wandb,export,ray,rllib,video,rsl-rl,skrl,hands]', TEST_COMMAND)])  # fmt: skip
def test_a_machine_without_a_gpu_installs_the_cpu_torch_before_the_package(number, install, run, tmp_path):
    calls = run_in_stub_shell(setup_commands()[number], tmp_path, gpu=False)
    assert calls == [CPU_TORCH, install, run]


@pytest.mark.parametrize("number", [1, 2])
def test_a_gpu_machine_keeps_pips_default_cuda_torch(number, tmp_path):
    calls = run_in_stub_shell(setup_commands()[number], tmp_path, gpu=True)
    assert CPU_TORCH not in calls and calls[0].startswith("pip install -e .") and len(calls) == 2
