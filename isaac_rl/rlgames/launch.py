"""Building an rl_games Runner for an `rlgpu` run and running it (train or play).

Kept apart from `scripts/train.py` so that tests and users can drive a run
from Python without hydra.
"""

from __future__ import annotations

from typing import Any, Callable

from rl_games.common.algo_observer import AlgoObserver
from rl_games.torch_runner import Runner

from isaac_rl.rlgames.agents import register_safe_agents
from isaac_rl.rlgames.amp import register_amp
# load_checkpoint and require_checkpoint_file are part of this module's API (scripts use launch.*)
from isaac_rl.rlgames.checkpoint import load_checkpoint, require_checkpoint_file, use_safe_loader_in_rl_games
from isaac_rl.rlgames.extensions import CombinedObserver
from isaac_rl.rlgames.observer import RLGPUAlgoObserver
from isaac_rl.rlgames.registration import register_rlgpu

RunnerHook = Callable[[Runner], None]
_runner_hooks: list[RunnerHook] = []


def add_runner_hook(hook: RunnerHook) -> None:
    """Call `hook(runner)` on every Runner built here (to register algos, players, models, networks)."""
    if hook not in _runner_hooks:
        _runner_hooks.append(hook)


def check_checkpoint(path: str, num_observations: int, num_actions: int) -> None:
    """Fail early, and clearly, on a checkpoint that is missing, unreadable, unsafe or made for another task."""
    state = load_checkpoint(path)
    model = state.get("model", {}) if isinstance(state, dict) else {}
    obs_stat = model.get("running_mean_std.running_mean")
    mu = model.get("a2c_network.mu.weight")
    if obs_stat is None and mu is None:
        raise ValueError(f"checkpoint {path!r} holds no rl_games actor-critic model")
    obs_dim = obs_stat.shape[0] if obs_stat is not None else None
    act_dim = mu.shape[0] if mu is not None else None
    if (obs_dim is not None and obs_dim != num_observations) or (act_dim is not None and act_dim != num_actions):
        raise ValueError(
            f"checkpoint {path!r} does not fit this task: it was trained with {obs_dim} observations and "
            f"{act_dim} actions; the task has {num_observations} observations and {num_actions} actions"
        )


def build_runner(create_env: Callable[..., Any] | None, observers: list[AlgoObserver] | None = None) -> Runner:
    """A Runner whose `env_name: rlgpu` builds envs with `create_env`.

    `create_env=None` leaves env registration to the caller (e.g. `gym_env.register_gym`).
    The PPO agents are isaac_rl's crash-safe ones; hooks run after, so they may replace them.
    Every agent and player of the Runner, stock or a user's, reads checkpoints through
    `checkpoint.load_checkpoint` (weights only, allow-listed globals).
    """
    use_safe_loader_in_rl_games()
    if create_env is not None:
        register_rlgpu(create_env)
    observer = RLGPUAlgoObserver()
    if observers:
        observer = CombinedObserver([observer, *observers])
    runner = Runner(algo_observer=observer)
    register_safe_agents(runner)
    register_amp(runner)
    for hook in _runner_hooks:
        hook(runner)
    return runner


def run(runner: Runner, train_cfg: dict[str, Any], test: bool, checkpoint: str | None) -> None:
    """Load the train config into the Runner and train, or play `checkpoint` when `test`."""
    runner.load(train_cfg)
    runner.reset()
    runner.run({"train": not test, "play": test, "checkpoint": checkpoint or None, "sigma": None})
