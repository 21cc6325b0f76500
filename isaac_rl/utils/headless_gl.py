"""Choosing MuJoCo's OpenGL backend for rendering without a display (videos, filmstrips).

MuJoCo reads MUJOCO_GL once, when it is first imported, so the choice must be
made before anything imports mujoco; this module does not import it.
"""

from __future__ import annotations

import ctypes.util
import os
import sys

HOW_TO_GET_GL = (
    "headless rendering needs OpenGL through EGL (an NVIDIA driver's, or Mesa's: apt install libegl1 libegl-mesa0 "
    "libgl1-mesa-dri) or OSMesa (apt install libosmesa6); MUJOCO_GL=egl or MUJOCO_GL=osmesa picks one"
)


def prefer_headless_gl() -> str | None:
    """Set MUJOCO_GL to egl (else osmesa) where no display is and none was chosen; return what it is now.

    Returns None when MUJOCO_GL stays unset (a display is there: MuJoCo's default works).
    Without libEGL, egl would break `import mujoco` itself, so the library is looked for first.
    """
    if "MUJOCO_GL" in os.environ or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return os.environ.get("MUJOCO_GL")
    if "mujoco" in sys.modules:
        return None  # too late to choose; a render will say what is missing
    for backend, library in (("egl", "EGL"), ("osmesa", "OSMesa")):
        if ctypes.util.find_library(library):
            os.environ["MUJOCO_GL"] = backend
            return backend
    return None
