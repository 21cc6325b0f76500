"""Where a run writes: one directory per run, `<train_dir>/<experiment>/<date>_<time>/`.

A run directory holds the run's `config.yaml`, `nn/` (checkpoints) and
`summaries/` (tensorboard), and nothing of any other run. Its name is the
start time (Isaac Lab's `%Y-%m-%d_%H-%M-%S`), with `_2`, `_3`, ... added when
two runs of one experiment start within the same second; the directory is
claimed with an exclusive `mkdir`, so two runs can never pick the same one.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

STAMP_FORMAT = "%Y-%m-%d_%H-%M-%S"
_RUN_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})(?:_(\d+))?$")


def _order(path: Path) -> tuple[str, int] | None:
    match = _RUN_NAME.match(path.name)
    if match is None or not path.is_dir():
        return None
    return match.group(1), int(match.group(2) or 1)


def run_dirs(experiment_dir: str | Path) -> list[Path]:
    """The run directories of an experiment, oldest first."""
    directory = Path(experiment_dir)
    if not directory.is_dir():
        return []
    runs = [(order, path) for path in directory.iterdir() if (order := _order(path)) is not None]
    return [path for _, path in sorted(runs)]


def newest_run_dir(experiment_dir: str | Path) -> Path | None:
    """The run of this experiment that started last, or None when it has none."""
    runs = run_dirs(experiment_dir)
    return runs[-1] if runs else None


def is_run_dir(path: str | Path) -> bool:
    return _order(Path(path)) is not None


def new_run_dir(experiment_dir: str | Path, now: float | None = None) -> Path:
    """Create and return a run directory of its own under `experiment_dir`."""
    directory = Path(experiment_dir)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime(STAMP_FORMAT, time.localtime(now))
    for attempt in range(1, 10_000):
        candidate = directory / (stamp if attempt == 1 else f"{stamp}_{attempt}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise RuntimeError(f"no free run directory for {stamp} under {directory}")


def resumed_run_dir(resume: bool | str, experiment_dir: str | Path, test: bool = False, checkpoint: str = "") -> Path | None:
    """The run directory a `resume` setting names (True: the experiment's newest), or None for a new run."""
    if resume is False:
        return None
    if test:
        raise ValueError("resume continues training; to play a policy give test=True checkpoint=<file>.pth")
    if checkpoint:
        raise ValueError("give resume=True (the newest run of the experiment), resume=<run dir> or checkpoint=<file>.pth, not two of them")
    if resume is True:
        run = newest_run_dir(experiment_dir)
        if run is None:
            print(f"resume=True: no run of {experiment_dir} yet, starting a new run")
        return run
    run = Path(resume)
    if not run.is_dir():
        known = ", ".join(str(r) for r in run_dirs(experiment_dir)[-3:]) or f"none under {experiment_dir}"
        raise FileNotFoundError(f"resume={resume}: no such run directory; newest runs: {known}")
    return run
