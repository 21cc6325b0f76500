"""Where a terrain policy (AnymalTerrain, BipedTerrain) stops: per terrain kind and row, how far it walks across its tile and how often it falls.

    python scripts/export_policy.py task=AnymalTerrain checkpoint=runs/AnymalTerrain/<run>/nn/AnymalTerrain.pth out=exported/
    python scripts/evaluate_terrain.py --policy exported/policy.pt

Options:
    --policy PT          TorchScript policy written by scripts/export_policy.py
    --task T             the task it was trained on: AnymalTerrain (default) or one built on it (BipedTerrain)
    --kinds K,...        terrain kinds (isaac_rl/terrain KINDS) (default: the map's five kinds but stepping stones)
    --rows L,...         rows (levels) (default: all)
    --envs-per-tile N    envs started on each tile (default 4)
    --speed V            commanded forward velocity, m/s, along +x (default 1.0)
    --commands train     instead, the commands training draws (x, y velocity and heading, per env)
    --pushes             push the bases as training does (default: no pushes)
    --seconds S          episode length (default 20)
    --seed N             seeds the starts, noise and randomization (default 0)
    --device D           cpu: MuJoCo C (default); cuda:N: MuJoCo Warp on that GPU, the training backend
    --backend B          mujoco or warp: the physics on --device (MuJoCo Warp also runs on the CPU, slowly)

Every env starts at its tile's centre as the task starts them (curriculum
off, the task's observation noise and randomization) and plays one episode
with the deterministic policy. Each episode is judged as the training
curriculum judges it: it "crossed" (promoted) when the base got half a tile
(4 m) from its start, "fell" when it ended before that (a fall or a base
contact), "demoted" when at the end it had walked less than a quarter of
what its command asked for over the episode. Prints, per kind and row, the
shares that crossed, fell and were demoted and the mean distance reached
(capped at half a tile); the last line is the same as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from isaac_rl.terrain import KINDS
from isaac_rl.utils.cli import exit_on_user_error
from isaac_rl.utils.config import compose_config
from isaac_rl.utils.seeding import set_seed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from render_terrain_filmstrip import make_task, walk_forward  # noqa: E402

DEFAULT_KINDS = ("smooth_slope", "rough_slope", "stairs_up", "stairs_down", "discrete_obstacles")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", default="")
    parser.add_argument("--task", default="AnymalTerrain")
    parser.add_argument("--kinds", default=",".join(DEFAULT_KINDS))
    parser.add_argument("--rows", default="")
    parser.add_argument("--envs-per-tile", type=int, default=4)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--commands", choices=("forward", "train"), default="forward")
    parser.add_argument("--pushes", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", choices=("mujoco", "warp"), default=None)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def evaluate(
    policy: torch.jit.ScriptModule,
    tiles: list[tuple[str, int]],
    speed: float | None,
    steps: int,
    device: str,
    pushes: bool,
    backend: str | None = None,
    task_name: str = "AnymalTerrain",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Per env: distance from the start when it crossed half a tile, ended, or the time ran out (capped at half a
    tile), whether it ended before crossing, and the speed its command asked for; and half a tile (m).
    `speed` None: the commands the task draws, as in training."""
    task = make_task(tiles, steps, device, pushes, backend, task_name)
    half_tile = task.terrain.config.map_length / 2
    obs = task.reset()["obs"]
    start = task.sim.qpos[:, :2].clone()
    reached = torch.zeros(len(tiles), device=task.device)
    settled = torch.zeros(len(tiles), dtype=torch.bool, device=task.device)  # crossed or ended: nothing more is recorded
    fell = torch.zeros(len(tiles), dtype=torch.bool, device=task.device)
    command_speed = torch.linalg.vector_norm(task.commands[:, :2], dim=1) if speed is None else torch.full_like(reached, speed)
    with torch.no_grad():
        for _ in range(steps):
            if speed is not None:
                walk_forward(task, speed)
            last = (task.sim.qpos[:, :2] - start).norm(dim=1)
            obs, _, resets, _ = task.step(policy(obs))
            obs = obs["obs"]
            # an env that ended was reset inside step(): its last distance is the one before
            ended = resets.bool() & ~settled
            now = torch.where(ended, last, (task.sim.qpos[:, :2] - start).norm(dim=1))
            reached = torch.where(settled, reached, now.clamp(max=half_tile))
            fell |= ended & (now < half_tile)
            settled |= ended | (now >= half_tile)
    return reached.cpu(), fell.cpu(), command_speed.cpu(), half_tile


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if not args.policy or not Path(args.policy).is_file():
        raise FileNotFoundError(f"--policy {args.policy!r}: no such file; write one with scripts/export_policy.py task={args.task} checkpoint=...")
    task_cfg = compose_config([f"task={args.task}"]).task
    if "terrain" not in task_cfg.env:
        raise ValueError(f"--task {args.task!r} walks no terrain map; accepted: AnymalTerrain or a task built on it (BipedTerrain)")
    num_levels = int(task_cfg.env.terrain.numLevels)
    kinds = args.kinds.split(",")
    rows = [int(r) for r in args.rows.split(",")] if args.rows else list(range(num_levels))
    if any(k not in KINDS for k in kinds) or any(not 0 <= r < num_levels for r in rows) or args.envs_per_tile < 1:
        raise ValueError(f"--kinds from {', '.join(KINDS)}, --rows in 0..{num_levels - 1}, --envs-per-tile >= 1; got {args.kinds!r}, {args.rows!r}, {args.envs_per_tile}")
    dt = float(task_cfg.sim.dt) * int(task_cfg.env.controlFrequencyInv)
    tiles = [(kind, row) for kind in kinds for row in rows for _ in range(args.envs_per_tile)]
    set_seed(args.seed)
    speed = None if args.commands == "train" else args.speed
    policy = torch.jit.load(args.policy, map_location=args.device)
    reached, fell, command_speed, half_tile = evaluate(
        policy, tiles, speed, round(args.seconds / dt), args.device, args.pushes, args.backend, args.task
    )
    demoted = (reached < half_tile) & (reached < 0.25 * command_speed * args.seconds)
    report = {}
    for kind in kinds:
        cells = []
        for row in rows:
            envs = torch.tensor([i for i, tile in enumerate(tiles) if tile == (kind, row)])
            crossed = (reached[envs] >= half_tile).float().mean().item()
            entry = {
                "crossed": crossed, "fell": fell[envs].float().mean().item(), "demoted": demoted[envs].float().mean().item(),
                "mean_distance_m": reached[envs].mean().item(),
            }  # fmt: skip
            report[f"{kind}:{row}"] = entry
            cells.append(f"{row}: {entry['mean_distance_m']:.1f} m {100 * crossed:.0f}/{100 * entry['fell']:.0f}/{100 * entry['demoted']:.0f}%")
        print(f"{kind:19s} " + "  ".join(cells))
    commands = "training's commands" if speed is None else f"{speed:g} m/s forward"
    pushes = ", pushes" if args.pushes else ""
    print(
        f"(row: mean distance up to {half_tile:g} m, crossed/fell/demoted; {args.envs_per_tile} envs per tile, {commands}{pushes}, "
        f"{args.seconds:g} s, {args.device}{', ' + args.backend if args.backend else ''})"
    )
    print(json.dumps(report))


if __name__ == "__main__":
    with exit_on_user_error():
        main(sys.argv[1:])
