"""Algo observer: episode reward, length and per-episode task extras to tensorboard and the console."""

from __future__ import annotations

from collections import defaultdict

import torch
from rl_games.common.algo_observer import AlgoObserver

from isaac_rl.utils.run_summary import format_duration, format_training_time


class RLGPUAlgoObserver(AlgoObserver):
    """Logs `Episode/<key>` for every tensor a task puts in `extras['episode']`.

    Tasks fill `extras['episode']` with per-env or scalar tensors; they are
    averaged on the device over an epoch (per step: the mean over every step
    of every env, as scripts/evaluate.py's `mean_<key>` over the steps it
    plays) and written once per epoch, so the
    step loop never waits on the host. Tasks with a goal also hand out
    `extras['successes']`, averaged over the episodes that ended in the epoch
    as `Episode/success_rate`. Tasks built from reward terms hand out
    `extras['episode_sums']` (name -> (num_envs,) each term's sum over the
    running episode, isaac_rl/tasks/base/rewards.py): averaged over the
    episodes that ended in the epoch as `Episode/<name>`; the largest
    (by magnitude) are also on the epoch line.
    """

    # reward terms on the epoch line: the largest few, by magnitude
    EPOCH_LINE_TERMS = 4

    def after_init(self, algo) -> None:
        self.algo = algo
        self.writer = algo.writer
        self._sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), device=algo.ppo_device))
        self._counts: dict[str, int] = defaultdict(int)
        self._episodes_ended = torch.zeros((), device=algo.ppo_device)  # for success_rate and reward terms
        self._per_episode: set[str] = set()  # keys averaged per ended episode, not per step
        # for the epoch line: the first epoch this process trains, its end time, and the last line's frames and time
        self._first_epoch: int | None = None
        self._first_epoch_time = 0.0
        self._last_frames: int | None = None
        self._last_time = 0.0

    def process_infos(self, infos, done_indices) -> None:
        """`done_indices`: rl_games' indices of the envs whose episode ended, or (the fast agent) a bool mask of them."""
        successes = infos.get("successes") if isinstance(infos, dict) else None
        episode_sums = (infos.get("episode_sums") if isinstance(infos, dict) else None) or {}
        if successes is not None or episode_sums:
            # per finished episode, unlike the per-step means below; a mask keeps it on the device
            per_episode = {**episode_sums, **({"success_rate": successes} if successes is not None else {})}
            for key, value in per_episode.items():
                self._sums[key] = self._sums[key] + self._sum_over_ended(value, done_indices)
                self._per_episode.add(key)
            ended = done_indices.reshape(-1)
            self._episodes_ended += ended.to(self._episodes_ended.device).float().sum() if ended.dtype == torch.bool else len(ended)
        episode = infos.get("episode") if isinstance(infos, dict) else None
        if not episode:
            return
        for key, value in episode.items():
            if isinstance(value, torch.Tensor):
                self._sums[key] = self._sums[key] + value.detach().float().mean().to(self._sums[key].device)
                self._counts[key] += 1

    def _sum_over_ended(self, value: torch.Tensor, done_indices: torch.Tensor) -> torch.Tensor:
        """`value` (num_envs,) summed over the envs whose episode ended, on the observer's device."""
        device = self._episodes_ended.device
        if done_indices.dtype == torch.bool:
            return (value.detach().float().to(device) * done_indices.reshape(-1).to(device)).sum()
        return value.detach()[done_indices.reshape(-1)].float().sum().to(device)

    def after_print_stats(self, frame: int, epoch_num: int, total_time: float) -> None:
        if epoch_num == getattr(self, "_last_epoch", None):
            return  # rl_games' discrete agent reports each epoch twice
        self._last_epoch = epoch_num
        means = {key: (total / self._counts[key]).item() for key, total in self._sums.items() if self._counts[key]}
        episodes_ended = float(self._episodes_ended.item())
        if episodes_ended > 0:
            means.update({key: float(self._sums[key].item()) / episodes_ended for key in sorted(self._per_episode)})
        self._episodes_ended.zero_()
        self._per_episode.clear()
        if self.writer is not None:
            run_time = getattr(self.algo, "training_time_before", 0.0) + total_time  # a resumed run's curves go on
            for key, value in means.items():
                self.writer.add_scalar(f"Episode/{key}", value, frame)
                self.writer.add_scalar(f"Episode/{key}/time", value, run_time)
        self._sums.clear()
        self._counts.clear()
        print(self._epoch_line(frame, epoch_num, total_time, means))

    def _epoch_line(self, frame: int, epoch_num: int, total_time: float, means: dict[str, float]) -> str:
        """One console line per epoch: progress, episode statistics, speed and the time still to go."""
        algo = self.algo
        # total_time counts this process's training only: a resumed run starts it at 0
        if self._first_epoch is None:
            self._first_epoch, self._first_epoch_time = epoch_num, total_time
        epochs_done = epoch_num - self._first_epoch + 1
        # rl_games' `frame` argument lags an epoch in its continuous agents; algo.frame counts all ranks' frames so far
        frames = int(algo.frame)
        last_frames = frames - algo.curr_frames if self._last_frames is None else self._last_frames
        fps = (frames - last_frames) / max(total_time - self._last_time, 1e-9)
        self._last_frames, self._last_time = frames, total_time
        progress = f"epoch {epoch_num}/{algo.max_epochs}" if algo.max_epochs > 0 else f"epoch {epoch_num}"
        if algo.game_rewards.current_size > 0:
            reward = float(algo.game_rewards.get_mean()[0])
            length = float(algo.game_lengths.get_mean())
            stats = f"mean episode reward {reward:.2f}, mean episode length {length:.1f}"
        else:
            stats = "no episode finished yet"
        # the first epoch also pays for compilation and warm-up: leave it out of the rate once there are others
        per_epoch = (total_time - self._first_epoch_time) / (epochs_done - 1) if epochs_done > 1 else total_time
        eta = f", ETA {format_duration(per_epoch * (algo.max_epochs - epoch_num))}" if algo.max_epochs > 0 else ""
        terms = sorted((key for key in means if key.startswith("rew_")), key=lambda key: -abs(means[key]))
        shown = [key for key in means if not key.startswith("rew_")] + terms[: self.EPOCH_LINE_TERMS]
        extras = "".join(f", {key} {means[key]:.3f}" for key in shown)
        time = format_training_time(total_time, getattr(algo, "training_time_before", 0.0))
        return f"{progress}: {stats}, time {time}{eta}, fps total {fps:.0f}, frames {frames}{extras}"
