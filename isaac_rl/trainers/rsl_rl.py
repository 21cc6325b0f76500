"""rsl_rl (rsl-rl-lib 5.x) on a VecTask: its OnPolicyRunner and PPO, isaac_rl's run directory and console line.

The task's observations become the `policy` observation group (and `critic`
when the task has `states`); `extras['time_outs']` is handed on, so rsl_rl's
PPO bootstraps the value of episodes cut by the time limit, and
`extras['episode']` reaches rsl_rl's logger (tensorboard `Episode/<key>`).
Tensors stay on the task's device; the copies made here (`clone`) are device
copies of a CUDA graph's output buffers, which the next step overwrites while
rsl_rl still holds them.

Multi-GPU: rsl_rl's own (`torchrun --nproc_per_node=N scripts/train.py
trainer=rsl_rl multi_gpu=True`): it opens the NCCL group from torchrun's
environment, averages gradients, and rank 0 writes the run.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch

from isaac_rl.trainers.common import DeployedPolicy, EpisodeStats, EpochLine, mean_or_none, save_checkpoint, stop_after_epoch
from isaac_rl.utils.run_summary import TRAINING_TIME_KEY, RunResult

if TYPE_CHECKING:
    from isaac_rl.rlgames.interrupt import StopRequest

REQUIRED_MAJOR = 5


def require() -> None:
    """rsl-rl-lib 5.x is importable, or a ValueError saying how to install it."""
    try:
        from importlib.metadata import version

        import rsl_rl  # noqa: F401

        found = version("rsl-rl-lib")
    except Exception as error:  # ImportError, PackageNotFoundError
        raise ValueError(f"trainer=rsl_rl needs rsl-rl-lib {REQUIRED_MAJOR}.x ({error}): pip install -e \".[rsl-rl]\"") from None
    if int(found.split(".")[0]) != REQUIRED_MAJOR:
        raise ValueError(f"trainer=rsl_rl needs rsl-rl-lib {REQUIRED_MAJOR}.x, found {found}: pip install -e \".[rsl-rl]\"")


def check_multi_gpu() -> None:
    if not torch.cuda.is_available():
        raise ValueError("trainer=rsl_rl multi_gpu=True needs CUDA: rsl_rl's multi-GPU training is NCCL only")


def _observation_groups(obs_dict: dict[str, torch.Tensor], num_envs: int):
    from tensordict import TensorDict

    groups = {"policy": obs_dict["obs"].clone()}
    if "states" in obs_dict:
        groups["critic"] = obs_dict["states"].clone()
    return TensorDict(groups, batch_size=[num_envs])


def _vec_env_class():
    from rsl_rl.env import VecEnv

    class TaskVecEnv(VecEnv):
        """rsl_rl's VecEnv interface over a VecTask."""

        def __init__(self, task) -> None:
            self.task = task
            self.num_envs = task.num_envs
            self.num_actions = task.num_actions
            self.max_episode_length = task.max_episode_length
            self.device = task.rl_device
            self.cfg = task.cfg
            self.episode_stats = EpisodeStats(task.rl_device)
            self._observations = None

        @property
        def episode_length_buf(self) -> torch.Tensor:
            return self.task.progress_buf

        @episode_length_buf.setter
        def episode_length_buf(self, value: torch.Tensor) -> None:
            # rsl_rl's init_at_random_ep_len: spread the first episodes' time-outs
            self.task.progress_buf.copy_(value)

        def get_observations(self):
            if self._observations is None:
                self._observations = _observation_groups(self.task.reset(), self.num_envs)
            return self._observations

        def step(self, actions: torch.Tensor):
            obs_dict, rewards, dones, extras = self.task.step(actions)
            self.episode_stats.add(extras, dones)
            self._observations = _observation_groups(obs_dict, self.num_envs)
            infos: dict[str, Any] = {"time_outs": extras["time_outs"].clone()}
            if extras.get("episode"):
                # rsl_rl's logger keeps every step's episode dict until the epoch's end
                infos["episode"] = {key: value.clone() for key, value in extras["episode"].items()}
            return self._observations, rewards.clone(), dones.clone(), infos

    return TaskVecEnv


