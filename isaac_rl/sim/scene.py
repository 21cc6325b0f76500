"""Named torch views of a scene's actors, joints and bodies (Isaac Gym's tensors in MuJoCo's terms).

Parts are picked by name or whole-match regex (`'.*_foot'`), resolved once on
the host and cached as index tensors, so reads and writes in the step loop
are plain torch indexing: no host synchronisation on either backend. A task
resolves the names its step uses before the first step (VecTask's
`build_index_plans`): resolving is host work (regexes, numpy, branches on
the layout) that torch.compile cannot trace into the step's graph.

Reads return a view of the backend's arrays (zero-copy on MuJoCo Warp) when
the picked columns are contiguous, and a gathered copy otherwise: call them
each step rather than keeping the result. Writes to qpos/qvel go through the
backend (`write_root_state`, `write_joint_state`) so the MuJoCo C backend's
per-env MjData sees them too.

Frames: positions, quaternions (w, x, y, z) and velocities are world-frame,
except ball joints, whose quaternion is relative to the parent body and whose
angular velocity is in the child body's frame (MuJoCo's joint coordinates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from isaac_rl.sim.layout import Names, SceneLayout, columns, resolve
from isaac_rl.utils.torch_math import quat_rotate, quat_rotate_inverse


class _Backend(Protocol):
    tensors: dict[str, torch.Tensor]

    def field(self, name: str) -> torch.Tensor: ...

    def write_state(self, mask: torch.Tensor, qpos: torch.Tensor, qvel: torch.Tensor) -> None: ...


Index = slice | torch.Tensor


def _index(cols: np.ndarray, device: torch.device) -> Index:
    """A slice where the columns are contiguous (so indexing makes a view), an index tensor otherwise."""
    if len(cols) and np.all(np.diff(cols) == 1):
        return slice(int(cols[0]), int(cols[-1]) + 1)
    return torch.as_tensor(cols, dtype=torch.long, device=device)


@dataclass(frozen=True)
class _RootPlan:
    count: int
    free_slots: torch.Tensor
    fixed_slots: torch.Tensor
    qcols: Index
    vcols: Index
    fixed_pose: torch.Tensor
    num_free: int
    fixed_names: list[str]


class Scene:
    """Actors (children of the world body: free bodies and articulation roots), joints and bodies by name."""

    def __init__(
        self, layout: SceneLayout, backend: _Backend, device: torch.device, num_envs: int, has_contact_forces: bool
    ) -> None:
        self.layout = layout
        self._backend = backend
        self.device = device
        self.num_envs = num_envs
        self._has_contact_forces = has_contact_forces
        self._qpos, self._qvel = backend.tensors["qpos"], backend.tensors["qvel"]
        self._plans: dict[tuple, object] = {}

    # -- names ---------------------------------------------------------------
    @property
    def actor_names(self) -> list[str]:
        return self.layout.actor_names

    @property
    def body_names(self) -> list[str]:
        return self.layout.body_names

    def joint_names(self, kind: str | None = None) -> list[str]:
        """Hinge/slide ('scalar') and 'ball' joint names; both kinds when `kind` is None."""
        return self.layout.joint_names(kind)

    def actor_ids(self, actors: Names) -> list[int]:
        return resolve(actors, self.actor_names, "actor")

    def body_ids(self, bodies: Names) -> list[int]:
        return resolve(bodies, self.body_names, "body")

    def _cached(self, key: tuple, build):
        if key not in self._plans:
            self._plans[key] = build()
        return self._plans[key]

    # -- actors --------------------------------------------------------------
    def _root_plan(self, actors: Names | None) -> _RootPlan:
        def build() -> _RootPlan:
            ids = list(range(len(self.layout.actors))) if actors is None else self.actor_ids(actors)
            picked = [self.layout.actors[i] for i in ids]
            free = [k for k, a in enumerate(picked) if a.is_free]
            fixed = [k for k, a in enumerate(picked) if not a.is_free]
            long = dict(dtype=torch.long, device=self.device)
            return _RootPlan(
                count=len(picked),
                free_slots=torch.tensor(free, **long),
                fixed_slots=torch.tensor(fixed, **long),
                qcols=_index(columns([picked[k].qpos_adr for k in free], 7), self.device),
                vcols=_index(columns([picked[k].qvel_adr for k in free], 6), self.device),
                fixed_pose=torch.tensor([picked[k].base_pose for k in fixed], dtype=torch.float32, device=self.device).reshape(-1, 7),
                num_free=len(free),
                fixed_names=[picked[k].name for k in fixed],
            )

        return self._cached(("root", actors if actors is None or isinstance(actors, str) else tuple(actors)), build)

    @property
    def root_state(self) -> torch.Tensor:
        """(num_envs, num_actors, 13) every actor's root state; see `actor_root_state`."""
        return self.actor_root_state(None)

    def actor_root_state(self, actors: Names | None) -> torch.Tensor:
        """(num_envs, len(actors), 13): position, quaternion wxyz, linear and angular velocity, world frame.

        Free actors read their free joint (current after `step()`); the angular
        velocity is rotated from MuJoCo's body frame into the world frame.
        Fixed-base actors (a world child without a free joint) report the
        pose of their base, the frame where they are attached to the world
        (the root body's pose in the model, before its own joints move it),
        and zero velocity: the base never moves. Their moving links are read
        with the joint and body views.
        A gathered copy: writing into it changes nothing (use `write_root_state`).
        """
        plan = self._root_plan(actors)
        out = torch.zeros(self.num_envs, plan.count, 13, device=self.device)
        if plan.num_free:
            q = self._qpos[:, plan.qcols].view(self.num_envs, plan.num_free, 7)
            v = self._qvel[:, plan.vcols].view(self.num_envs, plan.num_free, 6)
            out[:, plan.free_slots] = torch.cat([q, v[..., :3], quat_rotate(q[..., 3:7], v[..., 3:6])], dim=-1)
        if plan.fixed_names:
            out[:, plan.fixed_slots, 0:7] = plan.fixed_pose
        return out

    def write_root_state(self, mask: torch.Tensor, actors: Names, states: torch.Tensor) -> None:
        """Set free actors' root states (num_envs, len(actors), 13), world frame, in the envs where `mask` is True.

        Rows of envs outside the mask are ignored (compute all, no sync on the
        mask). Other actors, joints and the controls are left as they are.
        Quaternions should be unit: MuJoCo normalises them on the next step.
        """
        plan = self._root_plan(actors)
        if plan.fixed_names:
            raise ValueError(f"actor(s) {plan.fixed_names} have a fixed base: only free actors have a root state to write")
        states = states.reshape(self.num_envs, plan.count, 13)
        qpos, qvel = self._qpos.clone(), self._qvel.clone()
        ang_local = quat_rotate_inverse(states[..., 3:7], states[..., 10:13])
        qpos[:, plan.qcols] = states[..., 0:7].reshape(self.num_envs, -1)
        qvel[:, plan.vcols] = torch.cat([states[..., 7:10], ang_local], dim=-1).reshape(self.num_envs, -1)
        self._backend.write_state(mask, qpos, qvel)

    # -- joints --------------------------------------------------------------
    def _joint_plan(self, joints: Names, kind: str | None):
        def build():
            candidates = [j for j in self.layout.joints if kind is None or j.kind == kind]
            label = {"scalar": "hinge/slide joint", "ball": "ball joint", None: "joint"}[kind]
            picked = [candidates[i] for i in resolve(joints, [j.name for j in candidates], label)]
            kinds = {j.kind for j in picked}
            if len(kinds) > 1:
                raise ValueError(f"{joints!r} picks both hinge/slide and ball joints: write them in separate calls")
            qw, vw = (4, 3) if kinds == {"ball"} else (1, 1)
            qcols = _index(columns([j.qpos_adr for j in picked], qw), self.device)
            vcols = _index(columns([j.qvel_adr for j in picked], vw), self.device)
            return len(picked), qw, vw, qcols, vcols

        return self._cached(("joint", kind, joints if isinstance(joints, str) else tuple(joints)), build)

    def joint_pos(self, joints: Names) -> torch.Tensor:
        """(num_envs, J) hinge angles (rad) / slide positions (m)."""
        _, _, _, qcols, _ = self._joint_plan(joints, "scalar")
        return self._qpos[:, qcols]

    def joint_vel(self, joints: Names) -> torch.Tensor:
        """(num_envs, J) hinge/slide velocities."""
        _, _, _, _, vcols = self._joint_plan(joints, "scalar")
        return self._qvel[:, vcols]

    def ball_quat(self, joints: Names) -> torch.Tensor:
        """(num_envs, J, 4) ball-joint rotations wxyz, child body relative to its parent."""
        n, _, _, qcols, _ = self._joint_plan(joints, "ball")
        return self._qpos[:, qcols].view(self.num_envs, n, 4)

    def ball_ang_vel(self, joints: Names) -> torch.Tensor:
        """(num_envs, J, 3) ball-joint angular velocities relative to the parent, in the child body's frame (MuJoCo's)."""
        n, _, _, _, vcols = self._joint_plan(joints, "ball")
        return self._qvel[:, vcols].view(self.num_envs, n, 3)

    def write_joint_state(
        self, mask: torch.Tensor, joints: Names, pos: torch.Tensor | None = None, vel: torch.Tensor | None = None
    ) -> None:
        """Set joints of one kind in the envs where `mask` is True; None keeps that part.

        Hinge/slide: pos, vel (num_envs, J). Ball: pos (num_envs, J, 4) wxyz, vel (num_envs, J, 3) child frame.
        """
        _, _, _, qcols, vcols = self._joint_plan(joints, None)
        qpos, qvel = self._qpos.clone(), self._qvel.clone()
        if pos is not None:
            qpos[:, qcols] = pos.reshape(self.num_envs, -1)
        if vel is not None:
            qvel[:, vcols] = vel.reshape(self.num_envs, -1)
        self._backend.write_state(mask, qpos, qvel)

    # -- bodies --------------------------------------------------------------
    def _body_index(self, bodies: Names) -> Index:
        key = ("body", bodies if isinstance(bodies, str) else tuple(bodies))
        return self._cached(key, lambda: _index(np.array(self.body_ids(bodies), dtype=np.int64), self.device))

    def body_pos(self, bodies: Names) -> torch.Tensor:
        """(num_envs, B, 3) body frame origins, world frame (as of the last substep's kinematics)."""
        return self._backend.tensors["xpos"][:, self._body_index(bodies)]

    def body_quat(self, bodies: Names) -> torch.Tensor:
        """(num_envs, B, 4) body orientations wxyz, world frame."""
        return self._backend.tensors["xquat"][:, self._body_index(bodies)]

    def body_vel(self, bodies: Names) -> torch.Tensor:
        """(num_envs, B, 6) linear velocity of the body frame origin and angular velocity, both world frame.

        From MuJoCo's cvel, which is computed at the start of the last substep
        (one substep behind qvel; with refresh_body_states the body origin is
        newer than the velocity by that substep, a small offset error). First use makes the MuJoCo C backend copy
        cvel and subtree_com each step; MuJoCo Warp shares them at no cost.
        """
        index = self._body_index(bodies)
        key = ("roots", bodies if isinstance(bodies, str) else tuple(bodies))
        roots = self._cached(
            key, lambda: _index(np.array([self.layout.body_root[b] for b in self.body_ids(bodies)]), self.device)
        )
        cvel = self._backend.field("cvel")[:, index]  # (rot, lin) about the subtree CoM of the body's root
        com = self._backend.field("subtree_com")[:, roots]
        ang, lin = cvel[..., 0:3], cvel[..., 3:6]
        offset = self._backend.tensors["xpos"][:, index] - com
        return torch.cat([lin + torch.cross(ang, offset, dim=-1), ang], dim=-1)

    def body_contact_forces(self, bodies: Names) -> torch.Tensor:
        """(num_envs, B, 3) net external force on each body, world frame (MuJoCo's cfrc_ext).

        Contacts plus connect/weld equality forces plus this body's own
        xfrc_applied: subtract `xfrc_applied[..., 0:3]` for contacts alone.
        """
        if not self._has_contact_forces:
            raise RuntimeError("contact forces are off: create the Simulation with contact_forces=True")
        return self._backend.tensors["cfrc_ext"][:, self._body_index(bodies), 3:6]

    @property
    def xfrc_applied(self) -> torch.Tensor:
        """(num_envs, nbody, 6) external force (3) and torque (3) on each body, world frame, force at the body's CoM.

        Write it in place (`sim.scene.xfrc_applied[:, ids, 2] = f`); it holds
        until changed, and a reset clears it for the reset envs. Zero-copy on
        MuJoCo Warp; the MuJoCo C backend copies it in before each step once
        it has been asked for.
        """
        return self._backend.field("xfrc_applied")
