"""A filmstrip PNG of a terrain policy (AnymalTerrain, BipedTerrain) walking over chosen tiles of the terrain.

    python scripts/export_policy.py task=AnymalTerrain checkpoint=runs/AnymalTerrain/<run>/nn/AnymalTerrain.pth out=exported/
    python scripts/render_terrain_filmstrip.py --policy exported/policy.pt --out docs/anymal_terrain_filmstrip.png

Options:
    --policy PT         TorchScript policy written by scripts/export_policy.py (observations in, actions out)
    --out PNG           the image to write (default: anymal_terrain_filmstrip.png)
    --task T            the task it was trained on: AnymalTerrain (default) or one built on it (BipedTerrain)
    --tiles K:L,...     one row per tile: terrain kind K (isaac_rl/terrain KINDS) at row (level) L
                        (default smooth_slope:5,stairs_up:3,stairs_down:3,discrete_obstacles:5)
    --speed V           commanded forward velocity, m/s, heading +x (default 1.0)
    --frames N          frames per row (default 8)
    --seconds S         time span the frames cover (default 6.0)
    --width/--height    pixels of one frame (default 320 x 240)
    --seed N            seeds the starts, commands' draws, noise and randomization (default 0)

One env per row, started at its tile's centre as the task starts them, with
the task's observation noise and randomization but no pushes, driven by the
policy's deterministic actions on the MuJoCo C backend (cpu). The camera looks
from the side and follows the base. Rendered headless (EGL, else OSMesa).
"""

from __future__ import annotations

import sys

from isaac_rl.utils.headless_gl import prefer_headless_gl

# MuJoCo picks its OpenGL backend when it is first imported: decide before anything imports it
prefer_headless_gl()

import argparse
from pathlib import Path

import mujoco
import numpy as np
import torch
from omegaconf import OmegaConf

from isaac_rl import tasks
from isaac_rl.tasks.anymal_terrain import AnymalTerrain
from isaac_rl.terrain import KINDS
from isaac_rl.terrain.generator import column_kind
from isaac_rl.utils.cli import exit_on_user_error
from isaac_rl.utils.config import compose_config
from isaac_rl.utils.seeding import set_seed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from render_filmstrip import assemble, frame_steps, render_poses, write_png  # noqa: E402

DEFAULT_TILES = "smooth_slope:5,stairs_up:3,stairs_down:3,discrete_obstacles:5"
CAMERA_DISTANCE, CAMERA_AZIMUTH, CAMERA_ELEVATION = 3.0, 90.0, -15.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, kind, default in (
        ("--policy", str, ""), ("--out", str, "anymal_terrain_filmstrip.png"), ("--task", str, "AnymalTerrain"), ("--tiles", str, DEFAULT_TILES),
        ("--speed", float, 1.0), ("--frames", int, 8), ("--seconds", float, 6.0), ("--width", int, 320), ("--height", int, 240),
        ("--seed", int, 0),
    ):  # fmt: skip
        parser.add_argument(name, type=kind, default=default)
    return parser.parse_args(argv)


def parse_tiles(text: str, num_levels: int) -> list[tuple[str, int]]:
    """`kind:level,...` as [(kind, level)], checked against the terrain's kinds and rows."""
    tiles = []
    for item in text.split(","):
        kind, _, level = item.partition(":")
        if kind not in KINDS or not level.isdigit() or int(level) >= num_levels:
            raise ValueError(f"--tiles {item!r}: expected KIND:LEVEL with KIND one of {', '.join(KINDS)} and LEVEL in 0..{num_levels - 1}")
        tiles.append((kind, int(level)))
    return tiles


