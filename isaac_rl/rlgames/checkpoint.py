"""Crash-safe checkpoints for rl_games agents: atomic writes, the last K kept, resume.

rl_games writes checkpoints with a plain `torch.save` to the final name, so a
run killed mid-write leaves a truncated file that can no longer be loaded, and
`save_frequency` piles up one file per save. `SafeCheckpointMixin` replaces an
agent's `save` and `restore`; mix it in before any rl_games agent class:

    class MyAgent(SafeCheckpointMixin, A2CAgent): ...

The mixin saves whatever `get_full_state_weights()` returns, so an agent with
extra state (an AMP discriminator's normaliser, say) extends that method, not
`save`.

Checkpoints are read by `load_checkpoint` only: `torch.load(weights_only=True)`
plus `SAFE_GLOBALS`, so a crafted file cannot run code. rl_games' own
`torch_ext.load_checkpoint` unpickles with `weights_only=False`;
`use_safe_loader_in_rl_games` points it here.
"""

from __future__ import annotations

import math
import os
import pickle
import re
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import torch

from isaac_rl.utils import run_dirs
from isaac_rl.utils.run_dirs import newest_checkpoint  # noqa: F401  (part of this module's API: scripts, tests)
from isaac_rl.utils.run_summary import TRAINING_TIME_KEY

try:
    from numpy._core.multiarray import scalar as _numpy_scalar  # numpy >= 2
except ImportError:  # numpy 1.26
    from numpy.core.multiarray import scalar as _numpy_scalar

DEFAULT_KEEP_CHECKPOINTS = 5

# rl_games names the periodic and final checkpoints `last_<name>_ep_...` or
# `last_<name>_frame_...`; the best one is `<name>.pth`.
PERIODIC_PREFIX = "last_"

# What a checkpoint may hold beyond what `torch.load(weights_only=True)` accepts
# by itself (tensors, state dicts, optimizer states, Python numbers, strings,
# containers). rl_games keeps the best mean reward (`last_mean_rewards`) as the
# numpy float32 its reward meter returns; pickle rebuilds that scalar by calling
# numpy's scalar constructor with a dtype, and sets the dtype's state, which the
# weights-only unpickler allows only on listed types. Nothing else in rl_games' or
# isaac_rl's checkpoints needs more: `env_state` is None (VecTask, gym envs) or
# tensors (AnymalTerrain's curriculum), the
# AMP discriminator and its normaliser are tensors in `model`, GradScaler's state
# is numbers.
SAFE_GLOBALS: list[Any] = [
    (_numpy_scalar, "numpy._core.multiarray.scalar"),  # the name numpy >= 2 writes
    (_numpy_scalar, "numpy.core.multiarray.scalar"),  # the name numpy 1.x wrote, same function
    np.dtype,
    np.dtypes.Float32DType,
]
_SAFE_GLOBAL_NAMES = {g[1] if isinstance(g, tuple) else f"{g.__module__}.{g.__qualname__}" for g in SAFE_GLOBALS}
# torch's own words for what it refused, for when the file cannot be scanned (or a type, not a global, was refused)
_TORCH_REFUSAL = re.compile(r"GLOBAL (\S+)|but got <class '([^']+)'>")


