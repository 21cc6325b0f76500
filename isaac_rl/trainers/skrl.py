"""skrl (2.x) on a VecTask: skrl's Runner, PPO and SequentialTrainer from its own yaml format, isaac_rl's run layout.

The task is wrapped as a skrl `Wrapper`: observations and rewards are the
task's device tensors (cloned on the device: a CUDA graph's outputs are
overwritten by the next step), `terminated` is an episode's end other than
the time limit and `truncated` the time limit (`extras['time_outs']`), which
skrl's PPO bootstraps with `time_limit_bootstrap: True`. Episode extras are
averaged on the device and logged once per epoch (tensorboard `Episode / <key>`
and the epoch line), not handed to skrl's per-step logging, which reads each
value to the host.

An epoch is one PPO update: `agent.rollouts` steps of every env. The
config's `trainer.timesteps` counts steps per env, so `max_iterations=N`
means `N x rollouts` of them.

Multi-GPU: skrl's own (`torchrun --nproc_per_node=N scripts/train.py
trainer=skrl multi_gpu=True`, CUDA only). skrl reads torchrun's environment
when `skrl` is first imported and opens the NCCL process group there, once;
isaac_rl therefore imports it only after this rank's GPU is made current
(common.run). Its PPO broadcasts rank 0's initial parameters, averages the
gradients (and the KL of its adaptive learning rate) and offsets the seed by
the rank; each rank keeps its own observation and value scalers (skrl does not
share their statistics), rank 0's are the ones saved. skrl writes summaries on
rank 0 only; here rank 0 alone also prints the epoch line (frames of every
rank) and writes the checkpoints, and every rank agrees on a stop signal after
each epoch.
"""

from __future__ import annotations

import contextlib
import copy
import io
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from isaac_rl.trainers.common import DeployedPolicy, EpisodeStats, EpochLine, save_checkpoint, stop_after_epoch
from isaac_rl.utils.run_summary import TRAINING_TIME_KEY, RunResult

if TYPE_CHECKING:
    from isaac_rl.rlgames.interrupt import StopRequest

REQUIRED_MAJOR = 2


def require() -> None:
    """skrl 2.x is importable, or a ValueError saying how to install it."""
    try:
        import skrl
    except ImportError as error:
        raise ValueError(f"trainer=skrl needs skrl {REQUIRED_MAJOR}.x ({error}): pip install -e \".[skrl]\"") from None
    if int(skrl.__version__.split(".")[0]) != REQUIRED_MAJOR:
        raise ValueError(f"trainer=skrl needs skrl {REQUIRED_MAJOR}.x, found {skrl.__version__}: pip install -e \".[skrl]\"")


def check_multi_gpu() -> None:
    """Before skrl is imported: its import opens an NCCL process group, which needs CUDA."""
    if not torch.cuda.is_available():
        raise ValueError("trainer=skrl multi_gpu=True needs CUDA: skrl's multi-GPU training is NCCL only")


def _world_size() -> int:
    """The processes training together: skrl's view of torchrun's WORLD_SIZE, read when skrl was imported."""
    from skrl import config

    return config.torch.world_size if config.torch.is_distributed else 1


def _skrl_seed(seed: int) -> int:
    """The seed to hand skrl's Runner for this rank to be seeded with `seed`: skrl adds the rank itself in
    distributed runs, and `seed` is already the rank's (utils/seeding.py)."""
    from skrl import config

    return seed - config.torch.rank if config.torch.is_distributed else seed


def _wrapper(task):
    from skrl import config
    from skrl.envs.wrappers.torch import Wrapper

    class TaskWrapper(Wrapper):
        """skrl's single-agent Wrapper interface over a VecTask."""

        def __init__(self, task) -> None:
            super().__init__(task)
            self.task = task
            self._device = config.torch.parse_device(str(task.rl_device))
            self.episode_stats = EpisodeStats(task.rl_device)

        @property
        def state_space(self):
            return self.task.state_space if self.task.num_states > 0 else None

        def reset(self) -> tuple[torch.Tensor, dict[str, Any]]:
            return self.task.reset()["obs"].clone(), {}

        def step(self, actions: torch.Tensor):
            obs_dict, rewards, dones, extras = self.task.step(actions)
            self.episode_stats.add(extras, dones)
            ended = dones.bool().unsqueeze(1)
            time_out = extras["time_outs"].bool().unsqueeze(1)
            observations = obs_dict["obs"].clone()
            return observations, rewards.unsqueeze(1).clone(), ended & ~time_out, ended & time_out, {}

        def state(self) -> torch.Tensor | None:
            states = self.task.obs_dict.get("states") if self.task.num_states > 0 else None
            return states.clone() if states is not None else None

        def render(self, *args: Any, **kwargs: Any) -> None:
            return None

        def close(self) -> None:
            return None

    return TaskWrapper(task)


