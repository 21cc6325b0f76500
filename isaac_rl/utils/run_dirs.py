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
from typing import Any
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


def experiment_dir(cfg: Any) -> Path:
    """runs/<experiment> of a composed config: rl_games' run name (the task's, or `experiment=`); other trainers'
    `<Task>_<trainer>` (or `experiment=`), so that one experiment never mixes two libraries' checkpoints."""
    if cfg.trainer == "rl_games":
        return Path(cfg.train_dir) / cfg.train.params.config.name
    return Path(cfg.train_dir) / (cfg.experiment or f"{cfg.task_name}_{cfg.trainer}")


def write_run_config(run_dir: str | Path, text: str, resumed: bool) -> Path:
    """`config.yaml` of a new run; a resumed run keeps its own and gets `config.resume_<time>.yaml` beside it."""
    path = Path(run_dir) / "config.yaml"
    if resumed and path.exists():
        path = path.with_name(f"config.resume_{time.strftime(STAMP_FORMAT)}.yaml")
    path.write_text(text)
    return path


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
        except FileNotFoundError:  # another run's remove_unstarted took the empty experiment directory meanwhile
            directory.mkdir(parents=True, exist_ok=True)
            candidate.mkdir()
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


def remove_unstarted(run_dir: str | Path, train_dir: str | Path) -> None:
    """Remove a run that failed before it started (it holds no config.yaml yet), and the experiment directory
    and `train_dir` above it where they are left empty: a failed command leaves nothing behind."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or (run_dir / "config.yaml").exists():
        return
    for sub in ("nn", "summaries"):
        _remove_if_empty(run_dir / sub)
    above = [run_dir, run_dir.parent]
    if run_dir.parent.parent.resolve() == Path(train_dir).resolve():
        above.append(run_dir.parent.parent)
    for directory in above:
        if not _remove_if_empty(directory):
            return


def _remove_if_empty(directory: Path) -> bool:
    try:
        directory.rmdir()  # only an empty directory goes: another run's files keep it
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def newest_checkpoint(nn_dir: str | Path) -> Path | None:
    """The most recently written checkpoint in `nn_dir` (best or periodic), or None when there is none.

    Every checkpoint holds the full training state at the time it was written,
    so the newest one is where training stopped.
    """
    return _newest(_checkpoints(Path(nn_dir)))


def _checkpoints(nn_dir: Path) -> list[Path]:
    return [path for path in nn_dir.glob("*.pth") if path.is_file()] if nn_dir.is_dir() else []


def _newest(paths: list[Path]) -> Path | None:
    return max(paths, key=lambda path: (path.stat().st_mtime_ns, path.name)) if paths else None


# What `checkpoint=` (train.py, evaluate.py, export_policy.py) accepts
CHECKPOINT_FORMS = "a .pth file written by training, a run directory (runs/<experiment>/<run>) or an experiment directory (runs/<experiment>)"


def run_checkpoint(run_dir: str | Path) -> Path | None:
    """A run's best checkpoint (`nn/<experiment>.pth`, not a periodic `last_*`), else its newest; None when it has none."""
    files = _checkpoints(Path(run_dir) / "nn")
    return _newest([path for path in files if not path.name.startswith("last_")] or files)


def resolve_checkpoint(path: str | Path) -> tuple[Path, str | None]:
    """The checkpoint file `path` means, and a line saying which one when `path` named a directory.

    A file is itself; a run directory (or its nn/) means the run's best checkpoint;
    an experiment directory means the best checkpoint of its newest run that has one.
    """
    given = Path(path)
    if given.is_file():
        require_checkpoint_format(given)
        return given, None
    if not given.exists():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist; expected {CHECKPOINT_FORMS}")
    run = given.parent if given.name == "nn" and is_run_dir(given.parent) else given
    if not is_run_dir(run):
        with_checkpoints = [r for r in run_dirs(given) if run_checkpoint(r) is not None]
        if not with_checkpoints:
            raise FileNotFoundError(f"checkpoint {str(path)!r} is a directory with no run holding a checkpoint (nn/*.pth); expected {CHECKPOINT_FORMS}")
        run = with_checkpoints[-1]
    file = run_checkpoint(run)
    if file is None:
        raise FileNotFoundError(f"checkpoint {str(path)!r}: run {run} has no checkpoint yet (nn/*.pth); expected {CHECKPOINT_FORMS}")
    kind = "newest" if file.name.startswith("last_") else "best"
    return file, f"checkpoint: {file} (the {kind} of run {run})"


def require_checkpoint_format(file: Path) -> None:
    """Refuse, naming what it is, a file that is not in either of torch.save's formats (zip, or a legacy pickle)."""
    with open(file, "rb") as stream:
        head = stream.read(256)
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return
    raise ValueError(f"checkpoint {str(file)!r} is {_describe(head)}, not a checkpoint; expected {CHECKPOINT_FORMS}")


def _describe(head: bytes) -> str:
    if not head:
        return "an empty file"
    text = head.decode("utf-8", errors="replace")
    if b"\0" not in head and text.count("\ufffd") <= 1:
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        return f"a text file (it begins {first[:40]!r})"
    return f"a file of another kind (it begins {head[:8]!r})"
