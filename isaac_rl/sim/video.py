"""Videos of one env while it trains or plays (`capture_video=True`), rendered headless.

Every `every_steps` env steps the recorder starts a clip of `length` frames
(IsaacGymEnvs' `capture_video_freq` and `capture_video_len`), one frame per
env step, and writes it as `<name_prefix>-step-<N>.mp4`.

The step loop pays for a frame with one small copy: env `env_index`'s joint
positions are copied to pinned host memory without waiting (on CUDA), and a
render thread waits for the copy, poses a host MjData, renders it (EGL or
OSMesa) and encodes the clip. The loop waits only when the render thread falls
`queue_frames` frames behind: then the frames cost what rendering them costs.
"""

from __future__ import annotations

import copy
import io
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
import torch

from isaac_rl.sim.offscreen import OffscreenRenderer

VIDEO_EXTRA = 'capture_video=True writes mp4 files with imageio-ffmpeg: pip install -e ".[video]"'


@dataclass
class Clip:
    """A finished clip: the mp4 on disk and a GIF of it for tensorboard (which shows videos as GIFs)."""

    path: Path
    start_step: int
    num_frames: int
    gif: bytes
    width: int
    height: int


def require_video_writer() -> None:
    """Fail clearly, before a run starts, when mp4 files cannot be written."""
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError as error:
        raise ValueError(f"{VIDEO_EXTRA} ({error})") from None


class VideoRecorder:
    def __init__(
        self,
        model: mujoco.MjModel,
        directory: str | Path,
        every_steps: int,
        length: int,
        fps: float,
        device: torch.device,
        env_index: int = 0,
        width: int = 640,
        height: int = 480,
        name_prefix: str = "rl-video",
        camera: dict[str, Any] | None = None,
        queue_frames: int = 64,
    ) -> None:
        require_video_writer()
        if every_steps <= 0 or length <= 0:
            raise ValueError(f"capture_video_freq and capture_video_len must be positive step counts, got {every_steps} and {length}")
        if width % 2 or height % 2:
            raise ValueError(f"video frames need an even width and height (H.264, yuv420p), got {width} x {height}")
        self.directory = Path(directory)
        self.every_steps, self.length, self.fps = every_steps, length, fps
        self.env_index, self.name_prefix = env_index, name_prefix
        self.device = torch.device(device)
        self.steps = 0
        self._frames_left = 0  # frames still to take for the clip being recorded
        pinned = self.device.type == "cuda"
        self._host = [torch.empty(model.nq, dtype=torch.float32, pin_memory=pinned) for _ in range(queue_frames)]
        self._free: queue.Queue[int] = queue.Queue()
        for slot in range(queue_frames):
            self._free.put(slot)
        self._work: queue.Queue = queue.Queue()
        self._finished: queue.Queue[Clip] = queue.Queue()
        self._error: BaseException | None = None
        ready = threading.Event()
        # the render thread's own copy: its offscreen buffer size changes, and the physics never waits on it
        self._thread = threading.Thread(target=self._render_loop, args=(copy.copy(model), width, height, camera, ready), daemon=True, name="video")
        self._thread.start()
        ready.wait()
        if self._error is not None:
            raise self._error

    # -- the step loop's side ------------------------------------------------
    def update(self, qpos: torch.Tensor) -> None:
        """Call after every env step with the batched joint positions (num_envs, nq)."""
        if self._error is not None:
            raise RuntimeError(f"video capture failed: {self._error}") from self._error
        if self._frames_left == 0 and self.steps % self.every_steps == 0:
            self._frames_left = self.length
            self._work.put(("start", self.steps))
        self.steps += 1
        if self._frames_left == 0:
            return
        slot = self._free.get()  # waits only when rendering is queue_frames behind
        self._host[slot].copy_(qpos[self.env_index], non_blocking=True)
        copied = None
        if self.device.type == "cuda":
            copied = torch.cuda.Event()
            copied.record(torch.cuda.current_stream(self.device))
        self._work.put(("frame", slot, copied))
        self._frames_left -= 1
        if self._frames_left == 0:
            self._work.put(("end",))

    def finished_clips(self) -> list[Clip]:
        """Clips written since the last call."""
        clips = []
        while not self._finished.empty():
            clips.append(self._finished.get())
        return clips

    def close(self) -> None:
        """Finish the clip being recorded (shorter, if cut) and stop the render thread."""
        if self._frames_left:
            self._work.put(("end",))
            self._frames_left = 0
        self._work.put(None)
        self._thread.join()

    # -- the render thread ---------------------------------------------------
    def _render_loop(self, model: mujoco.MjModel, width: int, height: int, camera: dict[str, Any] | None, ready: threading.Event) -> None:
        try:
            renderer = OffscreenRenderer(model, width, height)
            for key, value in (camera or {}).items():
                setattr(renderer.camera, key, value)
        except BaseException as error:
            self._error = error
            ready.set()
            return
        ready.set()
        clip: _ClipWriter | None = None
        try:
            while (item := self._work.get()) is not None:
                if item[0] == "start":
                    clip = _ClipWriter(self.directory, f"{self.name_prefix}-step-{item[1]}", item[1], width, height, self.fps)
                elif item[0] == "frame":
                    _, slot, copied = item
                    if copied is not None:
                        copied.synchronize()
                    qpos = self._host[slot].numpy().astype(np.float64)
                    self._free.put(slot)
                    clip.add(renderer.render(qpos))
                elif clip is not None:
                    self._finished.put(clip.finish())
                    clip = None
        except BaseException as error:
            self._error = error
            # the step loop may be waiting for a free slot: let it through to see the error
            for slot in range(len(self._host)):
                self._free.put(slot)
        finally:
            renderer.close()


class _ClipWriter:
    """One clip: frames stream into ffmpeg (which encodes them in its own process) as they are rendered."""

    # tensorboard's GIF: every other frame at half size (a GIF costs ~10x more to encode than the mp4)
    GIF_STRIDE = 2

    def __init__(self, directory: Path, name: str, start_step: int, width: int, height: int, fps: float) -> None:
        import imageio_ffmpeg

        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{name}.mp4"
        self.partial = directory / f"{name}.part.mp4"  # a crash mid-clip leaves no truncated file under the real name
        self.start_step, self.fps = start_step, fps
        self.num_frames = 0
        self.thumbnails: list[np.ndarray] = []
        self.writer = imageio_ffmpeg.write_frames(
            str(self.partial), (width, height), fps=fps, codec="libx264", quality=7, macro_block_size=2,
            output_params=["-preset", "veryfast"],
        )  # fmt: skip
        self.writer.send(None)

    def add(self, frame: np.ndarray) -> None:
        self.writer.send(np.ascontiguousarray(frame))
        if self.num_frames % self.GIF_STRIDE == 0:
            self.thumbnails.append(frame[::2, ::2].copy())
        self.num_frames += 1

    def finish(self) -> Clip:
        from PIL import Image

        self.writer.close()
        self.partial.replace(self.path)
        images = [Image.fromarray(thumbnail) for thumbnail in self.thumbnails]
        gif = io.BytesIO()
        duration = round(1000 * self.GIF_STRIDE / self.fps)
        images[0].save(gif, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0)
        height, width = self.thumbnails[0].shape[:2]
        return Clip(self.path, self.start_step, self.num_frames, gif.getvalue(), width, height)
