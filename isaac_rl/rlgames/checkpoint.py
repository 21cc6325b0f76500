"""Crash-safe checkpoints for rl_games agents: atomic writes, the last K kept, resume.

rl_games writes checkpoints with a plain `torch.save` to the final name, so a
run killed mid-write leaves a truncated file that can no longer be loaded, and
`save_frequency` piles up one file per save. `SafeCheckpointMixin` replaces an
agent's `save` and `restore`; mix it in before any rl_games agent class:

    class MyAgent(SafeCheckpointMixin, A2CAgent): ...

The mixin saves whatever `get_full_state_weights()` returns, so an agent with
extra state (an AMP discriminator's normaliser, say) extends that method, not
`save`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import torch

DEFAULT_KEEP_CHECKPOINTS = 5

# rl_games names the periodic and final checkpoints `last_<name>_ep_...` or
# `last_<name>_frame_...`; the best one is `<name>.pth`.
PERIODIC_PREFIX = "last_"


def atomic_torch_save(state: Any, path: str | os.PathLike) -> None:
    """`torch.save` that leaves either the old file or the complete new one, never a partial file.

    The temporary file sits in the target's directory so that `os.replace` is a
    rename within one file system, which POSIX makes atomic.
    """
    target = Path(path)
    # Not tempfile.mkstemp: its files are private (0600), checkpoints get the usual umask permissions.
    tmp_name = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp_name, "xb") as file:
            torch.save(state, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    # The rename itself is durable only once the directory entry is on disk.
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def prune_checkpoints(nn_dir: str | os.PathLike, keep: int) -> list[Path]:
    """Delete all but the newest `keep` periodic (`last_*.pth`) checkpoints; `keep=0` keeps all.

    The best checkpoint and any other checkpoint are left alone; temporary files
    of a save that was killed are removed. Returns the deleted checkpoints.
    """
    if keep < 0:
        raise ValueError(f"keep_checkpoints={keep}: expected a positive number of checkpoints, or 0 to keep all")
    _remove_stale_temp_files(Path(nn_dir))
    if keep == 0:
        return []
    periodic = sorted(Path(nn_dir).glob(f"{PERIODIC_PREFIX}*.pth"), key=lambda p: p.stat().st_mtime_ns)
    doomed = periodic[:-keep]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def _remove_stale_temp_files(nn_dir: Path) -> None:
    """Remove temporary files left by a writer that was killed mid-save (one writer per run: rank 0)."""
    own = f".{os.getpid()}."
    for path in nn_dir.glob(".*.tmp"):
        if own not in path.name:
            path.unlink(missing_ok=True)


def newest_checkpoint(nn_dir: str | os.PathLike) -> Path | None:
    """The most recently written checkpoint in `nn_dir` (best or periodic), or None when there is none.

    Every checkpoint holds the full training state at the time it was written,
    so the newest one is where training stopped.
    """
    directory = Path(nn_dir)
    if not directory.is_dir():
        return None
    candidates = [p for p in directory.glob("*.pth") if p.is_file()]
    if not candidates:
        return None
    return max(candidates, key=lambda p: (p.stat().st_mtime_ns, p.name))


def check_keep_checkpoints(value: Any) -> int:
    """`keep_checkpoints` as an int, or a ValueError saying what is accepted."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"keep_checkpoints={value!r}: expected a positive integer, or 0 to keep every checkpoint")
    return value


class SafeCheckpointMixin:
    """Atomic `save`, pruning to the last `config['keep_checkpoints']` periodic files, and a `restore`
    that continues training where it stopped: weights, normalisers, optimizer, learning rate, epoch,
    frame (the tensorboard step) and the best reward so far."""

    config: dict[str, Any]
    nn_dir: str

    def save(self, fn: str) -> None:
        path = fn + ".pth"
        atomic_torch_save(self.get_full_state_weights(), path)
        print(f"=> saved checkpoint '{path}'")
        keep = check_keep_checkpoints(self.config.get("keep_checkpoints", DEFAULT_KEEP_CHECKPOINTS))
        prune_checkpoints(Path(path).parent, keep)

    def restore(self, fn: str, set_epoch: bool = True) -> None:
        super().restore(fn, set_epoch=set_epoch)
        # rl_games restores the optimizer's state but restarts its own learning
        # rate bookkeeping from the config; the adaptive schedule would then
        # jump back to the initial rate.
        if getattr(self, "optimizer", None) is not None and self.optimizer.param_groups:
            self.last_lr = float(self.optimizer.param_groups[0]["lr"])
        self._restored_best_reward = self.last_mean_rewards

    def env_reset(self):
        # rl_games' train() forgets the best reward (sets it to -1e9) right
        # before its first env_reset(); without putting it back, the first
        # epoch after a resume would overwrite the best checkpoint with a worse one.
        restored = getattr(self, "_restored_best_reward", None)
        if restored is not None:
            self.last_mean_rewards = restored
            self._restored_best_reward = None
        return super().env_reset()
