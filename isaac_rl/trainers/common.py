"""What every non-rl_games trainer shares: its config file, the run directory, the console lines, play.

A run of `trainer=<lib>` writes `runs/<experiment>/<run>/` (experiment: `experiment=`
or `<Task>_<lib>`, so that `resume=True` never picks another library's run)
with config.yaml (the whole hydra config plus the library's config as
`agent:`), `nn/last_<Task>_ep_<epoch>.pth` checkpoints (written atomically,
the last `keep_checkpoints` kept) and `summaries/` (the library's tensorboard).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch
from omegaconf import DictConfig, OmegaConf

from isaac_rl import CFG_ROOT
from isaac_rl.rlgames.distributed import TORCHRUN_HINT
from isaac_rl.utils import run_dirs
from isaac_rl.utils.run_summary import RunResult, format_duration, format_training_time

if TYPE_CHECKING:
    from isaac_rl.rlgames.interrupt import StopRequest

LIBRARY_TRAINERS = ("rsl_rl", "skrl")


def trainer_config_path(trainer: str, task_name: str) -> Path:
    return CFG_ROOT / "train" / trainer / f"{task_name}.yaml"


def load_trainer_config(trainer: str, task_name: str) -> dict[str, Any]:
    """The library's own config for a task (`cfg/train/<trainer>/<Task>.yaml`); a clear error when there is none."""
    path = trainer_config_path(trainer, task_name)
    if not path.is_file():
        shipped = sorted(p.stem for p in path.parent.glob("*.yaml")) if path.parent.is_dir() else []
        raise ValueError(
            f"trainer={trainer} has no config for task {task_name}: expected {path} "
            f"(tasks with one: {', '.join(shipped) or 'none'}; trainer=rl_games trains every task)"
        )
    return OmegaConf.to_container(OmegaConf.load(path), resolve=True)


def checkpoint_path(nn_dir: Path, task_name: str, epoch: int) -> Path:
    return nn_dir / f"last_{task_name}_ep_{epoch}.pth"


def save_checkpoint(state: dict[str, Any], nn_dir: Path, task_name: str, epoch: int, keep: int, verbose: bool = False) -> Path:
    """Atomic save of one epoch's full training state into nn/, keeping the newest `keep` (0: all); said with `verbose`, as rl_games says it."""
    from isaac_rl.rlgames.checkpoint import atomic_torch_save, prune_checkpoints

    nn_dir.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(nn_dir, task_name, epoch)
    atomic_torch_save(state, path)
    if verbose:
        print(f"=> saved checkpoint '{path}'")
    prune_checkpoints(nn_dir, keep)
    return path


def stop_after_epoch(stop: StopRequest | None, distributed: bool, device: torch.device | str, epoch: int, save: Callable[[], Path | None]) -> None:
    """At an epoch's end: when SIGINT/SIGTERM asked (on any rank), `save()` (rank 0's checkpoint, else None) and
    raise `TrainingInterrupted`, which scripts/train.py turns into its one line and exit status."""
    from isaac_rl.rlgames.interrupt import TrainingInterrupted, agreed_signal

    signum = agreed_signal(stop, distributed, device)
    if signum is not None:
        raise TrainingInterrupted(signum, epoch, save())


class EpisodeStats:
    """Means of `extras['episode']` and of `extras['successes']` over an epoch, summed on the device.

    `add` runs every step without a host sync; `flush` syncs once per epoch.
    """

    def __init__(self, device: torch.device | str) -> None:
        self.device = device
        self._sums: dict[str, torch.Tensor] = {}
        self._steps = 0
        self._successes = torch.zeros((), device=device)
        self._ended = torch.zeros((), device=device)

    def add(self, extras: dict[str, Any], dones: torch.Tensor) -> None:
        for key, value in (extras.get("episode") or {}).items():
            if isinstance(value, torch.Tensor):
                mean = value.detach().float().mean()
                self._sums[key] = self._sums[key] + mean if key in self._sums else mean.clone()
        self._steps += 1
        successes = extras.get("successes")
        if successes is not None:
            ended = dones.bool()
            self._successes += (successes.bool() & ended).float().sum()
            self._ended += ended.float().sum()

    def flush(self) -> dict[str, float]:
        means = {key: float(total / max(self._steps, 1)) for key, total in self._sums.items()}
        if float(self._ended) > 0:
            means["success_rate"] = float(self._successes / self._ended)
        self._sums.clear()
        self._steps = 0
        self._successes.zero_()
        self._ended.zero_()
        return means


