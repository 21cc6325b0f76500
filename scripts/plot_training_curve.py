"""Plot a training curve from train.py's per-epoch lines (needs matplotlib: pip install matplotlib).

    python scripts/plot_training_curve.py docs/data/ant_h100_4096envs.log docs/ant_training_curve.png --title "Ant, 4096 envs, H100"
    python scripts/plot_training_curve.py --compare "isaac_rl=fast.log" --compare "rl_games=stock.log" --x frames curves.png

With --compare LABEL=LOG (repeated), the mean episode reward of each run is
drawn on one plot, against frames or training wall-clock (--x); the first
positional argument is then the PNG.

Reads lines `epoch N: mean episode reward R, mean episode length L, time Ts`
and draws mean episode reward (and length) against training wall-clock seconds.
Tasks with a goal also print `success_rate S` on those lines: it is drawn in a
second panel (epochs where no episode ended are skipped); `--metric NAME`
draws another value those lines print instead (Anymal: `lin_vel_error`).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

LINE = re.compile(r"^epoch (\d+)(?:/\d+)?: mean episode reward (-?[\d.]+), mean episode length ([\d.]+), time ([\d.]+)s")


def read_curve(log: Path, metric: str = "success_rate") -> list[tuple[int, float, float, float, float | None]]:
    """(epoch, reward, length, seconds, `metric` or None) rows; a resumed run's clock continues from the previous run's."""
    metric_value = re.compile(rf", {re.escape(metric)} (-?[\d.]+)")
    rows: list[tuple[int, float, float, float, float | None]] = []
    offset = 0.0
    for line in log.read_text().splitlines():
        match = LINE.match(line)
        if not match:
            continue
        epoch, reward, length, seconds = int(match[1]), float(match[2]), float(match[3]), float(match[4])
        if rows and seconds + offset < rows[-1][3]:
            offset = rows[-1][3]  # a new process started its clock at zero
        success = metric_value.search(line)
        rows.append((epoch, reward, length, seconds + offset, float(success[1]) if success else None))
    if not rows:
        raise ValueError(f"{log} holds no 'epoch N: mean episode reward ...' lines from scripts/train.py")
    return rows


FRAMES = re.compile(r", frames (\d+)")


def read_rewards(log: Path, x: str) -> tuple[list[float], list[float]]:
    """(x values, mean episode rewards) of a log's epoch lines; x is "frames" (millions) or "time" (seconds)."""
    if x == "time":
        rows = read_curve(log)
        return [r[3] for r in rows], [r[1] for r in rows]
    xs, rewards = [], []
    for line in log.read_text().splitlines():
        match, frames = LINE.match(line), FRAMES.search(line)
        if match and frames:
            xs.append(int(frames[1]) / 1e6)
            rewards.append(float(match[2]))
    if not xs:
        raise ValueError(f"{log} holds no epoch lines with 'frames N' from scripts/train.py")
    return xs, rewards


def plot_comparison(runs: list[str], png: Path, x: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(7, 4))
    for run in runs:
        label, _, log = run.partition("=")
        if not log:
            raise ValueError(f"--compare {run!r}: expected LABEL=LOG")
        axis.plot(*read_rewards(Path(log), x), label=label)
    axis.set_xlabel("frames (millions)" if x == "frames" else "training wall-clock (s)")
    axis.set_ylabel("mean episode reward")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print(f"wrote {png} ({len(runs)} runs against {x})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, help="the log (or, with --compare, the PNG)")
    parser.add_argument("png", type=Path, nargs="?")
    parser.add_argument("--title", default="")
    parser.add_argument("--metric", default="success_rate", help="the per-epoch value drawn in the second panel")
    parser.add_argument("--compare", action="append", default=[], metavar="LABEL=LOG", help="runs drawn on one plot")
    parser.add_argument("--x", choices=("frames", "time"), default="frames", help="with --compare: the horizontal axis")
    args = parser.parse_args()
    if args.compare:
        plot_comparison(args.compare, args.log, args.x, args.title)
        return
    if args.png is None:
        parser.error("expected LOG PNG (or --compare LABEL=LOG ... PNG)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_curve(args.log, args.metric)
    seconds = [r[3] for r in rows]
    successes = [(r[3], r[4]) for r in rows if r[4] is not None]
    if successes:
        fig, (reward_axis, success_axis) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, height_ratios=(3, 2))
        success_axis.plot(*zip(*successes), color="tab:green")
        if args.metric == "success_rate":
            success_axis.set_ylabel("success rate (episodes ended)")
            success_axis.set_ylim(0, 1.02)
        else:
            success_axis.set_ylabel(args.metric)
            success_axis.set_ylim(bottom=0)
        success_axis.set_xlabel("training wall-clock (s)")
        success_axis.grid(alpha=0.3)
    else:
        fig, reward_axis = plt.subplots(figsize=(7, 4))
    reward_axis.plot(seconds, [r[1] for r in rows], color="tab:blue", label="mean episode reward")
    if not successes:
        reward_axis.set_xlabel("training wall-clock (s)")
    reward_axis.set_ylabel("mean episode reward", color="tab:blue")
    length_axis = reward_axis.twinx()
    length_axis.plot(seconds, [r[2] for r in rows], color="tab:orange", alpha=0.6, label="mean episode length")
    length_axis.set_ylabel("mean episode length (steps)", color="tab:orange")
    reward_axis.set_title(args.title or args.log.stem)
    reward_axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)
    print(f"wrote {args.png} ({len(rows)} epochs, {seconds[-1]:.0f}s)")


if __name__ == "__main__":
    main()
