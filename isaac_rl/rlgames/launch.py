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
# load_checkpoint and require_checkpoint_file are part of this module's API (scripts use launch.*)
from isaac_rl.rlgames.checkpoint import load_checkpoint, require_checkpoint_file, use_safe_loader_in_rl_games
from isaac_rl.rlgames.console import rl_games_output
from isaac_rl.rlgames.extensions import CombinedObserver
from isaac_rl.rlgames.observer import RLGPUAlgoObserver
from isaac_rl.rlgames.registration import register_rlgpu
from isaac_rl.utils.run_summary import RunResult

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


def use_training_torch_settings() -> None:
    """Give this process the torch settings of a training process: rl_games' Runner turns TF32 matmuls on (and
    cuDNN's benchmark mode) for the whole process when it is built.

    torch.compile's cache keys include the matmul precision, so a step compiled without them (scripts/warm_cache.py,
    the start-up probe) is not the one a training run looks up: its first epoch would compile the step again.
    """
    Runner()


class EpisodeTally:
    """The whole episodes a player plays, counted from its `env_step`'s rewards and dones (any rl_games player)."""

    def __init__(self) -> None:
        self.episodes, self.reward_sum, self.length_sum = 0, 0.0, 0.0
        self._reward: torch.Tensor | None = None
        self._length: torch.Tensor | None = None

    def attach(self, player: Any) -> Any:
        env_step = player.env_step

        def counted_env_step(env, actions):
            obs, rewards, dones, infos = env_step(env, actions)
            self.add(torch.as_tensor(rewards), torch.as_tensor(dones))
            return obs, rewards, dones, infos

        player.env_step = counted_env_step
        return player

    def add(self, rewards: torch.Tensor, dones: torch.Tensor) -> None:
        done = dones.reshape(-1).bool().cpu()
        reward = rewards.float().reshape(done.shape[0], -1)[:, 0].cpu()
        if self._reward is None:
            self._reward, self._length = torch.zeros_like(reward), torch.zeros_like(reward)
        self._reward += reward
        self._length += 1
        self.episodes += int(done.sum())
        self.reward_sum += float(self._reward[done].sum())
        self.length_sum += float(self._length[done].sum())
        self._reward[done] = 0.0
        self._length[done] = 0.0


def run(runner: Runner, train_cfg: dict[str, Any], test: bool, checkpoint: str | None, verbose: bool = False) -> RunResult:
    """Load the train config into the Runner and train, or play `checkpoint` when `test`.

    rl_games' own prints reach stdout only when `verbose` (console.py).
    """
    tally = EpisodeTally()
    if test:
        create_player = runner.create_player
        runner.create_player = lambda: tally.attach(create_player())
    with rl_games_output(verbose):
        runner.load(train_cfg)
        runner.reset()
        runner.run({"train": not test, "play": test, "checkpoint": checkpoint or None, "sigma": None})
    if test:
        played = max(tally.episodes, 1)
        return RunResult(episodes=tally.episodes, mean_reward=tally.reward_sum / played, mean_length=tally.length_sum / played)
    return training_result(runner)


def training_result(runner: Runner) -> RunResult:
    """The epochs and the best reward of the agent a Runner trained, and its best checkpoint."""
    observer = runner.algo_observer
    agent = next((o.algo for o in getattr(observer, "observers", [observer]) if isinstance(o, RLGPUAlgoObserver) and hasattr(o, "algo")), None)
    if agent is None:
        return RunResult()
    best = float(agent.last_mean_rewards)
    best_file = Path(agent.nn_dir) / f"{agent.config['name']}.pth"
    first = getattr(agent, "_first_epoch_here", None)
    return RunResult(
        epoch=agent.epoch_num,
        epochs_here=agent.epoch_num - first + 1 if first is not None else 0,
        best_reward=best if best > -1e9 else None,
        best_checkpoint=best_file if best_file.is_file() else None,
    )
