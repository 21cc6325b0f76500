"""A filmstrip PNG of a HumanoidAMP policy rollout above the reference clip it imitates.

    python scripts/render_filmstrip.py --checkpoint runs/HumanoidAMP/<run>/nn/HumanoidAMP.pth \\
        --out docs/humanoid_amp_filmstrip.png
    python scripts/render_filmstrip.py --motion-file motions/humanoid_walk.npz --out /tmp/clip.png

Options:
    --checkpoint PTH    rl_games checkpoint of a HumanoidAMP run; without it only the reference row is drawn
    --motion-file F     clip (.npz/.npy) or .yaml list, absolute or relative to assets/ (default: the task's)
    --out PNG           the image to write (default: humanoid_amp_filmstrip.png)
    --frames N          frames per row (default 8)
    --seconds S         time span the frames cover, from the episode start (default 2.0)
    --width/--height    pixels of one frame (default 320 x 320)
    --device D          torch device of the env and policy: cpu (MuJoCo C physics) or cuda:0 (default cpu)

Rows: the policy (deterministic actions) from the clip's start pose, then the
reference clip at the same times; one env, no early termination, so the
rollout is never cut. Rendered headless by mujoco.Renderer: where MUJOCO_GL is
unset and there is no DISPLAY, on EGL (else OSMesa).
"""

from __future__ import annotations

import sys

from isaac_rl.utils.headless_gl import prefer_headless_gl

# MuJoCo picks its OpenGL backend when it is first imported: decide before anything imports it
prefer_headless_gl()

import argparse
import struct
import zlib
from pathlib import Path
from typing import Callable, Sequence

import mujoco
import numpy as np
import torch
from omegaconf import OmegaConf

from isaac_rl.rlgames import launch
from isaac_rl.sim.offscreen import OffscreenRenderer
from isaac_rl.tasks.humanoid_amp import HumanoidAMP, resolve_motion_file
from isaac_rl.utils.cli import exit_on_user_error
from isaac_rl.utils.config import compose_config

GAP = 4  # white pixels between frames and between rows
# side view: looking along +y, so walking along +x crosses the frame left to right
CAMERA_DISTANCE, CAMERA_AZIMUTH, CAMERA_ELEVATION = 3.5, 90.0, -10.0
# the camera follows the pelvis horizontally but keeps this height, so a fall or crouch shows as one
LOOKAT_HEIGHT = 0.8

Policy = Callable[[torch.Tensor], torch.Tensor]


def parse_args(argv: list[str]) -> argparse.Namespace:
    # the module docstring documents the options: --help prints it
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, kind, default in (
        ("--checkpoint", str, ""), ("--motion-file", str, ""), ("--out", str, "humanoid_amp_filmstrip.png"),
        ("--frames", int, 8), ("--seconds", float, 2.0), ("--width", int, 320), ("--height", int, 320), ("--device", str, "cpu"),
    ):  # fmt: skip
        parser.add_argument(name, type=kind, default=default)
    return parser.parse_args(argv)


def compose_configs(device: str) -> tuple[dict, dict]:
    """The task and train configs of `scripts/train.py task=HumanoidAMP num_envs=1`, resolved."""
    cfg = compose_config(["task=HumanoidAMP", "num_envs=1"])
    cfg.sim_device = cfg.rl_device = device
    return OmegaConf.to_container(cfg.task, resolve=True), OmegaConf.to_container(cfg.train, resolve=True)


def frame_steps(frames: int, seconds: float, dt: float) -> np.ndarray:
    """Control steps (from the episode start) of `frames` frames evenly spread over `seconds`."""
    if frames < 1 or seconds < 0:
        raise ValueError(f"--frames {frames} --seconds {seconds}: expected frames >= 1 and seconds >= 0")
    steps = np.rint(np.linspace(0.0, seconds, frames) / dt).astype(np.int64)
    if len(np.unique(steps)) < frames:
        raise ValueError(f"--frames {frames} over --seconds {seconds} is more frames than control steps ({dt:.4f} s each)")
    return steps


def make_task(task_cfg: dict, device: str, motion_file: str, last_step: int) -> HumanoidAMP:
    """One HumanoidAMP env that starts at the clip start and runs at least `last_step` steps uncut."""
    env = task_cfg["env"]
    try:
        env["motion_file"] = str(resolve_motion_file(motion_file or env["motion_file"]))
    except FileNotFoundError as error:
        # the task words it for its config key; here the user gave the command-line option
        raise FileNotFoundError(str(error).replace("env.motion_file", "--motion-file", 1)) from None
    env.update(numEnvs=1, stateInit="Start", enableEarlyTermination=False)
    # the episode's time limit would reset the env mid-rollout
    env["maxEpisodeLength"] = max(int(env["maxEpisodeLength"]), last_step + 2)
    return HumanoidAMP(task_cfg, rl_device=device, sim_device=device, graphics_device_id=0, headless=True)


def load_policy(task: HumanoidAMP, train_cfg: dict, checkpoint: str, device: str) -> Policy:
    """Deterministic actions of the checkpoint's policy, through rl_games' AMP player."""
    launch.check_checkpoint(checkpoint, task.num_observations, task.num_actions)
    config = train_cfg["params"]["config"]
    config.update(device=device, device_name=device)
    config.setdefault("player", {})["use_vecenv"] = True
    runner = launch.build_runner(lambda **kwargs: task)  # the player wraps this very task
    runner.load(train_cfg)
    player = runner.create_player()
    # the checkpoint's weights, mapped onto the device this rollout runs on
    player.set_weights(launch.load_checkpoint(checkpoint, map_location=device))
    player.has_batch_dimension = True  # observations come as (1, 81): keep the env axis on the actions
    player.reset()
    return lambda obs: player.get_action(obs, is_deterministic=True)


