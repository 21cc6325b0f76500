"""First-run compile cost: build each task with an empty Warp kernel cache, then again with the warm one.

    python scripts/measure_compile.py --device cuda:0 --tasks Cartpole Ant --num-envs 4096
    python scripts/measure_compile.py --device cpu --tasks Cartpole --num-envs 4

Each build runs in a fresh process (Warp also caches loaded modules in
memory, which would hide the disk cache), through scripts/warm_cache.py.
Prints one line per task and a JSON summary (also written to --json).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WARM_CACHE = Path(__file__).resolve().parent / "warm_cache.py"


def timed_build(task: str, device: str, num_envs: int, cache_dir: Path) -> dict[str, float]:
    """Wall seconds of a whole process building and stepping `task`, and the backend's own compile seconds."""
    command = [sys.executable, str(WARM_CACHE), "--tasks", task, "--device", device, "--num-envs", str(num_envs), "--cache-dir", str(cache_dir)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
    kernels = [float(s) for s in re.findall(r"kernels ready in ([\d.]+)s", result.stderr)]
    return {"process_s": round(wall, 2), "kernels_s": round(sum(kernels), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["Cartpole", "Ant"])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--num-envs", type=int, default=4096)
    parser.add_argument("--cache-dir", default=None, help="an empty or missing directory to use as the cold cache (default: a temporary one)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()

    results = {}
    with tempfile.TemporaryDirectory(prefix="warp-cold-") as scratch:
        root = Path(args.cache_dir or scratch)
        if root.exists() and any(root.iterdir()):
            raise SystemExit(f"error: --cache-dir {root} is not empty; a cold start needs an empty cache")
        for task in args.tasks:
            cache = root / task  # a separate cache per task: each task's cold start is its own
            cold = timed_build(task, args.device, args.num_envs, cache)
            warm = timed_build(task, args.device, args.num_envs, cache)
            results[task] = {"cold": cold, "warm": warm, "cache_files": sum(1 for _ in cache.rglob("*") if _.is_file())}
            print(
                f"{task} on {args.device}, {args.num_envs} envs: cold {cold['process_s']:.1f}s "
                f"(kernels {cold['kernels_s']:.1f}s), warm {warm['process_s']:.1f}s (kernels {warm['kernels_s']:.1f}s)",
                flush=True,
            )
    summary = {"device": args.device, "num_envs": args.num_envs, "tasks": results}
    print(json.dumps(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
