"""MuJoCo's interactive viewer on one env of a batched simulation (`headless=False`).

The viewer shows a CPU copy of one env: each `update` copies that env's state
from the device (a host synchronisation, so it runs outside the step graph and
at most `max_fps` times a second of wall clock) and refreshes the window. The
step loop never waits for the window beyond that copy.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time

import mujoco


def display_problem() -> str | None:
    """Why no window can open here, or None when a display is there."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY and WAYLAND_DISPLAY are not set)"
    if os.environ.get("MUJOCO_GL") in ("egl", "osmesa"):
        return f"MUJOCO_GL={os.environ['MUJOCO_GL']} selects headless rendering"
    return None


class Viewer:
    def __init__(self, model: mujoco.MjModel, env_index: int = 0, max_fps: float = 60.0) -> None:
        import mujoco.viewer  # opens GLFW: only where a display is

        self.model = model
        self.data = mujoco.MjData(model)
        self.env_index = env_index
        self.min_interval = 1.0 / max_fps
        self._last = 0.0
        before = set(threading.enumerate())
        # the panels would cover most of a small window: the scene gets it all (Tab and Shift+Tab show them)
        self.handle = mujoco.viewer.launch_passive(model, self.data, show_left_ui=False, show_right_ui=False)
        # the viewer's render thread: closing must wait for it (GLFW torn down under it crashes or hangs the exit)
        self._threads = set(threading.enumerate()) - before
        atexit.register(self.close)  # runs before the viewer's own GLFW clean-up, registered earlier

    @property
    def is_running(self) -> bool:
        return self.handle.is_running()

    def update(self, qpos, qvel) -> None:
        """Show `qpos`/`qvel` rows `env_index` (torch tensors, any device): at most `max_fps` a second."""
        now = time.monotonic()
        if now - self._last < self.min_interval or not self.is_running:
            return
        self._last = now
        with self.handle.lock():
            self.data.qpos[:] = qpos[self.env_index].detach().cpu().numpy()
            self.data.qvel[:] = qvel[self.env_index].detach().cpu().numpy()
            mujoco.mj_forward(self.model, self.data)
        self.handle.sync()

    def close(self, timeout: float = 5.0) -> None:
        """Close the window and wait for the viewer's thread to let go of it (exiting while it runs crashes GLFW)."""
        self.handle.close()
        for thread in self._threads:
            thread.join(timeout)
