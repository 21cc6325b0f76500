"""The Shadow Hand holding a cube: OpenAI's hand model from gymnasium-robotics, composed with this project's scene.

The hand (OpenAI's "Learning Dexterity" MJCF, Apache-2.0: 24 joints, the
distal joints of four fingers coupled to the middle ones by tendons, 20
position actuators) is read at run time from the installed
`gymnasium-robotics` package (`pip install -e ".[hands]"`); it is never copied
here. Only the package's files are located (`importlib.util.find_spec`):
importing gymnasium_robotics would load its environment registry, slow and
noisy, for nothing.

The composition (MjSpec) keeps the hand's joints, tendons, contact pairs and
actuators as they are, drops its sensors (joint positions duplicate qpos,
touch sensors go unused), makes the hand weightless (gravity compensation on
its bodies: IsaacGymEnvs loads it with `disable_gravity`), moves its mount so
that OpenAI's cube spot lies at `CUBE_START`, and adds this project's parts:
- `cube`: a free 5 cm box (OpenAI's size and density) that collides with the hand, its spin damped at Isaac
  Gym's default rate (IsaacGymEnvs' cube keeps it: `CUBE_ANGULAR_DAMPING`);
- `goal`: a free, translucent cube showing the goal orientation beyond the
  fingertips; it collides with nothing and gravity compensation holds it in place;
- optionally force and torque sensors at the five fingertips (`<finger>_force`,
  `<finger>_torque`), IsaacGym's fingertip force sensors;
- a visual floor and a light; solver settings from the task;
- primitive colliders only: box-box pairs by MuJoCo's box-box collider on both backends and the forearm's
  collision mesh as its fitted box, so that MuJoCo Warp compiles and runs no convex (GJK/EPA) collision.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import mujoco

from isaac_rl.sim.model import force_torque_sensor_names

HANDS_EXTRA = 'pip install -e ".[hands]"'
FINGERS = ("ff", "mf", "rf", "lf", "th")
FINGERTIP_BODIES = tuple(f"robot0:{finger}distal" for finger in FINGERS)
# the optional fingertip sensors `shadow_hand_scene` adds: force and torque of each finger, in FINGERS order
FINGERTIP_SENSORS = force_torque_sensor_names(FINGERS)
# where OpenAI's manipulate_block.xml puts its block, seen from the hand's mount
_CUBE_FROM_MOUNT = (0.0, -0.38, 0.05)
CUBE_START = (0.0, 0.0, 0.5)
CUBE_HALF_SIZE = 0.025
CUBE_DENSITY = 567.0
# 1/s: the decay rate of the cube's spin, Isaac Gym's default angular damping for rigid bodies, which IsaacGymEnvs'
# cube keeps (its hand sets its own); MuJoCo damps the free joint's angular velocity by damping / inertia
CUBE_ANGULAR_DAMPING = 0.5
# the goal cube is drawn here, beyond the fingertips (IsaacGymEnvs draws it beside the hand)
GOAL_MARKER_OFFSET = (0.1, -0.2, 0.06)
# the hand's one mesh collider (cube against forearm); collides as a box (_primitive_collisions_only)
FOREARM_COLLIDER = "robot0:C_forearm"
CONES = {"pyramidal": mujoco.mjtCone.mjCONE_PYRAMIDAL, "elliptic": mujoco.mjtCone.mjCONE_ELLIPTIC}


def hand_asset_dir() -> Path:
    """gymnasium-robotics' `envs/assets` folder (hand MJCF in hand/, meshes in stls/hand/); one clear error without it."""
    spec = importlib.util.find_spec("gymnasium_robotics")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the Shadow Hand model comes from gymnasium-robotics, which is not installed: {HANDS_EXTRA}")
    assets = Path(next(iter(spec.submodule_search_locations))) / "envs" / "assets"
    if not (assets / "hand" / "robot.xml").is_file():
        raise RuntimeError(f"gymnasium-robotics at {assets.parent.parent} has no hand model (envs/assets/hand/robot.xml); {HANDS_EXTRA}")
    return assets


