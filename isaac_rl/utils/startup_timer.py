"""Start-up milestones for scripts/benchmark_startup.py: one stderr line each, only when asked for.

With ISAAC_RL_STARTUP_T0=<time.time() when the command started> in the
environment, `mark("sim built")` prints

    isaac_rl startup: sim built at 12.34s

(seconds since that moment); without it, `mark` does nothing and costs a
dictionary look-up. Set-up code calls it at the few points where a phase ends.
"""

from __future__ import annotations

import os
import re
import sys
import time

T0_VARIABLE = "ISAAC_RL_STARTUP_T0"
LINE = re.compile(r"^isaac_rl startup: (?P<event>.+) at (?P<seconds>[\d.]+)s$", re.MULTILINE)


def mark(event: str) -> None:
    """Print when `event` happened, in seconds since the command started, if ISAAC_RL_STARTUP_T0 is set."""
    started = os.environ.get(T0_VARIABLE)
    if started:
        print(f"isaac_rl startup: {event} at {time.time() - float(started):.2f}s", file=sys.stderr, flush=True)


def parse_marks(text: str) -> dict[str, float]:
    """{event: seconds} of the `mark` lines in `text` (the first of each event)."""
    marks: dict[str, float] = {}
    for match in LINE.finditer(text):
        marks.setdefault(match["event"], float(match["seconds"]))
    return marks
