"""The task config keys every VecTask reads, whatever the task's own yaml lists.

A task's own keys are those of its shipped yaml (types taken from their
defaults); these are laid over them, so that a task yaml may leave them out
and a wrong value is still caught before the sim is built.
"""

from __future__ import annotations

from typing import Any

from isaac_rl.utils import schema as s

ENV: dict[str, Any] = {
    "numEnvs": s.integer(1),
    # numEnvs on a machine without CUDA, when num_envs is not given
    "cpuNumEnvs": s.integer(1),
    "numObservations": s.integer(1),
    "numStates": s.integer(0),
    "numActions": s.integer(1),
    "maxEpisodeLength": s.integer(1),
    "controlFrequencyInv": s.integer(1),
    "clipObservations": s.number(0, low_open=True),
    "clipActions": s.number(0, low_open=True),
    # legged_gym's order of a step: reset within the step that ends an episode (vec_task.py)
    "resetInSameStep": s.BOOLEAN,
    "asset": s.STRING,
}

SIM: dict[str, Any] = {
    "dt": s.number(0, low_open=True),
    "substeps": s.integer(1),
    "backend": s.choice("auto", "warp", "mujoco"),
    "use_cuda_graph": s.BOOLEAN,
    "compile_step": s.BOOLEAN,
    "nconmax": s.optional(s.integer(1), "null to size from the model"),
    "njmax": s.optional(s.integer(1), "null to size from the model"),
}

# domain randomization (isaac_rl/tasks/base/randomization.py checks randomization_params itself)
TASK: dict[str, Any] = {"randomize": s.BOOLEAN, "randomization_params": s.FREE_FORM}

VEC_TASK: dict[str, Any] = {"name": s.STRING, "class_path": s.STRING, "env": ENV, "sim": SIM, "task": TASK}

# a gymnasium env (task.env.gym_id) is not a VecTask: only these, and the make_kwargs passed to gymnasium.make
GYM_TASK: dict[str, Any] = {
    "name": s.STRING,
    "env": {"numEnvs": s.integer(1), "gym_id": s.STRING, "make_kwargs": s.FREE_FORM},
}


def task_schema(shipped_defaults: dict[str, Any], is_gym: bool) -> dict[str, Any]:
    """The schema of a task config: its shipped keys and types, with VecTask's (or the gym task's) laid over."""
    return s.merge(s.infer(shipped_defaults), GYM_TASK if is_gym else VEC_TASK)
