"""Algo observer: episode reward, length and per-episode task extras to tensorboard and the console."""

from __future__ import annotations

from collections import defaultdict

import torch
from rl_games.common.algo_observer import AlgoObserver


class RLGPUAlgoObserver(AlgoObserver):
    """Logs `Episode/<key>` for every tensor a task puts in `extras['episode']`.

    Tasks fill `extras['episode']` with per-env or scalar tensors; they are
    averaged on the device over an epoch and written once per epoch, so the
    step loop never waits on the host.
    """

    def after_init(self, algo) -> None:
        self.algo = algo
        self.writer = algo.writer
        self._sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), device=algo.ppo_device))
        self._counts: dict[str, int] = defaultdict(int)

    def process_infos(self, infos, done_indices) -> None:
        episode = infos.get("episode") if isinstance(infos, dict) else None
        if not episode:
            return
        for key, value in episode.items():
            if isinstance(value, torch.Tensor):
                self._sums[key] = self._sums[key] + value.detach().float().mean().to(self._sums[key].device)
                self._counts[key] += 1

    def after_print_stats(self, frame: int, epoch_num: int, total_time: float) -> None:
        if epoch_num == getattr(self, "_last_epoch", None):
            return  # rl_games' discrete agent reports each epoch twice
        self._last_epoch = epoch_num
        means = {key: (total / self._counts[key]).item() for key, total in self._sums.items() if self._counts[key]}
        if self.writer is not None:
            for key, value in means.items():
                self.writer.add_scalar(f"Episode/{key}", value, frame)
                self.writer.add_scalar(f"Episode/{key}/time", value, total_time)
        self._sums.clear()
        self._counts.clear()
        algo = self.algo
        if algo.game_rewards.current_size > 0:
            reward = algo.game_rewards.get_mean()[0]
            length = algo.game_lengths.get_mean()
            extras = "".join(f", {key} {value:.3f}" for key, value in means.items())
            print(f"epoch {epoch_num}: mean episode reward {reward:.2f}, mean episode length {float(length):.1f}, time {total_time:.1f}s{extras}")
