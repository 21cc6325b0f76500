"""scripts/plot_training_curve.py reads train.py's epoch lines for the curves in docs/benchmarks.md."""

import importlib.util

import pytest
from conftest import REPO_ROOT

spec = importlib.util.spec_from_file_location("plot_training_curve", REPO_ROOT / "scripts" / "plot_training_curve.py")
plot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plot)

LOG = """isaac_rl: task Ant, 4096 envs
epoch 1/500: no episode finished yet, time 6.9s, ETA 55s, fps total 9000, frames 65536
epoch 2/500: mean episode reward -8.22, mean episode length 40.0, time 7.0s, ETA 55s, fps total 600000, frames 131072
epoch 3/500: mean episode reward 4.13, mean episode length 70.4, time 7.1s, ETA 55s, fps total 600000, frames 196608, forward_speed 0.08
"""


def test_runs_are_compared_against_frames_or_wall_clock(tmp_path):
    log = tmp_path / "run.log"
    log.write_text(LOG)
    assert plot.read_rewards(log, "frames") == ([0.131072, 0.196608], [-8.22, 4.13])
    assert plot.read_rewards(log, "time") == ([7.0, 7.1], [-8.22, 4.13])
    (tmp_path / "empty.log").write_text("no epochs here\n")
    with pytest.raises(ValueError, match="frames N"):
        plot.read_rewards(tmp_path / "empty.log", "frames")
