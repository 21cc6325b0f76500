"""What a robot needs beside an exported policy: observation layout, action mapping, joints, gains, control period.

`deployment_metadata(task, ...)` joins the task's side (`VecTask.deployment_info()`:
observation terms with scales, action scale and offset, clips, control dt) with
the model's (the actuated joints in the policy's action order, their default
positions, and kp/kd of MuJoCo position actuators). `write_metadata` writes it
as `policy.json` beside `policy.onnx` and into the ONNX file's metadata_props
(one entry per top-level key, JSON-encoded), so either file alone is enough.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT_VERSION = 1


def _plain(value: Any) -> Any:
    """JSON-ready: tensors and arrays as lists, infinities as None (JSON has none)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray) and value.dtype == np.float32:
        # float32's shortest decimal (0.03, not 0.029999999329447746)
        value = np.array([float(str(np.float32(v))) for v in value.ravel()], dtype=np.float64).reshape(value.shape)
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()] if value.ndim else _plain(value.item())
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def actuated_joints(mj_model) -> list[dict[str, Any]]:
    """Per actuator, in ctrl order (the policy's action order): its joint, the joint's default position,
    and kp/kd for a position actuator (gain kp, bias -kp*q - kd*qdot), None for any other."""
    joints = []
    for i in range(mj_model.nu):
        joint_id = int(mj_model.actuator_trnid[i, 0])
        gain, bias = mj_model.actuator_gainprm[i], mj_model.actuator_biasprm[i]
        is_position = gain[0] > 0 and np.isclose(bias[1], -gain[0]) and bias[0] == 0
        joints.append({
            "actuator": mj_model.actuator(i).name,
            "joint": mj_model.joint(joint_id).name if mj_model.actuator_trntype[i] == 0 else None,
            "default_position": float(mj_model.qpos0[mj_model.jnt_qposadr[joint_id]]),
            "kp": float(gain[0]) if is_position else None,
            "kd": float(-bias[2]) if is_position else None,
            "force_range": [float(v) for v in mj_model.actuator_forcerange[i]] if mj_model.actuator_forcelimited[i] else None,
        })  # fmt: skip
    return joints


def deployment_metadata(task, task_name: str, trainer: str, checkpoint: str) -> dict[str, Any]:
    """The whole description of an exported policy of `task` (see the module docstring)."""
    info = _plain(task.deployment_info())
    joints = actuated_joints(task.sim.mj_model)
    offset = info.get("action_offset")
    if offset is not None and len(offset) == len(joints):
        # the task's standing pose is what the targets are taken around
        for joint, default in zip(joints, offset):
            joint["default_position"] = default
    return {
        "format_version": FORMAT_VERSION,
        "task": task_name,
        "trainer": trainer,
        "checkpoint": str(checkpoint),
        "inputs": "obs: (batch, num_observations) float32, the raw observation (normaliser inside)",
        "outputs": "actions: (batch, num_actions) float32, clipped to clip_actions",
        **info,
        "joint_names": [joint["joint"] for joint in joints],
        "default_joint_positions": [joint["default_position"] for joint in joints],
        "kp": [joint["kp"] for joint in joints],
        "kd": [joint["kd"] for joint in joints],
        "actuators": joints,
    }


def write_metadata(metadata: dict[str, Any], onnx_path: Path) -> Path:
    """`policy.json` beside `onnx_path`, and the same keys as the ONNX file's metadata_props; returns the JSON path."""
    import onnx

    json_path = Path(onnx_path).with_suffix(".json")
    json_path.write_text(json.dumps(metadata, indent=2) + "\n")
    model = onnx.load(str(onnx_path))
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(model, str(onnx_path))
    return json_path


def read_onnx_metadata(onnx_path: Path) -> dict[str, Any]:
    """The metadata `write_metadata` put into an ONNX file, decoded."""
    import onnx

    model = onnx.load(str(onnx_path))
    return {entry.key: json.loads(entry.value) for entry in model.metadata_props}