class EpochLine:
    """rl_games' epoch line (isaac_rl/rlgames/observer.py), for a library that reports per epoch."""

    def __init__(self, max_epochs: int) -> None:
        self.max_epochs = max_epochs
        self.time_before = 0.0  # seconds trained before this process (a resumed run's checkpoint: TRAINING_TIME_KEY)
        self._first: tuple[int, float] | None = None

    def format(self, epoch: int, total_time: float, epoch_time: float, frames: int, epoch_frames: int,
               reward: float | None, length: float | None, means: dict[str, float]) -> str:  # fmt: skip
        if self._first is None:
            self._first = (epoch, total_time)
        first_epoch, first_time = self._first
        done = epoch - first_epoch
        # the first epoch also pays for compilation and warm-up: leave it out of the rate once there are others
        per_epoch = (total_time - first_time) / done if done > 0 else total_time
        stats = "no episode finished yet" if reward is None else f"mean episode reward {reward:.2f}, mean episode length {length:.1f}"
        eta = format_duration(per_epoch * max(self.max_epochs - epoch, 0))
        extras = "".join(f", {key} {value:.3f}" for key, value in means.items())
        fps = epoch_frames / max(epoch_time, 1e-9)
        time = format_training_time(total_time, self.time_before)
        return f"epoch {epoch}/{self.max_epochs}: {stats}, time {time}, ETA {eta}, fps total {fps:.0f}, frames {frames}{extras}"


def build_task(cfg: DictConfig, device: str | None = None):
    """The VecTask `cfg` names, on `device` (default: cfg's sim and rl devices)."""
    from isaac_rl import tasks

    if cfg.task.env.get("gym_id"):
        raise ValueError(f"trainer={cfg.trainer} trains isaac_rl tasks; gymnasium envs (task=GymEnv) train with trainer=rl_games")
    if cfg.task.get("class_path"):
        tasks.register(cfg.task_name, cfg.task.class_path)
    return tasks.resolve(cfg.task_name)(
        cfg=OmegaConf.to_container(cfg.task, resolve=True),
        rl_device=device or cfg.rl_device,
        sim_device=device or cfg.sim_device,
        graphics_device_id=cfg.graphics_device_id,
        headless=cfg.headless,
    )


def _adapter(trainer: str):
    """isaac_rl's adapter module for `trainer`; the library itself is not imported yet (`require()` does)."""
    if trainer == "rsl_rl":
        from isaac_rl.trainers import rsl_rl as adapter
    elif trainer == "skrl":
        from isaac_rl.trainers import skrl as adapter
    else:
        raise ValueError(f"trainer={trainer}: expected one of rl_games, {', '.join(LIBRARY_TRAINERS)}")
    return adapter


def _library(trainer: str):
    """The adapter for `trainer`, its library imported (or a ValueError saying how to install it)."""
    adapter = _adapter(trainer)
    adapter.require()
    return adapter


def check_torchrun_without_multi_gpu(trainer: str, multi_gpu: bool) -> None:
    """rsl_rl and skrl go distributed whenever torchrun's WORLD_SIZE > 1, whatever `multi_gpu` says; without it
    isaac_rl would put every rank on one device and let each write a run of its own."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1 and not multi_gpu:
        raise ValueError(f"trainer={trainer} under torchrun (WORLD_SIZE={world_size}) needs multi_gpu=True: {TORCHRUN_HINT} trainer={trainer}")


def load_policy(cfg: DictConfig, task) -> torch.nn.Module:
    """`cfg.checkpoint`'s deterministic policy for `task`, a `DeployedPolicy` on the cpu."""
    library = _library(cfg.trainer)
    return library.deployed_policy(task, load_trainer_config(cfg.trainer, cfg.task_name), cfg.checkpoint)


class DeployedPolicy(torch.nn.Module):
    """Raw observations in, the action the task applies out: the library's normaliser and actor (its mean),
    then the task's own action clip. `obs_mean`/`obs_std` spread test observations like training data."""

    def __init__(self, actor: torch.nn.Module, clip_actions: float, obs_mean: torch.Tensor, obs_std: torch.Tensor) -> None:
        super().__init__()
        self.actor = actor
        self.clip_actions = float(min(clip_actions, 1e9))
        self.register_buffer("obs_mean", obs_mean.detach().float().cpu().clone())
        self.register_buffer("obs_std", obs_std.detach().float().cpu().clone())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.actor(observations), -self.clip_actions, self.clip_actions)


