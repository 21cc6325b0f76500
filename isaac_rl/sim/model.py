"""Loading an MJCF model and describing its layout with plain Python types.

Tasks never see an `MjModel`; they see a `ModelInfo`: names, index ranges and
limits as numbers and lists, enough to build observations and actions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from isaac_rl import ASSET_ROOT
from isaac_rl.sim.heightfield import Heightfield, replace_floor
from isaac_rl.sim.layout import object_name


# Batched state arrays every backend exposes as torch tensors, MuJoCo's names.
STATE_FIELDS = ("qpos", "qvel", "ctrl", "xpos", "xquat", "sensordata", "cfrc_ext")


def resolve_asset(path: str | Path) -> Path:
    """Return an existing model file: absolute, relative to the cwd, or to `assets/`."""
    candidates = [Path(path), ASSET_ROOT / path, ASSET_ROOT / "mjcf" / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"model file {str(path)!r} not found (looked at: {tried})")


ModelSource = str | Path | mujoco.MjSpec
"""An MJCF file, or a model composed in code (an `MjSpec` built by a scene function in this package)."""


PositionGains = tuple[float | None, float | None]
"""(stiffness, damping): every position actuator's kp (N m/rad) and kv (N m s/rad); None keeps the model's."""


def load_model(
    source: ModelSource, timestep: float | None = None, heightfield: Heightfield | None = None, position_gains: PositionGains = (None, None)
) -> mujoco.MjModel:
    """Compile an MJCF file or an MjSpec; `timestep` overrides the model's physics step, `heightfield` replaces its floor,
    `position_gains` its position actuators' gains."""
    if isinstance(source, mujoco.MjSpec) or heightfield is not None:
        spec = source if isinstance(source, mujoco.MjSpec) else mujoco.MjSpec.from_file(str(resolve_asset(source)))
        if heightfield is not None:
            replace_floor(spec, heightfield)
        model = spec.compile()
    else:
        model = mujoco.MjModel.from_xml_path(str(resolve_asset(source)))
    if timestep is not None:
        if timestep <= 0:
            raise ValueError(f"timestep must be > 0, got {timestep}")
        model.opt.timestep = timestep
    set_position_gains(model, *position_gains)
    return model


def set_position_gains(model: mujoco.MjModel, stiffness: float | None, damping: float | None) -> None:
    """Give every actuator of `model` the gains kp = `stiffness` and kv = `damping` (None: keep the model's), as
    IsaacGymEnvs' `control.stiffness` and `control.damping` set every joint's PD drive. Each must be a position servo."""
    for name, value in (("stiffness", stiffness), ("damping", damping)):
        if value is not None and not value >= 0:
            raise ValueError(f"control.{name} must be >= 0 (a PD gain), got {value}")
    if stiffness is None and damping is None:
        return
    check_position_servos(model, range(model.nu))
    if stiffness is not None:
        model.actuator_gainprm[:, 0], model.actuator_biasprm[:, 1] = stiffness, -stiffness
    if damping is not None:
        model.actuator_biasprm[:, 2] = -damping


def check_position_servos(model: mujoco.MjModel, actuators: Iterable[int]) -> None:
    """Raise unless every actuator is a PD position servo (fixed gain kp, affine bias -kp q - kv qdot)."""
    for a in actuators:
        servo = (
            model.actuator_gaintype[a] == mujoco.mjtGain.mjGAIN_FIXED
            and model.actuator_biastype[a] == mujoco.mjtBias.mjBIAS_AFFINE
            and model.actuator_biasprm[a, 1] == -model.actuator_gainprm[a, 0]
        )
        if not servo:
            name = object_name(model, mujoco.mjtObj.mjOBJ_ACTUATOR, a)
            raise ValueError(f"actuator {name!r} is not a position servo (MJCF <position>): its stiffness and damping are not kp and kv")


def force_torque_sensor_names(prefixes: Iterable[str]) -> tuple[str, ...]:
    """This project's names of force/torque sensor pairs: `<prefix>_force`, `<prefix>_torque` for each prefix, in order."""
    return tuple(f"{prefix}_{kind}" for prefix in prefixes for kind in ("force", "torque"))


