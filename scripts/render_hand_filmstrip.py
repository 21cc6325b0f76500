"""A filmstrip PNG of a ShadowHand policy turning the cube, the goal cube beyond the fingertips (or of another task's policy, --task).

    python scripts/export_policy.py task=ShadowHand checkpoint=runs/ShadowHand/<run>/nn/ShadowHand.pth out=exported/
    python scripts/render_hand_filmstrip.py --policy exported/policy.pt --out docs/shadow_hand_filmstrip.png
    python scripts/render_hand_filmstrip.py --out /tmp/random_hand.png       # no policy: random actions
    python scripts/render_hand_filmstrip.py --task Humanoid --policy exported/policy.pt --rows 1 --out docs/humanoid_filmstrip.png

Options:
    --policy PT         TorchScript policy written by scripts/export_policy.py (observations in, actions out);
                        without it the hand moves at random
    --out PNG           the image to write (default: shadow_hand_filmstrip.png)
    --task T            the task the policy was trained on (default ShadowHand)
    --rows N            envs, one row each (default 2)
    --frames N          frames per row (default 8)
    --seconds S         time span the frames cover, from the reset (default 4.0)
    --width/--height    pixels of one frame (default 320 x 240)
    --seed N            seeds the resets, goals and random actions (default 0)

Each row is one env of the task (the shipped config's observation type) on
the MuJoCo C backend (cpu), from a reset, with the policy's deterministic
actions; reached goals turn the goal cube, a dropped cube resets the env.
Seen from the task's video camera; one without a fixed `lookat` (a robot
with a free root: Ant, Humanoid) is followed from the side, as
scripts/render_filmstrip.py does. Rendered headless (EGL, else OSMesa).
"""

from __future__ import annotations

import sys

from isaac_rl.utils.headless_gl import prefer_headless_gl

# MuJoCo picks its OpenGL backend when it is first imported: decide before anything imports it
prefer_headless_gl()

import argparse
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from omegaconf import OmegaConf

from isaac_rl import tasks
from isaac_rl.utils.cli import exit_on_user_error
from isaac_rl.utils.config import compose_config
from isaac_rl.utils.seeding import set_seed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from render_filmstrip import CAMERA_AZIMUTH, CAMERA_DISTANCE, CAMERA_ELEVATION, assemble, frame_steps, render_poses, write_png  # noqa: E402


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, kind, default in (
        ("--policy", str, ""), ("--out", str, "shadow_hand_filmstrip.png"), ("--task", str, "ShadowHand"), ("--rows", int, 2), ("--frames", int, 8),
        ("--seconds", float, 4.0), ("--width", int, 320), ("--height", int, 240), ("--seed", int, 0),
    ):  # fmt: skip
        parser.add_argument(name, type=kind, default=default)
    return parser.parse_args(argv)


def rollout(task, policy, steps: np.ndarray) -> np.ndarray:
    """(frames, envs, nq) poses at the given control steps."""
    obs = task.reset()["obs"]
    poses = {0: task.sim.qpos.clone()}
    with torch.no_grad():
        for step in range(1, int(steps.max()) + 1):
            obs = task.step(policy(obs))[0]["obs"]
            poses[step] = task.sim.qpos.clone()
    return torch.stack([poses[int(s)] for s in steps]).double().numpy()


def camera_view(video_camera: dict) -> tuple[tuple[float, float, float], Callable[[np.ndarray], Sequence[float]]]:
    """(distance, azimuth, elevation) and the look-at point of a pose: the task's video camera where it fixes
    `lookat`; otherwise a side view following the free root (qpos[:3]), so that a runner stays in frame."""
    if "lookat" in video_camera:
        view = (video_camera["distance"], video_camera["azimuth"], video_camera["elevation"])
        return view, lambda qpos: video_camera["lookat"]
    return (CAMERA_DISTANCE, CAMERA_AZIMUTH, CAMERA_ELEVATION), lambda qpos: qpos[:3]


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if args.policy and not Path(args.policy).is_file():
        raise FileNotFoundError(f"--policy {args.policy!r}: no such file; write one with scripts/export_policy.py task={args.task} checkpoint=...")
    if args.rows < 1 or args.frames < 1 or args.seconds <= 0:
        raise ValueError(f"--rows and --frames must be >= 1 and --seconds > 0, got {args.rows}, {args.frames}, {args.seconds}")
    cfg = compose_config([f"task={args.task}", f"num_envs={args.rows}", "sim_device=cpu", "rl_device=cpu", "physics_backend=mujoco"])
    task_cfg = OmegaConf.to_container(cfg.task, resolve=True)
    dt = float(task_cfg["sim"]["dt"]) * int(task_cfg["env"]["controlFrequencyInv"])
    steps = frame_steps(args.frames, args.seconds, dt)
    if "maxEpisodeLength" in task_cfg["env"]:  # the time limit would reset an env mid-rollout
        task_cfg["env"]["maxEpisodeLength"] = max(int(task_cfg["env"]["maxEpisodeLength"]), int(steps.max()) + 2)
    set_seed(args.seed)
    task = tasks.make(args.task, cfg=task_cfg, rl_device="cpu", sim_device="cpu", graphics_device_id=0, headless=True)
    if args.policy:
        policy = torch.jit.load(args.policy, map_location="cpu")
    else:
        def policy(obs: torch.Tensor) -> torch.Tensor:
            return 2.0 * torch.rand(obs.shape[0], task.num_actions) - 1.0

    poses = rollout(task, policy, steps)
    view, lookat = camera_view(task.video_camera)
    rows = [render_poses(task.sim.mj_model, poses[:, env], args.width, args.height, view, lookat) for env in range(args.rows)]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_png(args.out, assemble(rows))
    driver = f"policy {args.policy}" if args.policy else "random actions"
    print(f"wrote {args.out}: {args.rows} env(s), {driver}, frames at t = {np.round(steps * dt, 2)} s")


if __name__ == "__main__":
    with exit_on_user_error():
        main(sys.argv[1:])