def make_task(
    tiles: list[tuple[str, int]],
    last_step: int,
    device: str = "cpu",
    pushes: bool = False,
    backend: str | None = None,
    task_name: str = "AnymalTerrain",
) -> AnymalTerrain:
    """One env per tile, curriculum off, long enough for `last_step`; MuJoCo C on the CPU and MuJoCo Warp on a GPU
    unless `backend` says otherwise (MuJoCo Warp also runs on the CPU). `task_name`: AnymalTerrain or a task built on it (BipedTerrain)."""
    backend = backend or ("mujoco" if device == "cpu" else "warp")
    cfg = compose_config([f"task={task_name}", f"num_envs={len(tiles)}", f"sim_device={device}", f"rl_device={device}", f"physics_backend={backend}"])
    task_cfg = OmegaConf.to_container(cfg.task, resolve=True)
    task_cfg["env"]["learn"]["pushRobots"] = pushes and task_cfg["env"]["learn"]["pushRobots"]
    task_cfg["env"]["terrain"]["curriculum"] = False
    # the episode's time limit would reset an env mid-rollout
    dt = float(task_cfg["sim"]["dt"]) * int(task_cfg["env"]["controlFrequencyInv"])
    task_cfg["env"]["learn"]["episodeLength_s"] = max(float(task_cfg["env"]["learn"]["episodeLength_s"]), (last_step + 2) * dt)
    task_class = tasks.resolve(task_name)
    if not issubclass(task_class, AnymalTerrain):
        raise ValueError(f"--task {task_name!r} walks no terrain map; accepted: AnymalTerrain or a task built on it (BipedTerrain)")
    task = task_class(task_cfg, rl_device=device, sim_device=device, graphics_device_id=0, headless=True)
    config = task.terrain.config
    columns = []
    for kind, _ in tiles:
        column = next((c for c in range(config.num_terrains) if column_kind(c, config) == kind), None)
        if column is None:
            raise ValueError(f"--tiles: the map has no {kind} column (env.terrain.terrainProportions)")
        columns.append(column)
    # as a resumed run places its envs: rows, columns, origins and the logged level means
    task.set_env_state({"terrain_levels": torch.tensor([level for _, level in tiles]), "terrain_types": torch.tensor(columns)})
    return task


def walk_forward(task: AnymalTerrain, speed: float) -> None:
    """Command every env to walk at `speed` m/s along +x without turning (with heading control: heading 0, +x)."""
    task.commands[:, 0], task.commands[:, 1], task.commands[:, 2] = speed, 0.0, 0.0
    task.velocity_commands.heading.zero_()


def rollout(task: AnymalTerrain, policy: torch.jit.ScriptModule, speed: float, steps: np.ndarray) -> np.ndarray:
    """(frames, envs, nq) poses at the given control steps, every env walking forward at `speed` m/s along +x."""
    obs = task.reset()["obs"]
    poses = {0: task.sim.qpos.clone()}
    with torch.no_grad():
        for step in range(1, int(steps.max()) + 1):
            walk_forward(task, speed)
            obs = task.step(policy(obs))[0]["obs"]
            poses[step] = task.sim.qpos.clone()
    return torch.stack([poses[int(s)] for s in steps]).double().numpy()


def render_rows(model: mujoco.MjModel, poses: np.ndarray, width: int, height: int) -> list[list[np.ndarray]]:
    """One row of frames per env, the side camera following its base."""
    view = (CAMERA_DISTANCE, CAMERA_AZIMUTH, CAMERA_ELEVATION)
    return [render_poses(model, poses[:, env], width, height, view, lambda qpos: qpos[:3]) for env in range(poses.shape[1])]


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if not args.policy or not Path(args.policy).is_file():
        raise FileNotFoundError(f"--policy {args.policy!r}: no such file; write one with scripts/export_policy.py task={args.task} checkpoint=...")
    task_cfg = compose_config([f"task={args.task}"]).task
    if "terrain" not in task_cfg.env:
        raise ValueError(f"--task {args.task!r} walks no terrain map; accepted: AnymalTerrain or a task built on it (BipedTerrain)")
    dt = float(task_cfg.sim.dt) * int(task_cfg.env.controlFrequencyInv)
    steps = frame_steps(args.frames, args.seconds, dt)
    tiles = parse_tiles(args.tiles, int(task_cfg.env.terrain.numLevels))
    set_seed(args.seed)
    task = make_task(tiles, int(steps.max()), task_name=args.task)
    policy = torch.jit.load(args.policy, map_location="cpu")
    poses = rollout(task, policy, args.speed, steps)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_png(args.out, assemble(render_rows(task.sim.mj_model, poses, args.width, args.height)))
    print(f"wrote {args.out}: rows {', '.join(f'{k} row {lv}' for k, lv in tiles)}, frames at t = {np.round(steps * dt, 2)} s")


if __name__ == "__main__":
    with exit_on_user_error():
        main(sys.argv[1:])
