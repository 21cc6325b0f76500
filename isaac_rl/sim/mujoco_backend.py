"""MuJoCo C backend for machines without CUDA: one MjData per env.

Envs are stepped in chunks by a thread pool (MuJoCo releases the GIL inside
`mj_step`), and the state is copied into float32 arrays that torch tensors
share, once per step.
"""

from __future__ import annotations

import copy
import os
from concurrent.futures import ThreadPoolExecutor

import mujoco
import numpy as np
import torch

from isaac_rl.sim.model import STATE_FIELDS
from isaac_rl.sim.parameters import model_value

_BAD_STATE_WARNINGS = (mujoco.mjtWarning.mjWARN_BADQACC, mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL)
# MuJoCo C grows its contact and constraint buffers itself (up to the arena),
# and reports running out of arena memory through these warnings.
_CAPACITY_WARNINGS = (mujoco.mjtWarning.mjWARN_CONTACTFULL, mujoco.mjtWarning.mjWARN_CNSTRFULL)
CAPACITY_OVERFLOW_BIT = 1


class MujocoBackend:
    def __init__(
        self,
        model: mujoco.MjModel,
        num_envs: int,
        substeps: int,
        contact_forces: bool,
        refresh_body_states: bool,
        num_threads: int | None = None,
    ) -> None:
        self.model = model
        self.substeps = substeps
        self.contact_forces = contact_forces
        self.refresh_body_states = refresh_body_states
        self.datas = [mujoco.MjData(model) for _ in range(num_envs)]
        for data in self.datas:
            mujoco.mj_forward(model, data)
        shapes = {
            "qpos": (model.nq,),
            "qvel": (model.nv,),
            "ctrl": (model.nu,),
            "xpos": (model.nbody, 3),
            "xquat": (model.nbody, 4),
            "sensordata": (model.nsensordata,),
            "cfrc_ext": (model.nbody, 6),
        }
        self._arrays = {name: np.zeros((num_envs, *shapes[name]), dtype=np.float32) for name in STATE_FIELDS}
        self.tensors = {name: torch.from_numpy(array) for name, array in self._arrays.items()}
        self._bad_state = np.zeros(num_envs, dtype=bool)
        self._overflow = np.zeros(num_envs, dtype=np.int32)
        self.overflow = torch.from_numpy(self._overflow)
        self.bad_state = torch.from_numpy(self._bad_state)
        threads = num_threads or min(os.cpu_count() or 1, num_envs)
        bounds = np.linspace(0, num_envs, threads + 1).astype(int)
        self._chunks = [range(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
        self.num_threads = len(self._chunks)
        self._pool = ThreadPoolExecutor(self.num_threads) if self.num_threads > 1 else None
        # Arrays beyond STATE_FIELDS, allocated when a task first asks for
        # them (`field`), so tasks that never use them pay nothing per step.
        self._outputs: dict[str, np.ndarray] = {}
        self._xfrc: np.ndarray | None = None
        self._fields: dict[str, torch.Tensor] = {}
        # per-env model fields (`model_field`): each thread steps its envs in its own copy of the model
        self._model_fields: dict[str, np.ndarray] = {}
        self._chunk_models = [model] * len(self._chunks)
        for i in range(num_envs):
            self._read(i)

    def field(self, name: str) -> torch.Tensor:
        """xfrc_applied (copied into each MjData before stepping) or an output (cvel, subtree_com) copied out after."""
        if name not in self._fields:
            array = np.stack([getattr(data, name) for data in self.datas]).astype(np.float32)
            if name == "xfrc_applied":
                self._xfrc = array
            else:
                self._outputs[name] = array
            self._fields[name] = torch.from_numpy(array)
        return self._fields[name]

    def model_field(self, name: str) -> torch.Tensor:
        """Model field `name`, one row per env, copied into the stepping thread's model before each env steps."""
        if name not in self._model_fields:
            if not self._model_fields:
                self._chunk_models = [copy.copy(self.model) for _ in self._chunks]
                for model in self._chunk_models:
                    # MuJoCo C takes a "simple" body's mass matrix from dof_M0, fixed at compile time;
                    # the general path computes it from the masses each step, as MuJoCo Warp does
                    model.body_simple[:] = 0
                    model.dof_simplenum[:] = 0
            value = np.asarray(model_value(self.model, name), dtype=np.float32)
            self._model_fields[name] = np.repeat(value[None], len(self.datas), axis=0)
        return torch.from_numpy(self._model_fields[name])

    def _read(self, i: int) -> None:
        data, arrays = self.datas[i], self._arrays
        arrays["qpos"][i] = data.qpos
        arrays["qvel"][i] = data.qvel
        arrays["xpos"][i] = data.xpos
        arrays["xquat"][i] = data.xquat
        arrays["sensordata"][i] = data.sensordata
        if self.contact_forces:
            arrays["cfrc_ext"][i] = data.cfrc_ext
        for name, array in self._outputs.items():
            array[i] = getattr(data, name)
        warnings = data.warning
        if any(warnings[w].number for w in _BAD_STATE_WARNINGS):
            self._bad_state[i] = True
        if any(warnings[w].number for w in _CAPACITY_WARNINGS):
            self._overflow[i] |= CAPACITY_OVERFLOW_BIT

    def _env_model(self, chunk: int, i: int) -> mujoco.MjModel:
        """Chunk `chunk`'s model holding env `i`'s parameters (the model file's where none are per env)."""
        model = self._chunk_models[chunk]
        for name, rows in self._model_fields.items():
            model_value(model, name)[...] = rows[i]
        return model

    def _step_chunk(self, chunk: int) -> None:
        ctrl = self._arrays["ctrl"]
        for i in self._chunks[chunk]:
            data = self.datas[i]
            model = self._env_model(chunk, i)
            data.ctrl[:] = ctrl[i]
            if self._xfrc is not None:
                data.xfrc_applied[:] = self._xfrc[i]
            mujoco.mj_step(model, data, self.substeps)
            if self.contact_forces:
                # Uses the last substep's constraint forces and body poses,
                # as MuJoCo Warp's run_rne_postconstraint does.
                mujoco.mj_rnePostConstraint(model, data)
            if self.refresh_body_states:
                mujoco.mj_kinematics(model, data)
            self._read(i)

    def step(self) -> None:
        if self._pool is None:
            self._step_chunk(0)
        else:
            for future in [self._pool.submit(self._step_chunk, chunk) for chunk in range(len(self._chunks))]:
                future.result()

    # Resets and state writes run on this thread, between steps: chunk 0's model is free to hold any env's parameters.
    def reset(self, mask: torch.Tensor, qpos: torch.Tensor, qvel: torch.Tensor) -> None:
        ids = np.flatnonzero(mask.numpy())
        qpos_np, qvel_np = qpos.numpy(), qvel.numpy()
        for i in ids:
            data = self.datas[i]
            mujoco.mj_resetData(self.model, data)
            data.qpos[:] = qpos_np[i]
            data.qvel[:] = qvel_np[i]
            self._arrays["ctrl"][i] = 0.0
            if self._xfrc is not None:
                self._xfrc[i] = 0.0  # as MuJoCo Warp's reset clears xfrc_applied
            mujoco.mj_forward(self._env_model(0, i), data)
            self._read(i)

    def write_state(self, mask: torch.Tensor, qpos: torch.Tensor, qvel: torch.Tensor) -> None:
        """Set qpos/qvel of the masked envs, leaving their controls and applied forces as they are."""
        qpos_np, qvel_np = qpos.numpy(), qvel.numpy()
        for i in np.flatnonzero(mask.numpy()):
            data = self.datas[i]
            data.qpos[:] = qpos_np[i]
            data.qvel[:] = qvel_np[i]
            mujoco.mj_forward(self._env_model(0, i), data)
            self._read(i)

    def capacity_overflow(self) -> torch.Tensor:
        """(num_envs,) overflow flags since the sim was built (resets keep them)."""
        return self.overflow
