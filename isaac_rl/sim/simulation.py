"""`Simulation`: `num_envs` copies of one MJCF model as named, batched torch views.

The views are torch tensors on the sim device that alias the backend's state
(zero-copy on MuJoCo Warp; refreshed in place once per step on MuJoCo C), so
a task reads `sim.dof_pos` after `sim.step()` and gets the new state.

Scenes with several actors, ball joints and external forces are read and
written by name through `sim.scene` (see isaac_rl/sim/scene.py, docs/scenes.md).
Per-env physics parameters (masses, friction, gains, gravity) are views in
`sim.parameters` (isaac_rl/sim/parameters.py).

Quaternions are MuJoCo's (w, x, y, z). Root linear velocity is in the world
frame; `root_ang_vel` is rotated into the world frame too (MuJoCo keeps a free
joint's angular velocity in the body frame).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from isaac_rl.sim.capacity import Capacity, estimate_capacity
from isaac_rl.sim.clearance import ground_clearance
from isaac_rl.sim.errors import SimCapacityError, SimNaNError
from isaac_rl.sim.heightfield import Heightfield
from isaac_rl.sim.layout import scene_layout
from isaac_rl.sim.parameters import ModelParameters
from isaac_rl.sim.model import ModelInfo, ModelSource, PositionGains, describe, load_model
from isaac_rl.sim.scene import Scene
from isaac_rl.utils.torch_math import quat_rotate

if TYPE_CHECKING:
    from isaac_rl.sim.video import VideoRecorder
    from isaac_rl.sim.viewer import Viewer

BACKENDS = ("auto", "warp", "mujoco")


def resolve_backend(backend: str, device: torch.device) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown physics backend {backend!r}; accepted: {', '.join(BACKENDS)}")
    if backend == "auto":
        return "warp" if device.type == "cuda" else "mujoco"
    if backend == "mujoco" and device.type != "cpu":
        raise ValueError(f"the mujoco (C library) backend runs on cpu only, got device {device}; use backend 'warp' on CUDA")
    return backend


class Simulation:
    def __init__(
        self,
        model_file: ModelSource,
        num_envs: int,
        device: str = "cpu",
        substeps: int = 1,
        timestep: float | None = None,
        backend: str = "auto",
        contact_forces: bool = False,
        refresh_body_states: bool = False,
        nconmax: int | None = None,
        njmax: int | None = None,
        heightfield: Heightfield | None = None,
        position_gains: PositionGains = (None, None),
    ) -> None:
        """
        Args:
            model_file: MJCF path, absolute or relative to `assets/` (or `assets/mjcf/`), or a model
                composed in code by one of this package's scene functions (e.g. `shadow_hand_scene`).
            num_envs: number of independent copies (worlds).
            device: "cpu" or "cuda[:N]".
            substeps: physics steps per `step()`.
            timestep: physics step in seconds; the model file's when None.
            backend: "warp" (MuJoCo Warp), "mujoco" (C library, cpu only) or "auto".
            contact_forces: compute per-body external contact forces each step.
            refresh_body_states: recompute body poses after the last substep and
                after resets (otherwise they lag the joint state by one substep).
            nconmax, njmax: contacts and constraint rows per world (Warp only);
                estimated from the model when None.
            heightfield: ground heights that replace the model's floor plane
                (isaac_rl/sim/heightfield.py); shared by all envs.
            position_gains: (stiffness, damping), kp and kv of every position actuator
                (IsaacGymEnvs' control.stiffness and control.damping); None keeps the model's.
        """
        if num_envs <= 0:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs}")
        if substeps <= 0:
            raise ValueError(f"substeps must be a positive integer, got {substeps}")
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"sim device {device!r} requested but CUDA is not available on this machine; use 'cpu'")
        self.backend_name = resolve_backend(backend, self.device)
        self.num_envs = num_envs
        self.mj_model = load_model(model_file, timestep, heightfield, position_gains)
        self.info: ModelInfo = describe(self.mj_model)
        self.substeps = substeps
        self.dt = self.info.timestep * substeps
        self.has_contact_forces = contact_forces
        estimate = estimate_capacity(self.mj_model)
        self.capacity = Capacity(nconmax=nconmax or estimate.nconmax, njmax=njmax or estimate.njmax)

        if self.backend_name == "warp":
            from isaac_rl.sim.warp_backend import WarpBackend

            self.backend = WarpBackend(
                self.mj_model, num_envs, str(self.device), substeps, self.capacity, contact_forces, refresh_body_states
            )
        else:
            from isaac_rl.sim.mujoco_backend import MujocoBackend

            self.backend = MujocoBackend(self.mj_model, num_envs, substeps, contact_forces, refresh_body_states)
        self._bind_views()
        self._nonfinite_seen = torch.zeros(num_envs, dtype=torch.bool, device=self.device)

    def _bind_views(self) -> None:
        t = self.backend.tensors
        self.qpos: torch.Tensor = t["qpos"]
        self.qvel: torch.Tensor = t["qvel"]
        self.ctrl: torch.Tensor = t["ctrl"]
        self.body_pos: torch.Tensor = t["xpos"]
        self.body_quat: torch.Tensor = t["xquat"]
        self.sensordata: torch.Tensor = t["sensordata"]
        self._cfrc_ext = t["cfrc_ext"]
        info = self.info
        if info.has_free_root:
            self.root_pos: torch.Tensor = self.qpos[:, 0:3]
            self.root_quat: torch.Tensor = self.qpos[:, 3:7]
            self.root_lin_vel: torch.Tensor = self.qvel[:, 0:3]
            self.root_ang_vel_local: torch.Tensor = self.qvel[:, 3:6]
        q, v = info.dof_qpos_index, info.dof_qvel_index
        # One robot's hinge/slide joints are contiguous: views, as before. In a
        # scene where free or ball joints sit between them, they are gathered.
        if info.num_dofs and not (np.all(np.diff(q) == 1) and np.all(np.diff(v) == 1)):
            self._dof_pos = self._dof_vel = None
            self._dof_qpos_index = torch.as_tensor(q, device=self.device)
            self._dof_qvel_index = torch.as_tensor(v, device=self.device)
        else:
            q0, v0 = (int(q[0]), int(v[0])) if info.num_dofs else (self.qpos.shape[1], self.qvel.shape[1])
            self._dof_pos = self.qpos[:, q0 : q0 + info.num_dofs]
            self._dof_vel = self.qvel[:, v0 : v0 + info.num_dofs]
        self.dof_limits = torch.as_tensor(info.dof_limits, dtype=torch.float32, device=self.device)
        self.ctrl_range = torch.as_tensor(info.ctrl_range, dtype=torch.float32, device=self.device)
        self.default_qpos = torch.as_tensor(info.qpos0, dtype=torch.float32, device=self.device)

        self.scene = Scene(scene_layout(self.mj_model), self.backend, self.device, self.num_envs, self.has_contact_forces)
        self.parameters = ModelParameters(self.mj_model, self.backend, self.device)

    # -- state ---------------------------------------------------------------
    @property
    def dof_pos(self) -> torch.Tensor:
        """(num_envs, num_dofs) hinge/slide positions: a view where they are contiguous in qpos, else a copy."""
        return self._dof_pos if self._dof_pos is not None else self.qpos[:, self._dof_qpos_index]

    @property
    def dof_vel(self) -> torch.Tensor:
        """(num_envs, num_dofs) hinge/slide velocities: a view where contiguous in qvel, else a copy."""
        return self._dof_vel if self._dof_vel is not None else self.qvel[:, self._dof_qvel_index]

    @property
    def xfrc_applied(self) -> torch.Tensor:
        """(num_envs, nbody, 6) external force and torque per body, world frame: see `Scene.xfrc_applied`."""
        return self.scene.xfrc_applied

    @property
    def root_ang_vel(self) -> torch.Tensor:
        """Root angular velocity in the world frame, (num_envs, 3)."""
        return quat_rotate(self.root_quat, self.root_ang_vel_local)

    @property
    def contact_forces(self) -> torch.Tensor:
        """Net external force on each body in the world frame (contacts, equality constraints, xfrc_applied), (num_envs, nbody, 3)."""
        if not self.has_contact_forces:
            raise RuntimeError("contact forces are off: create the Simulation with contact_forces=True")
        return self._cfrc_ext[..., 3:6]

    @property
    def actuator_force(self) -> torch.Tensor:
        """Force or torque each actuator applied in the last physics step, (num_envs, nu) (a view: read it after `step()`)."""
        return self.backend.field("actuator_force")

    def sensor(self, name: str) -> torch.Tensor:
        """A view of one sensor's values, (num_envs, dim)."""
        if name not in self.info.sensor_slices:
            raise KeyError(f"no sensor named {name!r}; the model has: {', '.join(self.info.sensor_names)}")
        return self.sensordata[:, self.info.sensor_slices[name]]

    def sensor_columns(self, names: Sequence[str]) -> torch.Tensor:
        """Column indices into `sensordata` of the named sensors' values, concatenated in the order given."""
        missing = [name for name in names if name not in self.info.sensor_slices]
        if missing:
            raise KeyError(f"no sensor named {', '.join(map(repr, missing))}; the model has: {', '.join(self.info.sensor_names)}")
        columns = [i for name in names for i in range(self.info.sensor_slices[name].start, self.info.sensor_slices[name].stop)]
        return torch.tensor(columns, dtype=torch.long, device=self.device)

    def ground_clearance(self, qpos: torch.Tensor) -> torch.Tensor:
        """(N,) signed distance (m) from the bodies to the ground in poses qpos (N, nq); negative inside it.

        Kinematics on the cpu, for set-up work (not for the step loop).
        """
        clearance = ground_clearance(self.mj_model, qpos.detach().double().cpu().numpy())
        return torch.as_tensor(clearance, dtype=torch.float32, device=qpos.device)

    # -- actions in, physics, resets ----------------------------------------
    def set_ctrl(self, ctrl: torch.Tensor) -> None:
        """Actuator controls for the next step, (num_envs, nu)."""
        self.ctrl.copy_(ctrl)

    def step(self) -> None:
        """Advance every env by `substeps` physics steps. No host synchronisation."""
        self.backend.step()
        # Sticky: a NaN env that resets before the next check is still reported.
        self._nonfinite_seen |= ~(torch.isfinite(self.qpos).all(dim=1) & torch.isfinite(self.qvel).all(dim=1))

    def reset_envs(self, mask: torch.Tensor, qpos: torch.Tensor, qvel: torch.Tensor) -> None:
        """Set envs where `mask` is True to the given (num_envs, nq)/(num_envs, nv) state.

        Rows of `qpos`/`qvel` for envs not in the mask are ignored, so callers
        can compute a new state for all envs without syncing on the mask.
        Controls of reset envs are zeroed: set them again before the next step.
        """
        self.backend.reset(mask, qpos, qvel)

    def describe(self) -> str:
        """The physics engine in a few words, for a run's start-up line."""
        if self.backend_name == "warp":
            return f"MuJoCo Warp on {self.device}"
        return f"MuJoCo C on cpu, {self.backend.num_threads} thread(s)"

    @property
    def supports_graph_capture(self) -> bool:
        return self.backend_name == "warp" and self.device.type == "cuda"

    @contextmanager
    def torch_graph_capture(self, graph: torch.cuda.CUDAGraph, stream: torch.cuda.Stream) -> Iterator[None]:
        """Record everything run inside (torch ops and physics) into `graph` on `stream`."""
        if not self.supports_graph_capture:
            raise RuntimeError(f"CUDA graph capture needs the warp backend on CUDA, not {self.backend_name} on {self.device}")
        with self.backend.torch_graph_capture(graph, stream):
            yield

    # -- watching ------------------------------------------------------------
    def open_viewer(self, env_index: int = 0) -> "Viewer":
        """MuJoCo's interactive viewer on env `env_index`; `viewer.update(sim.qpos, sim.qvel)` refreshes it."""
        from isaac_rl.sim.viewer import Viewer

        return Viewer(self.mj_model, env_index)

    def video_recorder(self, directory: str | Path, every_steps: int, length: int, fps: float, **options: Any) -> "VideoRecorder":
        """Clips of env 0 (isaac_rl/sim/video.py); `recorder.update(sim.qpos)` after each step feeds it."""
        from isaac_rl.sim.video import VideoRecorder

        return VideoRecorder(self.mj_model, directory, every_steps, length, fps, self.device, **options)

    # -- health (synchronises: call outside the step loop) -------------------
    def check_health(self) -> None:
        """Raise if any env overflowed its contact/constraint buffers or went non-finite."""
        overflowed = torch.nonzero(self.backend.capacity_overflow()).flatten().tolist()
        if overflowed:
            raise SimCapacityError(
                f"{len(overflowed)} env(s) (e.g. {overflowed[:5]}) needed more contacts or constraint rows than allocated "
                f"(nconmax={self.capacity.nconmax}, njmax={self.capacity.njmax} per env); their physics dropped contacts. "
                "Raise sim.nconmax / sim.njmax in the task config."
            )
        bad = self._nonfinite_seen | getattr(self.backend, "bad_state", torch.zeros_like(self._nonfinite_seen))
        bad_ids = torch.nonzero(bad).flatten().tolist()
        if bad_ids:
            raise SimNaNError(
                f"the physics state of {len(bad_ids)} env(s) (e.g. {bad_ids[:5]}) became NaN/inf: the simulation is unstable. "
                "Lower the timestep (sim.dt), raise substeps, or bound the actions (clipActions, max effort)."
            )