def _runner_class():
    from rsl_rl.runners import OnPolicyRunner
    from rsl_rl.utils.logger import Logger

    class EpochLineLogger(Logger):
        """rsl_rl's logger (tensorboard untouched) printing isaac_rl's one epoch line instead of its block."""

        episode_stats: EpisodeStats
        epoch_line: EpochLine
        best_reward: float | None = None  # the best epoch's mean episode reward, kept in the checkpoints
        after_epoch: Callable[[int], None]

        def log(self, it: int, start_it: int, total_it: int, collect_time: float, learn_time: float, **kwargs: Any) -> None:
            with contextlib.redirect_stdout(io.StringIO()):
                super().log(it=it, start_it=start_it, total_it=total_it, collect_time=collect_time, learn_time=learn_time, **kwargs)
            means = self.episode_stats.flush()
            reward = mean_or_none(self.rewbuffer)
            if reward is not None and (self.best_reward is None or reward > self.best_reward):
                self.best_reward = reward
            if self.writer is not None:
                epoch_frames = self.cfg["num_steps_per_env"] * self.num_envs * self.gpu_world_size
                self.epoch_line.max_epochs = total_it
                print(self.epoch_line.format(
                    it + 1, self.tot_time, collect_time + learn_time, (it + 1) * epoch_frames, epoch_frames,
                    reward, mean_or_none(self.lenbuffer), means,
                ))  # fmt: skip
            self.after_epoch(it)

    class TaskRunner(OnPolicyRunner):
        """OnPolicyRunner whose checkpoints go to the run's nn/ (atomic, pruned, the task's curriculum inside)."""

        def __init__(self, env, train_cfg: dict, run_dir: Path | None, task_name: str, keep_checkpoints: int) -> None:
            log_dir = str(run_dir / "summaries") if run_dir is not None else None
            with contextlib.redirect_stdout(io.StringIO()):  # rsl_rl prints both models whole
                super().__init__(env, train_cfg, log_dir=log_dir, device=str(env.device))
            self.logger = EpochLineLogger(
                log_dir=log_dir, cfg=self.cfg, env_cfg=env.cfg, num_envs=env.num_envs, is_distributed=self.is_distributed,
                gpu_world_size=self.gpu_world_size, gpu_global_rank=self.gpu_global_rank, device=self.device,
            )  # fmt: skip
            self.logger.git_status_repos.clear()  # rsl_rl would store the git diff of its own install
            self.logger.episode_stats = env.episode_stats
            self.logger.epoch_line = EpochLine(0)
            self.logger.after_epoch = self._after_epoch
            self.stop: StopRequest | None = None
            self.last_checkpoint: Path | None = None
            self.nn_dir = run_dir / "nn" if run_dir is not None else None
            self.task_name, self.keep_checkpoints = task_name, keep_checkpoints
            self._saved_iteration: int | None = None
            self.verbose = False

        def save(self, path: str, infos: dict | None = None) -> None:
            if self.nn_dir is None or self._saved_iteration == self.current_learning_iteration:
                return  # rsl_rl's final save repeats the last periodic one
            state = self.alg.save()
            state["iter"] = self.current_learning_iteration
            state["infos"] = {
                "env_state": self.env.task.get_env_state(), "best_reward": self.logger.best_reward,
                TRAINING_TIME_KEY: self.logger.epoch_line.time_before + self.logger.tot_time,
            }  # fmt: skip
            epoch = self.current_learning_iteration + 1
            self.last_checkpoint = save_checkpoint(state, self.nn_dir, self.task_name, epoch, self.keep_checkpoints, self.verbose)
            self._saved_iteration = self.current_learning_iteration

        def _after_epoch(self, it: int) -> None:
            def save() -> Path | None:
                self.save("")
                return self.last_checkpoint if self.nn_dir is not None else None

            stop_after_epoch(self.stop, self.is_distributed, self.device, it + 1, save)

        def load(self, path: str, load_cfg: dict | None = None, strict: bool = True, map_location: str | None = None) -> dict:
            state = _rsl_rl_state(path, map_location or self.device)
            self.alg.load(state, load_cfg, strict)
            self.current_learning_iteration = int(state["iter"]) + 1
            infos = state.get("infos") or {}
            if infos.get("env_state") is not None:
                self.env.task.set_env_state(infos["env_state"])
            self.logger.best_reward = infos.get("best_reward")
            self.logger.epoch_line.time_before = float(infos.get(TRAINING_TIME_KEY, 0.0))
            return state.get("infos")

    return TaskRunner