def require_checkpoint_file(path: str | os.PathLike) -> Path:
    """`path` as a file in torch.save's format, or an error saying what it is and what is expected.

    Directories are for the scripts' `checkpoint=` (`run_dirs.resolve_checkpoint`), not for a loader.
    """
    file = Path(path)
    if file.is_dir():
        raise FileNotFoundError(f"checkpoint {str(path)!r} is a directory; expected a .pth file (run_dirs.resolve_checkpoint finds a run's)")
    if not file.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist; expected {run_dirs.CHECKPOINT_FORMS}")
    run_dirs.require_checkpoint_format(file)
    return file


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device | None = "cpu") -> Any:
    """A checkpoint's saved state, its model weights under their plain names; the only way isaac_rl reads one.

    Unpickles with `weights_only=True` and `SAFE_GLOBALS`: a file that needs any
    other global is refused (ValueError) before any of its code runs. A missing
    file is a FileNotFoundError, an unreadable one a ValueError. A model trained
    under torch.compile saves its weights as `_orig_mod.<name>`; the prefix is removed.
    """
    file = require_checkpoint_file(path)
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            state = torch.load(file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        # `from None`: torch's message advises weights_only=False, which is exactly what must not be done
        raise ValueError(_refusal_message(str(path), file, error)) from None
    except Exception as error:  # truncated, corrupt or not a torch file
        raise ValueError(f"checkpoint {str(path)!r} could not be read as an rl_games checkpoint: {error}") from error
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state["model"] = {key.replace("_orig_mod.", "", 1): value for key, value in state["model"].items()}
    return state


def _refusal_message(path: str, file: Path, error: Exception) -> str:
    try:  # reads the pickle's opcodes without executing them
        refused = sorted(set(torch.serialization.get_unsafe_globals_in_checkpoint(file)) - _SAFE_GLOBAL_NAMES)
    except Exception:  # not torch's zip format (the legacy one): no scan
        refused = []
    if not refused:
        refused = [a or b for a, b in _TORCH_REFUSAL.findall(str(error))] or ["an object outside the allow-list"]
    return (
        f"checkpoint {path!r} refused: it needs {', '.join(refused)}, not on the allow-list, and loading it would "
        f"run code from the file; nothing of it was loaded. Accepted: what torch.load(weights_only=True) accepts "
        f"(tensors, state dicts, numbers, strings, lists, tuples, dicts) and {', '.join(sorted(_SAFE_GLOBAL_NAMES))}"
    )


def use_safe_loader_in_rl_games() -> None:
    """Make rl_games read every checkpoint through `load_checkpoint`.

    rl_games' agents and players (stock, AMP, a user's) all `restore` through
    `torch_ext.load_checkpoint`, looked up on the module at call time, which
    unpickles with weights_only=False; replacing the module attribute covers them
    all. `safe_load` is its only other reader. Idempotent.
    """
    from rl_games.algos_torch import torch_ext  # here: this module loads without rl_games (scripts' resume look-up)

    torch_ext.load_checkpoint = load_checkpoint
    torch_ext.safe_load = load_checkpoint


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


# rl_games' periodic and final names: `last_<name>_ep_<epoch>_rew_<reward>` (or
# `_frame_<frame>`), the reward printed as a numpy float (`492.96848`), as a
# printed array with its brackets made `_` (`_492.96848_`, final save) or `-inf`
# (no episode has ended yet).
_REWARDED_NAME = re.compile(r"^(?P<head>.+_(?:ep|frame)_\d+)_rew_(?P<reward>.*)$")


def canonical_checkpoint_path(fn: str) -> str:
    """`fn + '.pth'` with rl_games' reward part made canonical: `_rew_<reward, 2 decimals>`,
    or no reward part when it is not a finite number; other names (the best `<name>`) are kept."""
    directory, name = os.path.split(fn)
    match = _REWARDED_NAME.match(name)
    if match is not None:
        name = match["head"]
        try:
            reward = float(match["reward"].replace("_", " ").split()[0])  # the first value's
        except (IndexError, ValueError):
            reward = math.nan
        if math.isfinite(reward):
            name += f"_rew_{reward:.2f}"
    return os.path.join(directory, name + ".pth")


def check_keep_checkpoints(value: Any) -> int:
    """`keep_checkpoints` as an int, or a ValueError saying what is accepted."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"keep_checkpoints={value!r}: expected a positive integer, or 0 to keep every checkpoint")
    return value


class SafeCheckpointMixin:
    """Atomic `save`, pruning to the last `config['keep_checkpoints']` periodic files, a `restore`
    that continues training where it stopped (weights, normalisers, optimizer, learning rate, epoch,
    frame (the tensorboard step), the best reward so far and the run's training time), and a stop
    between epochs on SIGINT or SIGTERM that saves first (`interrupt.py`)."""

    config: dict[str, Any]
    nn_dir: str
    epoch_num: int
    _saved_epoch: int
    _saved_paths: set[str]  # the checkpoints written in epoch `_saved_epoch`
    # seconds trained by the processes before this one (a resumed run's checkpoint), and by this one so far
    training_time_before = 0.0
    _training_time_here = 0.0

    @property
    def training_time(self) -> float:
        """Seconds of training of the whole run up to the last epoch, resumes included (rl_games' clock: epochs only)."""
        return self.training_time_before + self._training_time_here

    def write_stats(self, total_time, *args, **kwargs):
        # rl_games' own clock of this process, passed to the stats at every epoch's end, before its checkpoints
        self._training_time_here = float(total_time)
        return super().write_stats(total_time, *args, **kwargs)

    def set_full_state_weights(self, weights: dict, set_epoch: bool = True) -> None:
        super().set_full_state_weights(weights, set_epoch=set_epoch)
        self.training_time_before = float(weights.get(TRAINING_TIME_KEY, 0.0))

    def save(self, fn: str) -> str:
        """Write the full training state to `fn` (made canonical, see `canonical_checkpoint_path`); returns the path."""
        path = canonical_checkpoint_path(fn)
        # rl_games' last epoch saves one state twice (the periodic save, then the
        # max-epochs one); both get the same canonical name, so write it once.
        if getattr(self, "_saved_epoch", None) != self.epoch_num:
            self._saved_epoch, self._saved_paths = self.epoch_num, set()
        if path in self._saved_paths:
            return path
        atomic_torch_save({**self.get_full_state_weights(), TRAINING_TIME_KEY: self.training_time}, path)
        self._saved_paths.add(path)
        if self.config.get("verbose", False):
            print(f"=> saved checkpoint '{path}'")
        keep = check_keep_checkpoints(self.config.get("keep_checkpoints", DEFAULT_KEEP_CHECKPOINTS))
        prune_checkpoints(Path(path).parent, keep)
        return path

    # -- stopping on SIGINT / SIGTERM --------------------------------------------
    def train(self):
        from isaac_rl.rlgames.interrupt import stop_on_signals

        with stop_on_signals() as self._stop_request:
            self._first_epoch_here = None
            return super().train()

    def update_epoch(self) -> int:
        # rl_games calls this before each epoch: the previous one is complete, its checkpoints written
        signum = self._agreed_stop_signal()
        if signum is not None:
            self._stop(signum)
        epoch = super().update_epoch()
        if self._first_epoch_here is None:
            self._first_epoch_here = epoch
        return epoch

    def _agreed_stop_signal(self) -> int | None:
        """The signal that asked to stop, on any rank (all ranks stop at the same epoch), else None."""
        from isaac_rl.rlgames.interrupt import agreed_signal

        return agreed_signal(getattr(self, "_stop_request", None), getattr(self, "multi_gpu", False), getattr(self, "ppo_device", None))

    def _stop(self, signum: int) -> None:
        from isaac_rl.rlgames.interrupt import TrainingInterrupted

        checkpoint = None
        trained_here = self._first_epoch_here is not None
        if trained_here and getattr(self, "global_rank", 0) == 0:
            reward = float(self.mean_rewards) if self.game_rewards.current_size > 0 else math.nan
            name = f"last_{self.config['name']}_ep_{self.epoch_num}_rew_{reward}"
            checkpoint = Path(self.save(os.path.join(self.nn_dir, name)))
        raise TrainingInterrupted(signum, self.epoch_num, checkpoint)

    def restore(self, fn: str, set_epoch: bool = True) -> None:
        use_safe_loader_in_rl_games()  # also when this agent was built outside launch.build_runner
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