def _ppo_class():
    from skrl.agents.torch.ppo import PPO

    class TaskPPO(PPO):
        """skrl's PPO whose checkpoints go to the run's nn/ and whose epochs print isaac_rl's epoch line."""

        run_dir: Path
        task: Any
        episode_stats: EpisodeStats
        keep_checkpoints: int = 5
        epoch_offset: int = 0  # epochs trained before this process (resume)
        max_epochs: int = 0
        best_reward: float | None = None  # the best epoch's mean episode reward, kept in the checkpoints
        last_checkpoint: Path | None = None
        stop: StopRequest | None = None
        verbose: bool = False
        world_size: int = 1  # processes training together (torchrun), each with task.num_envs envs
        _epoch_line: EpochLine

        def init(self, *, trainer_cfg=None) -> None:
            super().init(trainer_cfg=trainer_cfg)
            skrl_checkpoints = Path(self.experiment_dir) / "checkpoints"
            if self.checkpoint_interval > 0 and skrl_checkpoints.is_dir() and not any(skrl_checkpoints.iterdir()):
                skrl_checkpoints.rmdir()  # skrl's own folder: ours are in nn/
            self._start = self._last = time.perf_counter()
            self._saved_epoch: int | None = None

        def epoch(self, timestep: int) -> int:
            return self.epoch_offset + timestep // self.cfg.rollouts

        def write_checkpoint(self, *, timestep: int, timesteps: int) -> None:
            epoch = self.epoch(timestep)
            if self.run_dir is None or epoch == self._saved_epoch:  # ranks other than 0 write nothing
                return
            state = {name: self._get_internal_value(module) for name, module in self.checkpoint_modules.items()}
            state.update(epoch=epoch, env_state=self.task.get_env_state(), best_reward=self.best_reward)
            state[TRAINING_TIME_KEY] = self._epoch_line.time_before + (time.perf_counter() - self._start)
            self.last_checkpoint = save_checkpoint(state, self.run_dir / "nn", self.task.cfg["name"], epoch, self.keep_checkpoints, self.verbose)
            self._saved_epoch = epoch

        def post_interaction(self, *, timestep: int, timesteps: int) -> None:
            super().post_interaction(timestep=timestep, timesteps=timesteps)
            if self._rollout % self.cfg.rollouts == 0:  # an epoch's update (and its line, its periodic save) is done
                if self.write_interval == 0:  # ranks other than 0: skrl tracks here too but never writes nor clears
                    self.tracking_data.clear()
                    self.episode_stats.flush()

                def save() -> Path | None:
                    self.write_checkpoint(timestep=timestep + 1, timesteps=timesteps)
                    return self.last_checkpoint

                # every rank gets here once per epoch: the agreement is one all-reduce, on every rank together
                stop_after_epoch(self.stop, self.world_size > 1, self.device, self.epoch(timestep + 1), save)

        def write_tracking_data(self, *, timestep: int, timesteps: int) -> None:
            now = time.perf_counter()
            means = self.episode_stats.flush()
            for key, value in means.items():
                self.tracking_data[f"Episode / {key}"].append(value)
            rewards = self.tracking_data.get("Reward / Total reward (mean)")
            lengths = self.tracking_data.get("Episode / Total timesteps (mean)")
            reward = float(rewards[-1]) if rewards else None
            if reward is not None and (self.best_reward is None or reward > self.best_reward):
                self.best_reward = reward
            # skrl calls this on rank 0 only (write_interval 0 elsewhere); the frames are every rank's
            epoch_frames = self.cfg.rollouts * self.task.num_envs * self.world_size
            epoch = self.epoch(timestep)
            print(self._epoch_line.format(
                epoch, now - self._start, now - self._last, epoch * epoch_frames, epoch_frames,
                reward, float(lengths[-1]) if lengths else None, means,
            ))  # fmt: skip
            self._last = now
            # tensorboard's step counts the steps of every epoch, those before a resume too
            super().write_tracking_data(timestep=timestep + self.epoch_offset * self.cfg.rollouts, timesteps=timesteps)

    return TaskPPO


def _runner(env, agent_cfg: dict[str, Any]):
    from skrl.utils.runner.torch import Runner

    ppo_class = _ppo_class()

    class TaskRunner(Runner):
        def _component(self, name: str):
            return ppo_class if name.lower() == "ppo" else super()._component(name)

    with contextlib.redirect_stdout(io.StringIO()):
        return TaskRunner(env, agent_cfg)


def _prepared_config(agent_cfg: dict[str, Any], seed: int, timesteps: int, run_dir: Path | None) -> dict[str, Any]:
    """The skrl config with isaac_rl's choices: the run's summaries/, one log and save cadence per epoch, no bar."""
    cfg = copy.deepcopy(agent_cfg)
    rollouts = int(cfg["agent"]["rollouts"])
    experiment = cfg["agent"].setdefault("experiment", {})
    save_every = int(experiment.pop("save_every_epochs", 50))
    experiment.update(
        directory=str(run_dir) if run_dir is not None else "",
        experiment_name="summaries",
        write_interval=rollouts if run_dir is not None else 0,
        checkpoint_interval=rollouts * save_every if run_dir is not None else 0,
    )
    cfg["seed"] = seed
    cfg["trainer"].update(timesteps=timesteps, disable_progressbar=True, headless=True, close_environment_at_exit=False)
    return cfg


