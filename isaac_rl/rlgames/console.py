"""What a run prints: isaac_rl's lines; rl_games' own chatter only with `verbose=True`.

rl_games prints as it builds and trains (`self.seed = 42`, `Started to train`,
`build mlp: 4`, `RunningMeanStd: (1,)`, `saving next best rewards: ...`,
`MAX EPOCHS NUM!`, its players' `av reward: ...`). Rather than list those
lines, the filter drops whatever text a function of the rl_games package
itself writes to stdout: new rl_games releases add lines, never a new source.
isaac_rl's lines (the start-up line, the epoch line of its observer, a task's
messages) are written by isaac_rl's functions, even when rl_games calls them,
and pass. Warnings and errors go to stderr and are never filtered.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO


class WithoutRLGames:
    """A stdout that drops the writes made by functions of the rl_games package."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        # print() is a builtin: the frame that called it is the one above this write
        caller = sys._getframe(1)
        if caller.f_globals.get("__name__", "").partition(".")[0] == "rl_games":
            return len(text)
        return self.stream.write(text)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding, ...
        return getattr(self.stream, name)


@contextmanager
def rl_games_output(verbose: bool) -> Iterator[None]:
    """Inside the block, rl_games' prints reach stdout only when `verbose`."""
    if verbose or isinstance(sys.stdout, WithoutRLGames):
        yield
        return
    stdout = sys.stdout
    sys.stdout = WithoutRLGames(stdout)
    try:
        yield
    finally:
        sys.stdout = stdout
