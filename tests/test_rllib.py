"""RLlib's PPO trains an isaac_rl task through the gymnasium VectorEnv view (examples/rllib/cartpole_ppo.py)."""

import json
import re
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

pytest.importorskip("ray.rllib")


def test_rllib_ppo_trains_cartpole_through_make_vec(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "rllib" / "cartpole_ppo.py"), "--iterations", "5"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    returns = [float(r) for r in re.findall(r"^iteration \d+: mean episode return (-?[\d.]+)", result.stdout, re.M)]
    assert len(returns) == 5, result.stdout[-2000:]
    # a random policy drops the pole within a few dozen steps; five PPO iterations keep it up far longer
    assert returns[-1] > 2 * max(returns[0], 1.0), returns
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["iterations"] == 5