def _skrl_state(path: str, device) -> dict[str, Any]:
    from isaac_rl.rlgames.checkpoint import load_checkpoint

    state = load_checkpoint(path, map_location=device)
    if not isinstance(state, dict) or "policy" not in state or "epoch" not in state:
        raise ValueError(f"checkpoint {str(path)!r} holds no skrl agent written by trainer=skrl (trained with another trainer=?)")
    return state


def _load_agent(agent, state: dict[str, Any], path: str) -> None:
    for name, module in agent.checkpoint_modules.items():
        if name in state and hasattr(module, "load_state_dict"):
            try:
                module.load_state_dict(state[name])
            except (RuntimeError, ValueError) as error:
                first = str(error).splitlines()[0]
                raise ValueError(f"checkpoint {path!r} does not fit this task's skrl {name} ({first})") from None


def train(task, agent_cfg: dict[str, Any], run_dir: Path | None, checkpoint: str | None, max_iterations: int | None,
          keep_checkpoints: int, seed: int, stop: StopRequest | None = None, verbose: bool = False) -> RunResult:  # fmt: skip
    """Train `task` with skrl's PPO for `max_iterations` (default: the config's timesteps / rollouts) epochs in all.

    `stop` (interrupt.py): looked at after each epoch, which is then saved before `TrainingInterrupted` is raised."""
    rollouts = int(agent_cfg["agent"]["rollouts"])
    total = int(max_iterations or agent_cfg["trainer"]["timesteps"] // rollouts)
    env = _wrapper(task)
    state = _skrl_state(checkpoint, env.device) if checkpoint else None
    done = int(state["epoch"]) if state is not None else 0
    if done >= total:
        print(f"nothing to train: the checkpoint is at epoch {done} of {total}")
        return RunResult(epoch=done, best_reward=state.get("best_reward"), last_checkpoint=Path(checkpoint))
    runner = _runner(env, _prepared_config(agent_cfg, _skrl_seed(seed), (total - done) * rollouts, run_dir))
    agent = runner.agent
    if state is not None:
        _load_agent(agent, state, checkpoint)
        if state.get("env_state") is not None:
            task.set_env_state(state["env_state"])
        agent.best_reward = state.get("best_reward")
    agent.run_dir, agent.task, agent.episode_stats = run_dir, task, env.episode_stats
    agent.keep_checkpoints, agent.epoch_offset, agent.max_epochs = keep_checkpoints, done, total
    agent._epoch_line, agent.stop, agent.verbose, agent.world_size = EpochLine(total), stop, verbose, _world_size()
    if state is not None:
        agent._epoch_line.time_before = float(state.get(TRAINING_TIME_KEY, 0.0))
    runner.run("train")
    if run_dir is not None:
        agent.write_checkpoint(timestep=(total - done) * rollouts, timesteps=(total - done) * rollouts)
    return RunResult(epoch=total, epochs_here=total - done, best_reward=agent.best_reward, last_checkpoint=agent.last_checkpoint)


def checkpoint_progress(checkpoint: str) -> tuple[int, float | None]:
    """The epoch a checkpoint was saved at and the best mean episode reward of its training (None: not kept)."""
    state = _skrl_state(checkpoint, "cpu")
    return int(state["epoch"]), state.get("best_reward")


class _SkrlActor(torch.nn.Module):
    """skrl's observation preprocessor and the policy's mean action."""

    def __init__(self, model: torch.nn.Module, preprocessor: torch.nn.Module | None) -> None:
        super().__init__()
        self.model = model
        self.preprocessor = preprocessor

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        if self.preprocessor is not None:
            observations = self.preprocessor(observations)
        mean, _ = self.model.compute({"observations": observations, "states": None}, role="policy")
        return mean


def deployed_policy(task, agent_cfg: dict[str, Any], checkpoint: str) -> DeployedPolicy:
    """The checkpoint's policy (its observation scaler inside) as a cpu module: raw observations in, actions out."""
    state = _skrl_state(checkpoint, "cpu")
    env = _wrapper(task)
    env._device = torch.device("cpu")
    # skrl's Runner seeds every generator: with the run's own seed, so that play stays reproducible
    runner = _runner(env, _prepared_config(agent_cfg, torch.initial_seed() % 2**32, int(agent_cfg["agent"]["rollouts"]), None))
    agent = runner.agent
    _load_agent(agent, state, checkpoint)
    scaler = agent.checkpoint_modules.get("observation_preprocessor")
    if scaler is not None:
        scaler.eval()
        mean = scaler.running_mean.float()
        std = torch.sqrt(scaler.running_variance.float())
    else:
        mean, std = torch.zeros(task.num_observations), torch.ones(task.num_observations)
    agent.policy.eval()
    return DeployedPolicy(_SkrlActor(agent.policy, scaler), task.clip_actions, mean, std).eval()
