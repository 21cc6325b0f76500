"""A run imports what it uses (issue 29): a run of another trainer does not load rl_games."""

import pytest
from conftest import run_script_and_list_modules

CARTPOLE_ON_CPU = ["task=Cartpole", "num_envs=16", "max_iterations=1", "headless=True", "sim_device=cpu", "rl_device=cpu"]


@pytest.mark.parametrize("trainer", ["rsl_rl", "skrl"])
def test_another_trainers_run_imports_no_rl_games(trainer, tmp_path):
    pytest.importorskip(trainer)
    result, loaded = run_script_and_list_modules("train.py", *CARTPOLE_ON_CPU, f"trainer={trainer}", cwd=tmp_path, modules=("rl_games",))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert loaded == []
