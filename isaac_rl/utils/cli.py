"""How the scripts report bad input: `error: ...` lines on stderr and exit status 2, not a traceback."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from hydra.errors import HydraException

from isaac_rl.utils.schema import ConfigError

# what bad input (an override, a config value, a path, a task name) raises
USER_ERRORS = (KeyError, ValueError, FileNotFoundError, RuntimeError, HydraException)


def error_lines(error: BaseException) -> list[str]:
    """One `error: ...` line per config problem, or the error's message and how to see its traceback."""
    if isinstance(error, ConfigError):
        return [f"error: {problem}" for problem in error.problems]
    message = error.args[0] if isinstance(error, KeyError) and error.args else error
    return [f"error: {message}", "(set ISAAC_RL_TRACEBACK=1 to see the traceback)"]


@contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Turn bad input raised inside into error lines and exit status 2 (ISAAC_RL_TRACEBACK=1 re-raises)."""
    try:
        yield
    except USER_ERRORS as error:
        if os.getenv("ISAAC_RL_TRACEBACK"):
            raise
        print("\n".join(error_lines(error)), file=sys.stderr)
        sys.exit(2)
