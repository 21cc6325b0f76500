"""Stopping training on SIGINT or SIGTERM at an epoch's end, with a checkpoint to resume from.

Ctrl-C (SIGINT) and a scheduler's SIGTERM set a flag; the agent looks at it
between epochs (`SafeCheckpointMixin.update_epoch`; trainer=rsl_rl|skrl: their adapters
in isaac_rl/trainers/), saves, and raises
`TrainingInterrupted`, which the script turns into one line and exit status
130 / 143 (128 + the signal, as a shell reports it). A second signal exits at
once, without saving. Only this module's `stop_on_signals` installs handlers,
and only around an agent's `train()`, so Ctrl-C elsewhere behaves as usual.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code(signum: int) -> int:
    return 128 + int(signum)


class TrainingInterrupted(BaseException):
    """Training stopped on a signal after `epoch` (a BaseException: no `except Exception` swallows it)."""

    def __init__(self, signum: int, epoch: int, checkpoint: Path | None) -> None:
        super().__init__(f"{signal.Signals(signum).name} after epoch {epoch}")
        self.signum, self.epoch, self.checkpoint = signum, epoch, checkpoint

    @property
    def exit_code(self) -> int:
        return exit_code(self.signum)


class StopRequest:
    """The first SIGINT/SIGTERM asks training to stop after the current epoch; a second one exits now."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def handle(self, signum: int, frame) -> None:
        if self.signum is not None:
            print(f"\n{signal.Signals(signum).name} again: exiting now, nothing saved", file=sys.stderr, flush=True)
            os._exit(exit_code(signum))
        self.signum = signum


def agreed_signal(request: StopRequest | None, distributed: bool, device) -> int | None:
    """The signal that asked to stop, on any rank (all ranks stop at the same epoch), else None.

    `distributed`: one small all-reduce per epoch, as rl_games' own should_exit, so no rank waits on the others forever.
    """
    signum = request.signum if request is not None else None
    if distributed:
        import torch
        import torch.distributed as dist

        flag = torch.tensor([signum or 0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        signum = int(flag.item()) or None
    return signum


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Handlers for SIGINT and SIGTERM while the block runs (the main thread only: elsewhere Python cannot set them)."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {signum: signal.signal(signum, request.handle) for signum in SIGNALS}
    try:
        yield request
    finally:
        if request.signum is None:  # after a stop, a second signal still exits at once while the run winds down
            for signum, handler in previous.items():
                signal.signal(signum, handler)
