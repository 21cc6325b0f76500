"""Start-up milestones for scripts/benchmark_startup.py: one stderr line each, only when asked for.

With ISAAC_RL_STARTUP_T0=<time.time() when the command started> in the
environment, `mark("sim built")` prints

    isaac_rl startup: sim built at 12.34s

(seconds since that moment); without it, `mark` does nothing and costs a
dictionary look-up. Set-up code calls it at the few points where a phase ends.
`report_compile_counters()` prints torch.compile's counts the same way, once
the step is compiled and captured (were the warm caches hit?).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

T0_VARIABLE = "ISAAC_RL_STARTUP_T0"
LINE = re.compile(r"^isaac_rl startup: (?P<event>.+) at (?P<seconds>[\d.]+)s$", re.MULTILINE)
COUNTERS_PREFIX = "isaac_rl startup counters: "


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


def compile_counters() -> dict:
    """torch.compile's own counts in this process: graphs compiled, recompilations, graph breaks, cache results."""
    from torch._dynamo.utils import counters, get_compilation_metrics

    stats, inductor, autograd = counters["stats"], counters["inductor"], counters["aot_autograd"]
    return {
        "compiled_graphs": int(stats.get("unique_graphs", 0)),
        # dynamo keeps no recompile counter; each compilation's metrics say why it recompiled, if it did
        "recompiles": sum(1 for metrics in get_compilation_metrics() if metrics.recompile_reason),
        "graph_breaks": int(sum(counters["graph_break"].values())),
        "fx_cache": f"{inductor.get('fxgraph_cache_hit', 0)}/{inductor.get('fxgraph_cache_miss', 0)}/{inductor.get('fxgraph_cache_bypass', 0)}",
        "autograd_cache": f"{autograd.get('autograd_cache_hit', 0)}/{autograd.get('autograd_cache_miss', 0)}",
    }


def report_compile_counters() -> None:
    """Print `compile_counters()` as one JSON line, if ISAAC_RL_STARTUP_T0 is set."""
    if os.environ.get(T0_VARIABLE):
        print(COUNTERS_PREFIX + json.dumps(compile_counters()), file=sys.stderr, flush=True)


def parse_compile_counters(text: str) -> dict:
    """The first `report_compile_counters` line's counts in `text` ({} if none)."""
    for line in text.splitlines():
        if line.startswith(COUNTERS_PREFIX):
            return json.loads(line[len(COUNTERS_PREFIX) :])
    return {}
