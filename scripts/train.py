"""Train or play an isaac_rl task with rl_games, configured by hydra.

    python scripts/train.py task=Cartpole
    python scripts/train.py task=Ant num_envs=4096 headless=True
    python scripts/train.py task=Cartpole test=True checkpoint=runs/Cartpole/<run>/nn/Cartpole.pth
    python scripts/train.py task=Cartpole resume=True            # continue the newest run after a crash
    python scripts/train.py task=Ant capture_video=True          # mp4 clips of env 0 in runs/Ant/<run>/videos/
    python scripts/train.py task=GymEnv task.env.gym_id=Pendulum-v1
    python scripts/train.py task=Anymal trainer=rsl_rl          # or trainer=skrl (docs/trainers.md)
    torchrun --nproc_per_node=2 scripts/train.py multi_gpu=True task=Ant

Each training run writes into a directory of its own, runs/<experiment>/<date>_<time>/.
The whole config is checked before torch, rl_games or the sim load, so a wrong
key or value fails in about a second with `error: <key>=<value>: expected ...`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from isaac_rl.rlgames.run_config import check_batch, check_run_config
from isaac_rl.utils import run_dirs
from isaac_rl.utils.config import apply_cpu_num_envs, reference_overrides, register_resolvers
from isaac_rl.utils.schema import ConfigError

register_resolvers()


def _experiment_dir(cfg: DictConfig) -> Path:
    return Path(cfg.train_dir) / cfg.train.params.config.name


def _resumed_run(cfg: DictConfig) -> Path | None:
    """The run directory `resume` names (True: the experiment's newest), or None for a new run."""
    if cfg.resume is False:
        return None
    if cfg.test:
        raise ValueError("resume continues training; to play a policy give test=True checkpoint=<file>.pth")
    if cfg.checkpoint:
        raise ValueError("give resume=True (the newest run of the experiment), resume=<run dir> or checkpoint=<file>.pth, not two of them")
    if cfg.resume is True:
        run = run_dirs.newest_run_dir(_experiment_dir(cfg))
        if run is None:
            print(f"resume=True: no run of {_experiment_dir(cfg)} yet, starting a new run")
        return run
    run = Path(cfg.resume)
    if not run.is_dir():
        runs = run_dirs.run_dirs(_experiment_dir(cfg))
        known = ", ".join(str(r) for r in runs[-3:]) or f"none under {_experiment_dir(cfg)}"
        raise FileNotFoundError(f"resume={cfg.resume}: no such run directory; newest runs: {known}")
    return run


def _claim_run_dir(cfg: DictConfig, resumed: Path | None, is_main: bool) -> Path:
    """The directory this run writes into: the resumed one, or a new one of its own.

    Other ranks of a multi-GPU run write nothing (rl_games saves on rank 0) but
    rl_games creates its folders on every rank: theirs go to a scratch directory.
    """
    if not is_main:
        return Path(tempfile.mkdtemp(prefix="isaac_rl_rank_")) / "run"
    return resumed if resumed is not None else run_dirs.new_run_dir(_experiment_dir(cfg))


def _write_run_config(cfg: DictConfig, run_dir: Path, resumed: bool) -> None:
    """config.yaml of a new run; a resume keeps it and adds the resumed run's config beside it."""
    name = "config.yaml"
    if resumed and (run_dir / name).exists():
        name = f"config.resume_{time.strftime(run_dirs.STAMP_FORMAT)}.yaml"
    (run_dir / name).write_text(OmegaConf.to_yaml(cfg, resolve=True))


def _video_dir(cfg: DictConfig, run_dir: Path | None) -> Path:
    """Training: the run's videos/; test mode: the played checkpoint's run's videos/ (beside nn/)."""
    if run_dir is not None:
        return run_dir / "videos"
    checkpoint_dir = Path(cfg.checkpoint).resolve().parent
    return (checkpoint_dir.parent if checkpoint_dir.name == "nn" else checkpoint_dir) / "videos"


def main(cfg: DictConfig) -> None:
    if cfg.trainer != "rl_games":
        from isaac_rl.trainers import run_trainer  # rsl_rl, skrl: isaac_rl/trainers/, docs/trainers.md

        run_trainer(cfg)
        return
    if cfg.capture_video:
        if cfg.task.env.get("gym_id"):
            raise ValueError("capture_video=True records isaac_rl tasks; gymnasium envs (task=GymEnv) are not rendered")
        from isaac_rl.utils.headless_gl import prefer_headless_gl

        prefer_headless_gl()  # before anything imports mujoco, which reads MUJOCO_GL once
    # imported here: a config error is reported before these ~10 s of imports
    import torch

    from isaac_rl import tasks
    from isaac_rl.rlgames import distributed, extensions, gym_env, launch
    from isaac_rl.rlgames.checkpoint import newest_checkpoint
    from isaac_rl.utils.seeding import set_seed

    extensions.load_extensions(cfg.extensions)
    if cfg.wandb_activate and not cfg.test:
        from isaac_rl.rlgames.wandb_logger import require_wandb

        require_wandb()
    if cfg.task.get("class_path"):
        tasks.register(cfg.task_name, cfg.task.class_path)
    is_gym = bool(cfg.task.env.get("gym_id"))
    if is_gym:
        gym_env.check_train_config(cfg.task_name, cfg.train.params.config.env_name)
    task_class = None if is_gym else tasks.resolve(cfg.task_name)

    resumed = _resumed_run(cfg)
    if resumed is not None:
        found = newest_checkpoint(resumed / "nn")
        print(f"resume: continuing {resumed} from {found}" if found else f"resume: {resumed} has no checkpoint yet, starting it over")
        cfg.checkpoint = str(found) if found else ""
    if cfg.checkpoint:
        launch.require_checkpoint_file(cfg.checkpoint)
    if cfg.test and not cfg.checkpoint:
        raise ValueError("test=True plays a trained policy: give checkpoint=runs/<experiment>/<run>/nn/<name>.pth")

    rank = distributed.current_rank(cfg.multi_gpu)
    if cfg.multi_gpu:
        cfg.sim_device = cfg.rl_device = rank.device
        distributed.bind(rank)
    note = apply_cpu_num_envs(cfg, torch.cuda.is_available())
    if note:
        print(note)
    if not cfg.test:
        check_batch(cfg)
    if cfg.warp_cache_dir:
        # Warp reads this when it initialises, which happens when the first sim is built.
        os.environ["WARP_CACHE_PATH"] = str(Path(cfg.warp_cache_dir).expanduser().resolve())
    cfg.seed = set_seed(cfg.seed, cfg.torch_deterministic, rank=rank.global_rank)

    run_dir = None if cfg.test else _claim_run_dir(cfg, resumed, rank.is_main)
    task_cfg = OmegaConf.to_container(cfg.task, resolve=True)
    train_cfg = OmegaConf.to_container(cfg.train, resolve=True)
    config = train_cfg["params"]["config"]
    config.update(device=cfg.rl_device, device_name=cfg.rl_device, keep_checkpoints=cfg.keep_checkpoints)
    # the algo observer prints one line per epoch (reward, fps, ETA) in place of rl_games' own
    config["print_stats"] = False
    if run_dir is not None:
        config.update(train_dir=str(run_dir.parent), full_experiment_name=run_dir.name)
    # rl_games adds the global rank to the seed itself under multi_gpu
    train_cfg["params"]["seed"] = cfg.seed - rank.global_rank
    if cfg.test:
        player = config.setdefault("player", {})
        player["use_vecenv"] = True
        player.setdefault("games_num", cfg.num_test_games or task_cfg["env"]["numEnvs"])
        # rl_games' other summary starts with an unlabelled sum of all rewards
        player.setdefault("balance_env_rewards", True)

    observers = []
    if cfg.wandb_activate and run_dir is not None and rank.is_main:
        from isaac_rl.rlgames.wandb_logger import WandbObserver

        resolved = OmegaConf.to_container(cfg, resolve=True)
        settings = {key: resolved[f"wandb_{key}"] for key in ("project", "entity", "group", "name", "tags")}
        observers.append(WandbObserver(run_dir, config=resolved, **settings))
    video_logger = None
    if cfg.capture_video and rank.is_main:
        from isaac_rl.rlgames.video_logger import VideoLogger
        from isaac_rl.sim.video import require_video_writer

        require_video_writer()
        video_logger = VideoLogger()
        observers.append(video_logger)

    def announce(physics: str) -> None:
        if cfg.test:
            games = config["player"]["games_num"]
            where = f"test: {games} episodes of {cfg.checkpoint} ('av reward' below is the mean episode reward, 'av steps' the mean length)"
        else:
            where = f"run {run_dir}" if rank.is_main else f"rank {rank.global_rank}"
        print(f"isaac_rl: task {cfg.task_name}, {task_cfg['env']['numEnvs']} envs, sim {cfg.sim_device}, rl {cfg.rl_device}, physics {physics}, {where}")
        if run_dir is not None and rank.is_main:
            _write_run_config(cfg, run_dir, resumed is not None)  # the run is known to start
            for observer in observers:
                observer.start()

    def create_env(**kwargs):
        env = task_class(
            cfg=task_cfg,
            rl_device=cfg.rl_device,
            sim_device=cfg.sim_device,
            graphics_device_id=cfg.graphics_device_id,
            headless=cfg.headless,
        )
        if cfg.checkpoint:
            launch.check_checkpoint(cfg.checkpoint, env.num_observations, env.num_actions)
        if video_logger is not None:
            prefix = "play" if cfg.test else "train"
            recorder = env.capture_video(_video_dir(cfg, run_dir), cfg.capture_video_freq, cfg.capture_video_len, name_prefix=prefix)
            video_logger.attach(recorder, env.num_envs)
        announce(env.sim.describe())
        return env

    try:
        if is_gym:
            creator = gym_env.make_gym_creator(task_cfg["env"]["gym_id"], task_cfg["env"].get("make_kwargs"))
            gym_env.register_gym(creator, cfg.rl_device, cfg.seed, ray_workers=task_cfg["env"].get("rayWorkers", 0))
            workers = task_cfg["env"].get("rayWorkers", 0)
            announce(f"gymnasium {task_cfg['env']['gym_id']} (cpu, {f'{workers} Ray workers' if workers else 'in process'})")
            runner = launch.build_runner(None, observers)
        else:
            runner = launch.build_runner(create_env, observers)
        launch.run(runner, train_cfg, test=cfg.test, checkpoint=cfg.checkpoint)
    finally:
        for observer in observers:
            observer.finish()
        if run_dir is not None and resumed is None:
            _drop_if_unstarted(run_dir)
        if cfg.multi_gpu:
            distributed.shutdown()


def _drop_if_unstarted(run_dir: Path) -> None:
    """A run that failed before it started leaves no directory behind (it holds no config.yaml yet)."""
    if run_dir.is_dir() and not (run_dir / "config.yaml").exists():
        for sub in ("nn", "summaries"):
            if (run_dir / sub).is_dir() and not any((run_dir / sub).iterdir()):
                (run_dir / sub).rmdir()
        if not any(run_dir.iterdir()):
            run_dir.rmdir()


def _reference(cfg: DictConfig) -> DictConfig:
    """The shipped defaults of the task and train configs this run chose (same search path)."""
    overrides = HydraConfig.get().overrides
    return hydra.compose(config_name="config", overrides=reference_overrides([*overrides.task, *overrides.hydra]))


@hydra.main(version_base="1.3", config_path="../cfg", config_name="config")
def hydra_main(cfg: DictConfig) -> None:
    try:
        check_run_config(cfg, _reference(cfg))
        main(cfg)
    except ConfigError as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    except (KeyError, ValueError, FileNotFoundError, RuntimeError) as error:
        if os.getenv("ISAAC_RL_TRACEBACK"):
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}\n(set ISAAC_RL_TRACEBACK=1 to see the traceback)", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    hydra_main()
