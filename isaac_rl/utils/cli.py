"""How the scripts read their command line and report bad input: `error: ...` lines on stderr and exit status 2."""

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


def overrides_or_help(argv: list[str], doc: str | None, flags: tuple[str, ...] = ()) -> list[str]:
    """`argv` as hydra overrides: `-h`/`--help` prints `doc` and exits 0; another option (not in `flags`) is an error."""
    if any(arg in ("-h", "--help") for arg in argv):
        try:
            print((doc or "").strip(), flush=True)
        except BrokenPipeError:  # `--help | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    for arg in argv:
        if arg.startswith("-") and arg not in flags:
            accepted = ", ".join(("--help", *flags))
            raise ConfigError([f"unknown option {arg!r}; accepted: {accepted} and key=value overrides (see --help)"])
    return list(argv)


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