def _names(model: mujoco.MjModel, obj: mujoco.mjtObj, count: int) -> list[str]:
    return [mujoco.mj_id2name(model, obj, i) or f"{obj.name}_{i}" for i in range(count)]


@dataclass(frozen=True)
class ModelInfo:
    """What tasks may know about a model: names, index layout, limits."""

    nq: int
    nv: int
    nu: int
    nbody: int
    body_names: list[str]
    joint_names: list[str]
    actuator_names: list[str]
    sensor_names: list[str]
    has_free_root: bool
    """True when the first joint is a free joint on the first body (a floating base)."""
    dof_names: list[str]
    """Hinge and slide joints, in qpos order; free and ball joints are not dofs (see `Simulation.scene`)."""
    dof_qpos_index: np.ndarray
    dof_qvel_index: np.ndarray
    dof_limits: np.ndarray
    """(num_dofs, 2) joint ranges; (-inf, inf) for unlimited joints."""
    ctrl_range: np.ndarray
    """(nu, 2) actuator control ranges; (-inf, inf) where unlimited."""
    actuator_gear: np.ndarray
    """(nu,) first gear component of each actuator."""
    sensor_slices: dict[str, slice]
    body_mass: np.ndarray
    qpos0: np.ndarray
    timestep: float

    @property
    def num_dofs(self) -> int:
        return len(self.dof_names)

    def body_index(self, name: str) -> int:
        return _index_of(self.body_names, name, "body")

    def dof_index(self, name: str) -> int:
        return _index_of(self.dof_names, name, "dof")

    def actuator_index(self, name: str) -> int:
        return _index_of(self.actuator_names, name, "actuator")


def _index_of(names: list[str], name: str, kind: str) -> int:
    try:
        return names.index(name)
    except ValueError:
        raise KeyError(f"no {kind} named {name!r}; the model has: {', '.join(names)}") from None


def describe(model: mujoco.MjModel) -> ModelInfo:
    joint_types = [int(t) for t in model.jnt_type]
    has_free_root = model.njnt > 0 and joint_types[0] == int(mujoco.mjtJoint.mjJNT_FREE) and model.jnt_bodyid[0] == 1
    dof_types = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
    dof_joints = [j for j in range(model.njnt) if joint_types[j] in dof_types]
    # Free and ball joints beyond the root are scene parts (`Simulation.scene`), not dofs.
    joint_names = _names(model, mujoco.mjtObj.mjOBJ_JOINT, model.njnt)
    limits = np.where(
        model.jnt_limited[dof_joints, None].astype(bool), model.jnt_range[dof_joints], np.array([-np.inf, np.inf])
    )
    ctrl_range = np.where(model.actuator_ctrllimited[:, None].astype(bool), model.actuator_ctrlrange, np.array([-np.inf, np.inf]))
    sensor_names = _names(model, mujoco.mjtObj.mjOBJ_SENSOR, model.nsensor)
    sensor_slices = {
        name: slice(int(model.sensor_adr[i]), int(model.sensor_adr[i] + model.sensor_dim[i])) for i, name in enumerate(sensor_names)
    }
    return ModelInfo(
        nq=model.nq,
        nv=model.nv,
        nu=model.nu,
        nbody=model.nbody,
        body_names=_names(model, mujoco.mjtObj.mjOBJ_BODY, model.nbody),
        joint_names=joint_names,
        actuator_names=_names(model, mujoco.mjtObj.mjOBJ_ACTUATOR, model.nu),
        sensor_names=sensor_names,
        has_free_root=bool(has_free_root),
        dof_names=[joint_names[j] for j in dof_joints],
        dof_qpos_index=model.jnt_qposadr[dof_joints].astype(np.int64),
        dof_qvel_index=model.jnt_dofadr[dof_joints].astype(np.int64),
        dof_limits=limits.reshape(-1, 2),
        ctrl_range=ctrl_range.reshape(-1, 2),
        actuator_gear=model.actuator_gear[:, 0].copy(),
        sensor_slices=sensor_slices,
        body_mass=model.body_mass.copy(),
        qpos0=model.qpos0.copy(),
        timestep=float(model.opt.timestep),
    )
