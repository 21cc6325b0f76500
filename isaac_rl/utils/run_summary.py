"""The one line every run of scripts/train.py ends with, whichever trainer ran it (rl_games, rsl_rl, skrl)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# a checkpoint's seconds of training of its whole run (every process, resumes included; each trainer's own clock)
TRAINING_TIME_KEY = "training_time"


@dataclass
class RunResult:
    """What a run did, for its summary line: training's epochs and best, or the played episodes."""

    epoch: int | None = None  # training: the last epoch trained
    epochs_here: int = 0  # training: the epochs this process trained (fewer than `epoch` after a resume)
    best_reward: float | None = None  # training: the best mean episode reward of the run
    best_checkpoint: Path | None = None  # rl_games' best checkpoint (`<name>.pth`)
    last_checkpoint: Path | None = None  # a trainer that keeps no best checkpoint: its last one
    episodes: int = 0  # play: whole episodes played
    mean_reward: float | None = None
    mean_length: float | None = None
    played_epoch: int | None = None  # play: the epoch the played checkpoint was saved at
    played_best_reward: float | None = None  # play: the best mean episode reward of its training, when it kept one


def training_line(result: RunResult, run_dir: Path | None, seconds: float, no_best: str) -> str:
    """`isaac_rl: trained to epoch N (M in this run), best mean episode reward R, best checkpoint P, run D, Ts`.

    `no_best`: what stands in for the best reward when the run has none (why, and what it has instead)."""
    if result.best_reward is None:
        best = no_best
    elif result.best_checkpoint is not None:
        best = f"best mean episode reward {result.best_reward:.2f}, best checkpoint {result.best_checkpoint}"
    else:
        best = f"best mean episode reward {result.best_reward:.2f}, last checkpoint {result.last_checkpoint}"
    return f"isaac_rl: trained to epoch {result.epoch} ({result.epochs_here} in this run), {best}, run {run_dir}, {seconds:.1f}s"


def play_line(result: RunResult, checkpoint: str | Path, run_dir: Path, seconds: float) -> str:
    """`isaac_rl: played N episodes, mean episode reward R, ...; checkpoint P (epoch E, ...), run D, Ts`."""
    trained = f"epoch {result.played_epoch if result.played_epoch is not None else '?'}"
    if result.played_best_reward is not None:
        trained += f", best mean episode reward {result.played_best_reward:.2f} in training"
    reward = f"mean episode reward {result.mean_reward:.2f}, mean episode length {result.mean_length:.1f}" if result.episodes else "no episode finished"
    return f"isaac_rl: played {result.episodes} episodes, {reward}; checkpoint {checkpoint} ({trained}), run {run_dir}, {seconds:.1f}s"


def format_duration(seconds: float) -> str:
    """`42s`, `3m05s`, `2h07m`."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def format_training_time(seconds_here: float, seconds_before: float = 0.0) -> str:
    """An epoch line's time: `12.3s`, or in a resumed run `12.3s (512.3s in all)`, this process's and the whole run's."""
    return f"{seconds_here:.1f}s" + (f" ({seconds_before + seconds_here:.1f}s in all)" if seconds_before > 0 else "")
