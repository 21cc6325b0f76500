"""Frames of one env without a window: MuJoCo's renderer on EGL or OSMesa (videos).

The renderer draws a host copy of one env from its joint state, so it never
touches the batched simulation. Its OpenGL context belongs to the thread that
made it: build and use a renderer in one thread.
"""

from __future__ import annotations

import os

import mujoco
import numpy as np

from isaac_rl.utils.headless_gl import HOW_TO_GET_GL


class RenderUnavailableError(RuntimeError):
    """No OpenGL context for offscreen rendering could be made here."""


def default_camera(model: mujoco.MjModel) -> mujoco.MjvCamera:
    """A camera that frames the model: it follows a free-floating root (Ant runs off), else looks at the scene.

    Seen slightly from above and the side, at a distance from the model's size (`stat.extent`).
    """
    camera = mujoco.MjvCamera()
    mujoco.mjv_defaultFreeCamera(model, camera)
    root_is_free = model.njnt > 0 and model.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE and model.jnt_bodyid[0] == 1
    if root_is_free:
        camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
        camera.trackbodyid = 1
    camera.azimuth, camera.elevation = 135.0, -20.0
    return camera


class OffscreenRenderer:
    def __init__(self, model: mujoco.MjModel, width: int = 640, height: int = 480, camera: mujoco.MjvCamera | None = None) -> None:
        # the offscreen buffer must hold the frame; the model's default is 640 x 480
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, height)
        self.model = model
        self.data = mujoco.MjData(model)
        self.camera = camera or default_camera(model)
        try:
            self.renderer = mujoco.Renderer(model, height, width)
        except Exception as error:  # the GL libraries raise many kinds
            backend = os.environ.get("MUJOCO_GL", "MuJoCo's default (a window system)")
            raise RenderUnavailableError(f"no OpenGL context for rendering with MUJOCO_GL={backend} ({type(error).__name__}: {error}); {HOW_TO_GET_GL}") from None

    def render(self, qpos: np.ndarray) -> np.ndarray:
        """An (height, width, 3) uint8 RGB frame of the model posed at `qpos`."""
        self.data.qpos[:] = qpos
        # poses, then the subtree centres a tracking camera follows, then cameras and lights
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)
        mujoco.mj_camlight(self.model, self.data)
        self.renderer.update_scene(self.data, self.camera)
        return self.renderer.render()

    def close(self) -> None:
        self.renderer.close()
