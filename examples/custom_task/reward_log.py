"""An isaac_rl extension module: logs each epoch's mean episode reward to runs/<experiment>/<run>/reward_log.csv.

Loaded by name before the run is built:

    PYTHONPATH=examples/custom_task python scripts/train.py task=PushBox extensions=[reward_log] \
        hydra.searchpath=[file://$PWD/examples/custom_task/cfg]

`algo.experiment_dir` is the run's own directory (runs/<experiment>/<date>_<time>/).
Algorithms and players register through a runner hook instead: see counting_ppo.py.
"""

from __future__ import annotations

import csv
from pathlib import Path

from rl_games.common.algo_observer import AlgoObserver

from isaac_rl.rlgames.extensions import add_observer


class RewardLog(AlgoObserver):
    def after_init(self, algo) -> None:
        self.algo = algo
        self.path = Path(algo.experiment_dir) / "reward_log.csv"
        with self.path.open("w", newline="") as file:
            csv.writer(file).writerow(["epoch", "frame", "mean_reward"])

    def after_print_stats(self, frame: int, epoch_num: int, total_time: float) -> None:
        if self.algo.game_rewards.current_size == 0:
            return
        reward = float(self.algo.game_rewards.get_mean()[0])
        with self.path.open("a", newline="") as file:
            csv.writer(file).writerow([epoch_num, frame, f"{reward:.4f}"])


add_observer(RewardLog)