def _rsl_rl_state(path: str, map_location: str = "cpu") -> dict[str, Any]:
    from isaac_rl.rlgames.checkpoint import load_checkpoint

    state = load_checkpoint(path, map_location=map_location)
    if not isinstance(state, dict) or "actor_state_dict" not in state:
        raise ValueError(f"checkpoint {str(path)!r} holds no rsl_rl policy (trained with another trainer=?)")
    return state


def train(task, agent_cfg: dict[str, Any], run_dir: Path | None, checkpoint: str | None, max_iterations: int | None,
          keep_checkpoints: int, seed: int, stop: StopRequest | None = None, verbose: bool = False) -> RunResult:  # fmt: skip
    """Train `task` with rsl_rl's OnPolicyRunner for `max_iterations` (default: the config's) epochs in all.

    `stop` (interrupt.py): looked at after each epoch, which is then saved before `TrainingInterrupted` is raised."""
    agent_cfg = {**agent_cfg, "seed": seed}
    total = int(max_iterations or agent_cfg["max_iterations"])
    env = _vec_env_class()(task)
    runner = _runner_class()(env, agent_cfg, run_dir, task.cfg["name"], keep_checkpoints)
    runner.stop, runner.verbose = stop, verbose
    if checkpoint:
        runner.load(checkpoint)
    first = runner.current_learning_iteration
    if total - first <= 0:
        print(f"nothing to train: the checkpoint is at epoch {first} of {total}")
    else:
        runner.learn(num_learning_iterations=total - first)
    last = runner.last_checkpoint or (Path(checkpoint) if checkpoint else None)
    return RunResult(epoch=max(first, total), epochs_here=max(total - first, 0), best_reward=runner.logger.best_reward, last_checkpoint=last)


def checkpoint_progress(checkpoint: str) -> tuple[int, float | None]:
    """The epoch a checkpoint was saved at and the best mean episode reward of its training (None: not kept)."""
    state = _rsl_rl_state(checkpoint)
    return int(state["iter"]) + 1, (state.get("infos") or {}).get("best_reward")


def deployed_policy(task, agent_cfg: dict[str, Any], checkpoint: str) -> DeployedPolicy:
    """The checkpoint's actor (its normaliser inside) as a cpu module: raw observations in, actions out."""
    from rsl_rl.utils import resolve_class, resolve_obs_groups

    obs = _observation_groups({"obs": torch.zeros(task.num_envs, task.num_observations)}, task.num_envs)
    actor_class, actor_cfg = resolve_class(agent_cfg["actor"])
    with contextlib.redirect_stdout(io.StringIO()):  # rsl_rl prints the groups it resolved
        groups = resolve_obs_groups(obs, dict(agent_cfg.get("obs_groups") or {}), ["actor", "critic"])
    actor = actor_class(obs, groups, "actor", task.num_actions, **actor_cfg)
    state = _rsl_rl_state(checkpoint)
    try:
        actor.load_state_dict(state["actor_state_dict"])
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise ValueError(f"checkpoint {checkpoint!r} does not fit this task's actor ({first})") from None
    actor.eval()
    normalizer = actor.obs_normalizer
    mean = normalizer.mean.reshape(-1) if actor.obs_normalization else torch.zeros(task.num_observations)
    std = normalizer.std.reshape(-1) if actor.obs_normalization else torch.ones(task.num_observations)
    return DeployedPolicy(actor.as_onnx(verbose=False), task.clip_actions, mean, std).eval()
