"""One cache root for Warp's kernels and torch.compile's caches, chosen before either library reads its setting."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

from isaac_rl.utils.compile_cache import VARIABLES, use_cache_dir
from isaac_rl.utils.startup_timer import T0_VARIABLE, compile_counters, mark, parse_compile_counters, parse_marks, report_compile_counters

# What each library itself resolves, once imported and initialised after use_cache_dir.
REPORT = """
import json, sys
from isaac_rl.utils.compile_cache import use_cache_dir
use_cache_dir(*sys.argv[1:])
import warp as wp
wp.config.quiet = True
wp.init()
from torch._inductor.runtime.cache_dir_utils import cache_dir, triton_cache_dir
print(json.dumps({"warp": wp.config.kernel_cache_dir, "inductor": cache_dir(), "triton": triton_cache_dir(0)}))
"""


def _resolved(*args: str, env: dict) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in VARIABLES.values() and k != "ISAAC_RL_CACHE_DIR"}
    result = subprocess.run(
        [sys.executable, "-c", REPORT, *args], env={**clean, "PYTHONPATH": str(REPO_ROOT), **env}, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_warp_inductor_and_triton_cache_under_the_given_root(tmp_path):
    found = _resolved(str(tmp_path / "root"), env={})
    assert found["warp"].startswith(str(tmp_path / "root" / "warp"))  # Warp adds its version folder
    assert found["inductor"] == str(tmp_path / "root" / "inductor")
    assert found["triton"] == str(tmp_path / "root" / "triton")


def test_the_root_variable_and_inherited_variables(tmp_path):
    # no root given: $ISAAC_RL_CACHE_DIR, and a variable already set (a Docker image's) is kept
    found = _resolved(env={"ISAAC_RL_CACHE_DIR": str(tmp_path / "shared"), "WARP_CACHE_PATH": str(tmp_path / "image_warp")})
    assert found["warp"].startswith(str(tmp_path / "image_warp"))
    assert found["inductor"] == str(tmp_path / "shared" / "inductor")
    # a root given explicitly (cache_dir=) wins over inherited variables
    found = _resolved(str(tmp_path / "mine"), env={"WARP_CACHE_PATH": str(tmp_path / "image_warp")})
    assert found["warp"].startswith(str(tmp_path / "mine" / "warp"))


def test_warp_dir_moves_warps_cache_alone(tmp_path):
    found = _resolved(str(tmp_path / "root"), str(tmp_path / "kernels"), env={})
    assert found["warp"].startswith(str(tmp_path / "kernels"))
    assert found["inductor"] == str(tmp_path / "root" / "inductor")


def test_too_late_for_an_initialised_warp_is_an_error(tmp_path, monkeypatch):
    import warp as wp

    for variable in VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("ISAAC_RL_CACHE_DIR", raising=False)
    wp.init()
    with pytest.raises(RuntimeError, match="already initialised"):
        use_cache_dir(tmp_path / "late")


def test_marks_print_seconds_since_the_command_only_when_asked(monkeypatch, capsys):
    monkeypatch.delenv(T0_VARIABLE, raising=False)
    mark("sim built")
    assert capsys.readouterr().err == ""
    monkeypatch.setenv(T0_VARIABLE, "0")  # the epoch: the line holds a large, well-formed number
    mark("sim built")
    mark("sim built")
    marks = parse_marks(capsys.readouterr().err)
    assert list(marks) == ["sim built"] and marks["sim built"] > 1e9


def test_compile_counters_count_a_compiled_function_and_are_reported_only_when_asked(monkeypatch, capsys):
    import torch

    monkeypatch.delenv(T0_VARIABLE, raising=False)
    report_compile_counters()
    assert capsys.readouterr().err == ""
    before = compile_counters()  # the process's counts so far (other tests compile too)
    compiled = torch.compile(lambda x: x * 2 + 1, backend="eager")
    compiled(torch.ones(3))
    compiled(torch.ones(3))
    monkeypatch.setenv(T0_VARIABLE, "0")
    report_compile_counters()
    counts = parse_compile_counters(capsys.readouterr().err)
    assert counts["compiled_graphs"] == before["compiled_graphs"] + 1
    assert (counts["recompiles"], counts["graph_breaks"]) == (before["recompiles"], before["graph_breaks"])
    assert parse_compile_counters("no such line") == {}
