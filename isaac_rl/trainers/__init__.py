"""Trainers other than rl_games: rsl_rl and skrl on the same VecTask object, chosen by `trainer=`.

    python scripts/train.py task=Anymal trainer=rsl_rl
    python scripts/train.py task=Ant trainer=skrl

Each library's own PPO runs the task's tensors where they are (no copies to
the host); the adapters (`rsl_rl.py`, `skrl.py`) only translate the step's
outputs into the library's conventions. Their configs are the libraries' own
formats, one file per task: `cfg/train/<trainer>/<Task>.yaml`. A run writes
the same `runs/<experiment>/<run>/` layout as rl_games (config.yaml, nn/,
summaries/), prints the same start-up and epoch lines, resumes and plays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def run_trainer(cfg: Any, resumed: Path | None) -> tuple[Any, Path | None]:
    """Train or play `cfg.task_name` with `cfg.trainer` (rsl_rl or skrl); scripts/train.py's dispatch, once it
    has settled the run to resume (`resumed`) and the checkpoint file. Returns the run's `RunResult` and directory
    (None, None on ranks other than 0), for the summary line."""
    from isaac_rl.trainers import common

    return common.run(cfg, resumed)
