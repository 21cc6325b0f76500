"""The only package that imports mujoco, mujoco_warp or warp.

Tasks build a `Simulation` and read and write its named torch views.
"""

from isaac_rl.sim.errors import SimCapacityError, SimError, SimNaNError
from isaac_rl.sim.heightfield import Heightfield
from isaac_rl.sim.model import ModelInfo, force_torque_sensor_names, resolve_asset
from isaac_rl.sim.scene import Scene
from isaac_rl.sim.simulation import BACKENDS, Simulation
from isaac_rl.sim.viewer import display_problem

__all__ = ["BACKENDS", "Heightfield", "ModelInfo", "Scene", "SimCapacityError", "SimError", "SimNaNError", "Simulation", "display_problem", "force_torque_sensor_names", "resolve_asset"]
