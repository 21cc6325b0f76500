"""Weights & Biases for a run (IsaacGymEnvs' `wandb_*` keys): the run's tensorboard scalars, mirrored.

rl_games writes its scalars (and isaac_rl's `Episode/*`) with tensorboardX;
`wandb.init(sync_tensorboard=True)` before that writer exists makes wandb log
every one of them too, so the two never disagree. The wandb run id is derived
from the run directory, so `resume` continues the same wandb run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rl_games.common.algo_observer import AlgoObserver


def require_wandb() -> None:
    """Fail at start, clearly, when wandb is asked for but not installed."""
    try:
        import wandb  # noqa: F401
    except ImportError as error:
        raise ValueError(f"wandb_activate=True needs the wandb package ({error}): pip install -e \".[wandb]\"") from None


class WandbObserver(AlgoObserver):
    def __init__(self, run_dir: Path, project: str, entity: str, group: str, name: str, tags: list[str], config: dict[str, Any]) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.settings = {
            "project": project,
            "entity": entity or None,
            "group": group or None,
            "name": name or f"{self.run_dir.parent.name}/{self.run_dir.name}",
            "tags": list(tags),
            "config": config,
            "id": re.sub(r"[^\w-]", "_", f"{self.run_dir.parent.name}-{self.run_dir.name}"),
        }
        self.run = None
        self.writer = None

    def start(self) -> None:
        """Open the wandb run: once the run is known to start, before rl_games builds its SummaryWriter
        (wandb patches tensorboardX to mirror it)."""
        import wandb

        if self.run is None:
            self.run = wandb.init(dir=str(self.run_dir), resume="allow", sync_tensorboard=True, **self.settings)

    def after_init(self, algo) -> None:
        self.writer = algo.writer

    def finish(self) -> None:
        if self.run is not None:
            if self.writer is not None:
                self.writer.flush()  # tensorboardX holds events up to two minutes: hand wandb the last ones
            self.run.finish()
            self.run = None