def reference_qpos(task: HumanoidAMP, motion_id: int, steps: np.ndarray) -> torch.Tensor:
    """(frames, nq) model poses of clip `motion_id` at the control steps' times."""
    times = torch.as_tensor(steps * task.dt, dtype=torch.float32, device=task.device)
    state = task.motion_lib.get_motion_state(torch.full_like(times, motion_id, dtype=torch.long), times)
    return torch.cat((state.root_pos, state.root_rot, state.dof_pos), dim=1).cpu()


def rollout(task: HumanoidAMP, obs: torch.Tensor, policy: Policy, steps: np.ndarray) -> torch.Tensor:
    """(frames, nq) poses of env 0 at the given control steps, stepping from the just-reset `obs`."""
    poses = {0: task.sim.qpos[0].cpu().clone()}
    for step in range(1, int(steps.max()) + 1):
        obs_dict, _, dones, _ = task.step(policy(obs))
        obs = obs_dict["obs"]
        poses[step] = task.sim.qpos[0].cpu().clone()  # a CUDA-graph step reuses its buffers: copy
        if step < steps.max() and bool(dones[0]):
            raise RuntimeError(f"the episode ended at step {step}, before the last frame's step {steps.max()}")
    return torch.stack([poses[int(s)] for s in steps])


def render_poses(
    model: mujoco.MjModel, poses: np.ndarray, width: int, height: int, view: tuple[float, float, float], lookat: Callable[[np.ndarray], Sequence[float]]
) -> list[np.ndarray]:
    """One (height, width, 3) uint8 image per pose (rows of qpos), from a free camera at `view` (distance,
    azimuth, elevation) looking at `lookat(qpos)`."""
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_FREE
    camera.distance, camera.azimuth, camera.elevation = view
    renderer = OffscreenRenderer(model, width, height, camera)
    images = []
    try:
        for qpos in poses:
            camera.lookat[:] = lookat(qpos)
            images.append(renderer.render(qpos).copy())
    finally:
        renderer.close()
    return images


def render_frames(model: mujoco.MjModel, poses: torch.Tensor, width: int, height: int) -> list[np.ndarray]:
    """One (height, width, 3) uint8 image per pose, from the side camera tracking the pelvis."""
    view = (CAMERA_DISTANCE, CAMERA_AZIMUTH, CAMERA_ELEVATION)
    return render_poses(model, poses.double().numpy(), width, height, view, lambda qpos: (qpos[0], qpos[1], LOOKAT_HEIGHT))


def assemble(rows: list[list[np.ndarray]], gap: int = GAP) -> np.ndarray:
    """Frames laid out row by row on white, `gap` pixels apart."""
    height, width, _ = rows[0][0].shape
    columns = max(len(row) for row in rows)
    sheet = np.full((len(rows) * (height + gap) - gap, columns * (width + gap) - gap, 3), 255, dtype=np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            y, x = r * (height + gap), c * (width + gap)
            sheet[y : y + height, x : x + width] = image
    return sheet


def write_png(path: str | Path, image: np.ndarray) -> None:
    """An 8-bit RGB PNG of a (H, W, 3) uint8 image: rows with filter 0 (none), zlib-compressed."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    height, width, _ = image.shape
    rows = np.concatenate((np.zeros((height, 1), np.uint8), image.reshape(height, width * 3)), axis=1)

    def chunk(tag: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # depth 8, truecolour, deflate, filter 0, no interlace
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) + chunk(b"IEND", b"")
    Path(path).write_bytes(png)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if args.width < 1 or args.height < 1:
        raise ValueError(f"--width {args.width} --height {args.height}: expected positive pixel counts")
    if args.checkpoint:
        launch.require_checkpoint_file(args.checkpoint)  # before the slow set-up
    task_cfg, train_cfg = compose_configs(args.device)
    dt = float(task_cfg["sim"]["dt"]) * int(task_cfg["env"]["controlFrequencyInv"])
    steps = frame_steps(args.frames, args.seconds, dt)
    task = make_task(task_cfg, args.device, args.motion_file, int(steps.max()))
    policy = load_policy(task, train_cfg, args.checkpoint, args.device) if args.checkpoint else None

    obs = task.reset()["obs"]
    motion_id = int(task.reset_motion_ids[0])  # the clip env 0 starts from (one of several in a .yaml list)
    length = float(task.motion_lib.get_motion_length()[motion_id])
    if args.seconds > length:
        print(f"note: the clip is {length:.2f} s long; reference frames after that repeat its last pose")
    poses = [reference_qpos(task, motion_id, steps)]
    if policy is not None:
        poses.insert(0, rollout(task, obs, policy, steps))
    rows = [render_frames(task.sim.mj_model, p, args.width, args.height) for p in poses]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_png(args.out, assemble(rows))
    clip = Path(task.motion_lib.motion_files[motion_id]).name
    rows_drawn = f"{'policy rollout above ' if policy else ''}reference {clip}"
    print(f"wrote {args.out}: {rows_drawn}, frames at t = {np.round(steps * dt, 2)} s")


if __name__ == "__main__":
    with exit_on_user_error():
        main(sys.argv[1:])
