"""Sim-to-sim: play one checkpoint on MuJoCo Warp and on the MuJoCo C library and compare the task's figure.

    python scripts/sim_to_sim.py task=Anymal trainer=rsl_rl checkpoint=runs/Anymal_rsl_rl/<run>/nn/<name>.pth
    python scripts/sim_to_sim.py task=BallBalance checkpoint=runs/BallBalance num_envs=256   # the newest run's best
    python scripts/sim_to_sim.py task=Cartpole checkpoint=... warp_device=cpu num_envs=16   # Warp's CPU device (CI)

The policy (deterministic; any trainer) plays `num_test_games` episodes (default:
one per env) with `physics_backend=warp` on `warp_device` (default cuda:0, else
cpu) and with `physics_backend=mujoco` on the cpu, both from the same seed, and
prints each backend's figure and their difference: Anymal's and
AnymalTerrain's mean linear-velocity tracking error (m/s), BallBalance's
success rate, other tasks' mean episode reward. The difference is checked
against the task's tolerance (`tolerance=X` overrides it); exit status 1 when
it is exceeded. Observations and actions are identical on both backends; what
differs is the physics (solver, contacts, float precision), so this is the
check that a policy did not learn one engine's artefacts.
"""

from __future__ import annotations

import sys
from typing import Any

from isaac_rl.rlgames.run_config import check_run_config, settle_run_files
from isaac_rl.utils.cli import exit_on_user_error
from isaac_rl.utils.config import compose_config, compose_reference

# task -> (figure, what it is, tolerance on |warp - mujoco|)
FIGURES: dict[str, tuple[str, str, float]] = {
    "Anymal": ("lin_vel_error", "mean linear-velocity tracking error (m/s)", 0.05),
    "AnymalTerrain": ("lin_vel_error", "mean linear-velocity tracking error (m/s)", 0.1),
    "BallBalance": ("success_rate", "success rate (ball kept)", 0.05),
}
# other tasks: the mean episode reward, within this fraction of the larger magnitude
REWARD_TOLERANCE = 0.1
OWN_KEYS = ("warp_device", "tolerance")


def _split(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    own = {arg.split("=", 1)[0]: arg.split("=", 1)[1] for arg in argv if arg.split("=", 1)[0] in OWN_KEYS}
    return [arg for arg in argv if arg.split("=", 1)[0] not in OWN_KEYS], own


def _composed(overrides: list[str]):
    cfg = compose_config(overrides)
    check_run_config(cfg, compose_reference(overrides))
    return cfg


def _with_checkpoint_file(overrides: list[str]) -> list[str]:
    """`overrides` with checkpoint= the file it names: a run or experiment directory (its best, or newest, checkpoint)
    is accepted as scripts/evaluate.py accepts it, and none given means the experiment's newest run."""
    cfg = _composed([*overrides, "test=True"])
    settle_run_files(cfg)
    return [arg for arg in overrides if not arg.startswith("checkpoint=")] + [f"checkpoint={cfg.checkpoint}"]


def _policy(overrides: list[str], task):
    """The checkpoint's deterministic policy as a cpu module (observations in, actions out), for any trainer."""
    cfg = _composed([*overrides, "num_envs=1", "sim_device=cpu", "rl_device=cpu", "physics_backend=mujoco", "test=True"])
    if cfg.trainer == "rl_games":
        from isaac_rl.rlgames.export import actor_of, load_player

        return actor_of(load_player(cfg)[1])
    from isaac_rl.trainers import common

    return common.load_policy(cfg, task)


def _play(overrides: list[str], backend: str, device: str, policy=None) -> tuple[dict[str, float], Any]:
    from isaac_rl.trainers import common
    from isaac_rl.utils.seeding import set_seed

    cfg = _composed([*overrides, f"physics_backend={backend}", f"sim_device={device}", f"rl_device={device}", "test=True"])
    set_seed(cfg.seed, cfg.torch_deterministic)
    task = common.build_task(cfg)
    if policy is None:
        policy = _policy(overrides, task)
    print(f"{backend} ({task.sim.describe()}), {task.num_envs} envs:")
    result = common.play(task, policy.to(device).eval(), cfg.num_test_games or task.num_envs)
    return result, policy.cpu()


def main(argv: list[str]) -> tuple[float, float]:
    """Play both backends; return (difference warp - mujoco, tolerance)."""
    import torch

    overrides, own = _split(argv)
    overrides = _with_checkpoint_file(overrides)
    warp_device = own.get("warp_device") or ("cuda:0" if torch.cuda.is_available() else "cpu")
    task_name = _composed(overrides).task_name
    key, label, tolerance = FIGURES.get(task_name, ("reward", "mean episode reward", None))
    mujoco, policy = _play(overrides, "mujoco", "cpu")
    warp, _ = _play(overrides, "warp", warp_device, policy)
    if key not in warp or key not in mujoco:
        raise ValueError(f"task {task_name} reported no {key} while playing (episodes too short for a success?)")
    difference = warp[key] - mujoco[key]
    if tolerance is None:
        tolerance = REWARD_TOLERANCE * max(abs(warp[key]), abs(mujoco[key]), 1e-9)
    tolerance = float(own.get("tolerance", tolerance))
    verdict = "within" if abs(difference) <= tolerance else "OUTSIDE"
    print(f"{task_name} {label}: MuJoCo Warp ({warp_device}) {warp[key]:.4f}, MuJoCo C (cpu) {mujoco[key]:.4f}, "
          f"difference {difference:+.4f}, {verdict} the tolerance {tolerance:.4f}")  # fmt: skip
    return difference, tolerance


if __name__ == "__main__":
    with exit_on_user_error():
        difference, tolerance = main(sys.argv[1:])
    sys.exit(0 if abs(difference) <= tolerance else 1)