def play(task, policy: Callable[[torch.Tensor], torch.Tensor], games: int) -> dict[str, float]:
    """Play `games` whole episodes with `policy` (deterministic); print and return their mean reward and length."""
    device = task.rl_device
    obs = task.reset()["obs"]
    episode_reward = torch.zeros(task.num_envs, device=device)
    episode_length = torch.zeros(task.num_envs, device=device)
    rewards, lengths = [], []
    stats = EpisodeStats(device)
    with torch.inference_mode():
        while len(rewards) < games:
            obs_dict, reward, dones, extras = task.step(policy(obs))
            obs = obs_dict["obs"]
            episode_reward += reward
            episode_length += 1
            stats.add(extras, dones)
            ended = dones.bool()
            # playing, not training: one sync a step to count the episodes is fine here
            if bool(ended.any()):
                rewards += episode_reward[ended].tolist()
                lengths += episode_length[ended].tolist()
                episode_reward[ended] = 0
                episode_length[ended] = 0
    rewards, lengths = rewards[:games], lengths[:games]
    result = {"reward": sum(rewards) / len(rewards), "length": sum(lengths) / len(lengths), **stats.flush()}
    extras = "".join(f", {key} {value:.3f}" for key, value in result.items() if key not in ("reward", "length"))
    print(f"played {len(rewards)} episodes: mean episode reward {result['reward']:.2f}, mean episode length {result['length']:.1f}{extras}")
    return result


def run(cfg: DictConfig, resumed: Path | None) -> tuple[RunResult | None, Path | None]:
    """scripts/train.py for `trainer=rsl_rl|skrl`: train (a new run, or the `resumed` one) or play (`test=True`).
    Returns what the run did and its directory, for the summary line (None on ranks other than 0).

    SIGINT/SIGTERM: the adapters finish the epoch, save it and raise `TrainingInterrupted`, as rl_games' agents do.

    scripts/train.py has already settled `cfg.checkpoint` (the file to play or continue from) and `resumed`."""
    from isaac_rl.rlgames import distributed
    from isaac_rl.rlgames.interrupt import stop_on_signals
    from isaac_rl.utils.config import apply_cpu_num_envs
    from isaac_rl.utils.seeding import set_seed

    for key in ("capture_video", "wandb_activate"):
        if cfg[key]:
            raise ValueError(f"{key}=True works with trainer=rl_games; trainer={cfg.trainer} does not support it yet")
    library = _adapter(cfg.trainer)
    agent_cfg = load_trainer_config(cfg.trainer, cfg.task_name)

    # before the library is imported: skrl opens its NCCL group when imported, from torchrun's environment,
    # so CUDA is checked and this rank's GPU made current first (rsl_rl opens its group in its runner)
    check_torchrun_without_multi_gpu(cfg.trainer, cfg.multi_gpu)
    rank = distributed.current_rank(cfg.multi_gpu)
    if cfg.multi_gpu:
        library.check_multi_gpu()
        cfg.sim_device = cfg.rl_device = rank.device
        distributed.bind(rank)
    library.require()
    note = apply_cpu_num_envs(cfg, torch.cuda.is_available())
    if note:
        print(note)
    cfg.seed = set_seed(cfg.seed, cfg.torch_deterministic, rank=rank.global_rank)

    task = build_task(cfg)
    if cfg.test:
        games = cfg.num_test_games or task.num_envs
        print(f"isaac_rl: task {cfg.task_name}, {task.num_envs} envs, sim {cfg.sim_device}, rl {cfg.rl_device}, "
              f"physics {task.sim.describe()}, trainer {cfg.trainer}, test: {games} episodes of {cfg.checkpoint}")  # fmt: skip
        policy = load_policy(cfg, task).to(task.rl_device).eval()
        played = play(task, policy, games)
        epoch, best = library.checkpoint_progress(cfg.checkpoint)
        result = RunResult(episodes=games, mean_reward=played["reward"], mean_length=played["length"], played_epoch=epoch, played_best_reward=best)
        return result, None

    run_dir = (resumed or run_dirs.new_run_dir(run_dirs.experiment_dir(cfg))) if rank.is_main else None
    where = f"run {run_dir}" if run_dir is not None else f"rank {rank.global_rank}"
    print(f"isaac_rl: task {cfg.task_name}, {task.num_envs} envs, sim {cfg.sim_device}, rl {cfg.rl_device}, "
          f"physics {task.sim.describe()}, trainer {cfg.trainer}, {where}")  # fmt: skip
    if run_dir is not None:
        resolved = {**OmegaConf.to_container(cfg, resolve=True), "agent": agent_cfg}
        run_dirs.write_run_config(run_dir, OmegaConf.to_yaml(OmegaConf.create(resolved)), resumed is not None)
    try:
        with stop_on_signals() as stop:  # the adapters look at it after each epoch: interrupt.py
            result = library.train(
                task,
                agent_cfg,
                run_dir=run_dir,
                checkpoint=cfg.checkpoint or None,
                max_iterations=cfg.max_iterations or None,
                keep_checkpoints=cfg.keep_checkpoints,
                seed=cfg.seed,
                stop=stop,
                verbose=bool(cfg.verbose),
            )
    finally:
        if cfg.multi_gpu:
            distributed.shutdown()
    return (result, run_dir) if rank.is_main else (None, None)


def mean_or_none(values) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None
