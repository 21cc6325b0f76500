"""Building an rl_games Runner for an `rlgpu` run and running it (train or play).

Kept apart from `scripts/train.py` so that tests and users can drive a run
from Python without hydra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from rl_games.common.algo_observer import AlgoObserver
from rl_games.torch_runner import Runner

from isaac_rl.rlgames.agents import register_safe_agents
from isaac_rl.rlgames.amp import register_amp
from isaac_rl.rlgames.extensions import CombinedObserver
from isaac_rl.rlgames.observer import RLGPUAlgoObserver
from isaac_rl.rlgames.registration import register_rlgpu

RunnerHook = Callable[[Runner], None]
_runner_hooks: list[RunnerHook] = []


def add_runner_hook(hook: RunnerHook) -> None:
    """Call `hook(runner)` on every Runner built here (to register algos, players, models, networks)."""
    if hook not in _runner_hooks:
        _runner_hooks.append(hook)


def check_train_params(params: dict[str, Any], num_envs: int) -> None:
    """Reject a PPO config that rl_games would fail on later with a bare assert."""
    config = params["config"]
    batch = int(config["horizon_length"]) * num_envs
    minibatch = int(config["minibatch_size"])
    if batch % minibatch != 0:
        raise ValueError(
            f"train.params.config.minibatch_size={minibatch} must divide horizon_length x num_envs = {batch}; "
            f"e.g. train.params.config.minibatch_size={batch}"
        )


def require_checkpoint_file(path: str) -> Path:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"checkpoint {path!r} does not exist (runs write them to runs/<experiment>/nn/*.pth)")
    return file


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> Any:
    """A checkpoint's saved state, its model weights under their plain names.

    A model trained under torch.compile saves its weights as `_orig_mod.<name>`.
    """
    state = torch.load(require_checkpoint_file(path), map_location=map_location, weights_only=False)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state["model"] = {key.replace("_orig_mod.", "", 1): value for key, value in state["model"].items()}
    return state


def check_checkpoint(path: str, num_observations: int, num_actions: int) -> None:
    """Fail early, and clearly, on a checkpoint that is missing or made for another task."""
    require_checkpoint_file(path)
    try:
        state = load_checkpoint(path)
    except Exception as error:  # corrupt or not a torch file
        raise ValueError(f"checkpoint {path!r} could not be read as an rl_games checkpoint: {error}") from error
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
    """
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
