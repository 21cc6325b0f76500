"""The VecTask base class (imported on first use: the config schema beside it must stay light)."""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "VecTask":
        from isaac_rl.tasks.base.vec_task import VecTask

        return VecTask
    raise AttributeError(name)


__all__ = ["VecTask"]
