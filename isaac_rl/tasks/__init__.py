"""The task map: task name -> `module:Class`, imported on first use.

Importing one task never imports the others. A user's task joins the map with
`register("PushBox", PushBox)` or `register("PushBox", "my_pkg.push_box:PushBox")`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from isaac_rl.tasks.base.vec_task import VecTask

TASK_MAP: dict[str, Any] = {
    "Cartpole": "isaac_rl.tasks.cartpole:Cartpole",
    "Ant": "isaac_rl.tasks.ant:Ant",
    "Humanoid": "isaac_rl.tasks.humanoid:Humanoid",
    "HumanoidAMP": "isaac_rl.tasks.humanoid_amp:HumanoidAMP",
    "BallBalance": "isaac_rl.tasks.ball_balance:BallBalance",
    "Quadcopter": "isaac_rl.tasks.quadcopter:Quadcopter",
    "FrankaCabinet": "isaac_rl.tasks.franka_cabinet:FrankaCabinet",
    "Anymal": "isaac_rl.tasks.anymal:Anymal",
    "AnymalTerrain": "isaac_rl.tasks.anymal_terrain:AnymalTerrain",
    "ShadowHand": "isaac_rl.tasks.shadow_hand:ShadowHand",
    "ShadowHandOpenAI_FF": "isaac_rl.tasks.shadow_hand:ShadowHand",
    "BipedFlat": "isaac_rl.tasks.biped:Biped",
    "BipedTerrain": "isaac_rl.tasks.biped:Biped",
}


def register(name: str, task: "type[VecTask] | str") -> None:
    """Add a task class (or its `module:Class` path) to the task map under `name`."""
    if isinstance(task, str) and ":" not in task:
        raise ValueError(f"task path {task!r} must look like 'package.module:ClassName'")
    TASK_MAP[name] = task


def resolve(name: str) -> "type[VecTask]":
    """The task class registered under `name`."""
    if name not in TASK_MAP:
        known = ", ".join(sorted(TASK_MAP))
        raise KeyError(f"unknown task {name!r}; known tasks: {known} (or register your own with isaac_rl.tasks.register)")
    entry = TASK_MAP[name]
    if isinstance(entry, str):
        module_name, class_name = entry.split(":")
        try:
            entry = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as error:
            raise ValueError(
                f"task {name!r}: cannot load {TASK_MAP[name]!r}: {error} "
                f"(is the module on PYTHONPATH, and does it define {class_name}?)"
            ) from error
        TASK_MAP[name] = entry
    return entry


def make(name: str, **kwargs: Any) -> "VecTask":
    """Build task `name` with the VecTask constructor arguments."""
    return resolve(name)(**kwargs)


__all__ = ["TASK_MAP", "make", "register", "resolve"]