def shadow_hand_scene(
    iterations: int = 10, ls_iterations: int = 10, cone: str = "pyramidal", impratio: float = 1.0, fingertip_sensors: bool = False
) -> mujoco.MjSpec:
    """The hand, the cube and the goal marker as one MjSpec (for `Simulation`); solver settings as given."""
    if cone not in CONES:
        raise ValueError(f"cone {cone!r}: accepted {', '.join(CONES)}")
    if iterations < 1 or ls_iterations < 1:
        raise ValueError(f"solver iterations and ls_iterations must be >= 1, got {iterations} and {ls_iterations}")
    assets = hand_asset_dir()
    hand = assets / "hand"
    # the hand's own files, included by absolute path: its defaults, tendons, contact pairs and actuators (shared.xml),
    # its meshes (shared_asset.xml) and its body tree (robot.xml)
    xml = f"""<mujoco model="shadow_hand_cube">
  <compiler angle="radian" coordinate="local" meshdir="{assets / 'stls' / 'hand'}"/>
  <include file="{hand / 'shared.xml'}"/>
  <asset><include file="{hand / 'shared_asset.xml'}"/></asset>
  <worldbody><include file="{hand / 'robot.xml'}"/></worldbody>
</mujoco>"""
    spec = mujoco.MjSpec.from_string(xml)
    for sensor in list(spec.sensors):
        spec.delete(sensor)
    spec.body("robot0:hand mount").pos = [c - o for c, o in zip(CUBE_START, _CUBE_FROM_MOUNT)]
    for body in spec.bodies:
        if body.name.startswith("robot0:"):
            body.gravcomp = 1.0
    spec.option.iterations = iterations
    spec.option.ls_iterations = ls_iterations
    spec.option.cone = CONES[cone]
    spec.option.impratio = impratio
    _primitive_collisions_only(spec)

    world = spec.worldbody
    world.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[1, 1, 0.1], rgba=[0.25, 0.3, 0.35, 1], contype=0, conaffinity=0)
    world.add_light(name="top", pos=[0, 0, 2], dir=[0, 0, -1], type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL, diffuse=[0.8, 0.8, 0.8])
    cube = world.add_body(name="cube", pos=list(CUBE_START))
    cube_joint = cube.add_freejoint(name="cube")
    cube_inertia = CUBE_DENSITY * (2 * CUBE_HALF_SIZE) ** 5 / 6  # a solid cube's, about any axis through its centre
    # the same damping slows the cube's translation by 2e-4 per second: nothing
    cube_joint.damping = [CUBE_ANGULAR_DAMPING * cube_inertia, 0.0, 0.0]
    cube.add_geom(name="cube", type=mujoco.mjtGeom.mjGEOM_BOX, size=[CUBE_HALF_SIZE] * 3, density=CUBE_DENSITY, condim=4, rgba=[0.9, 0.55, 0.2, 1])
    _add_face_markers(cube, alpha=1.0)
    goal = world.add_body(name="goal", pos=[c + o for c, o in zip(CUBE_START, GOAL_MARKER_OFFSET)], gravcomp=1.0)
    goal.add_freejoint(name="goal")
    goal.add_geom(
        name="goal", type=mujoco.mjtGeom.mjGEOM_BOX, size=[CUBE_HALF_SIZE] * 3, mass=0.05, rgba=[0.9, 0.55, 0.2, 0.5], contype=0, conaffinity=0
    )
    _add_face_markers(goal, alpha=0.6)

    if fingertip_sensors:
        for finger in FINGERS:
            site = f"robot0:S_{finger}tip"
            force, torque = force_torque_sensor_names((finger,))
            spec.add_sensor(name=force, type=mujoco.mjtSensor.mjSENS_FORCE, objtype=mujoco.mjtObj.mjOBJ_SITE, objname=site)
            spec.add_sensor(name=torque, type=mujoco.mjtSensor.mjSENS_TORQUE, objtype=mujoco.mjtObj.mjOBJ_SITE, objname=site)
    return spec


def _primitive_collisions_only(spec: mujoco.MjSpec) -> None:
    """No convex (GJK/EPA) collisions: every colliding pair gets MuJoCo's primitive collider on both backends.

    MuJoCo Warp sends box-box pairs (cube on palm) and the forearm's mesh through its native CCD, whose kernels
    are among the largest to compile and cost step time (docs/hands.md), and which MuJoCo C's box-box collider does
    not match: the two backends agreed on the cube's landing for 14 steps, against 39 with this (tests/test_shadow_hand.py;
    27 since the hand is weightless).
    The forearm keeps its place and extent as the box fitted to its convex mesh's bounding box.
    """
    spec.option.disableflags |= mujoco.mjtDisableBit.mjDSBL_NATIVECCD  # MuJoCo Warp: box-box by its box collider
    spec.compiler.fitaabb = True
    spec.geom(FOREARM_COLLIDER).type = mujoco.mjtGeom.mjGEOM_BOX  # keeps its mesh: the box is fitted to it


def _add_face_markers(body: mujoco.MjsBody, alpha: float) -> None:
    """Red, green and blue dots on the +x, +y and +z faces, so that renders show the cube's orientation."""
    for axis, rgb in enumerate(((0.8, 0.1, 0.1), (0.1, 0.7, 0.1), (0.1, 0.2, 0.8))):
        pos = [0.0, 0.0, 0.0]
        pos[axis] = CUBE_HALF_SIZE
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[0.008, 0, 0], pos=pos, rgba=[*rgb, alpha], contype=0, conaffinity=0, mass=0)
