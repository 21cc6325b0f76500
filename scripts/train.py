"""Train or play an isaac_rl task with rl_games, configured by hydra.

    python scripts/train.py task=Cartpole
    python scripts/train.py task=Ant num_envs=4096 headless=True
    python scripts/train.py task=Cartpole test=True              # play the newest Cartpole run's best checkpoint
    python scripts/train.py task=Cartpole test=True checkpoint=runs/Cartpole/<run>    # or a run's, or a .pth
    python scripts/train.py task=Cartpole resume=True            # continue the newest run after a crash
    python scripts/train.py task=Cartpole verbose=True           # also rl_games' own output
    python scripts/train.py task=Ant capture_video=True          # mp4 clips of env 0 in runs/Ant/<run>/videos/
    python scripts/train.py task=GymEnv task.env.gym_id=Pendulum-v1
    python scripts/train.py task=Anymal trainer=rsl_rl          # or trainer=skrl (docs/trainers.md)
    torchrun --nproc_per_node=2 scripts/train.py multi_gpu=True task=Ant

Each training run writes into a directory of its own, runs/<experiment>/<date>_<time>/,
and ends with one summary line. Ctrl-C (or SIGTERM) finishes the epoch, saves it and
prints the command that continues the run (exit status 130 / 143); a second Ctrl-C
exits at once. The whole config, the checkpoint, motion file and devices it names are
checked before torch, rl_games or the sim load, so bad input fails in about a second
with one line, `error: <key>=<value>: expected ...`. Keys: README.md, cfg/config.yaml.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from isaac_rl.rlgames.run_config import check_batch, check_run_config, settle_run_files
from isaac_rl.utils import run_dirs
from isaac_rl.utils.cli import exit_on_user_error, overrides_or_help
from isaac_rl.utils.compile_cache import use_cache_dir
from isaac_rl.utils.config import apply_cpu_num_envs, compose_checked, compose_reference
from isaac_rl.utils.run_summary import RunResult, play_line, training_line

# the command's start (after these light imports), for the summary line's wall time
STARTED = time.perf_counter()


def _claim_run_dir(cfg: DictConfig, resumed: Path | None, is_main: bool) -> Path:
    """The directory this run writes into: the resumed one, or a new one of its own.

    Other ranks of a multi-GPU run write nothing (rl_games saves on rank 0) but
    rl_games creates its folders on every rank: theirs go to a scratch directory.
    """
    if not is_main:
        return Path(tempfile.mkdtemp(prefix="isaac_rl_rank_")) / "run"
    return resumed if resumed is not None else run_dirs.new_run_dir(run_dirs.experiment_dir(cfg))


def _checkpoint_run_dir(checkpoint: str | Path) -> Path:
    """The run a checkpoint belongs to (the directory above its nn/), else the checkpoint's directory."""
    checkpoint_dir = Path(checkpoint).parent
    return checkpoint_dir.parent if checkpoint_dir.name == "nn" else checkpoint_dir


def _video_dir(cfg: DictConfig, run_dir: Path | None) -> Path:
    """Training: the run's videos/; test mode: the played checkpoint's run's videos/ (beside nn/)."""
    return (run_dir if run_dir is not None else _checkpoint_run_dir(Path(cfg.checkpoint).resolve())) / "videos"


def _settle_inputs(cfg: DictConfig) -> Path | None:
    """Before torch, rl_games and the physics load: the run to resume (returned, or None), the checkpoint
    file `checkpoint=` or test mode means (said when a directory was given), the motion file, the devices."""
    resumed = run_dirs.resumed_run_dir(cfg.resume, run_dirs.experiment_dir(cfg), cfg.test, cfg.checkpoint)
    if resumed is not None:
        found = run_dirs.newest_checkpoint(resumed / "nn")
        print(f"resume: continuing {resumed} from {found}" if found else f"resume: {resumed} has no checkpoint yet, starting it over")
        cfg.checkpoint = str(found) if found else ""
    settle_run_files(cfg)
    return resumed


def main(cfg: DictConfig) -> None:
    resumed = _settle_inputs(cfg)
    # before torch and Warp load: they read where their caches are when they start
    use_cache_dir(cfg.cache_dir or None, warp_dir=cfg.warp_cache_dir or None)
    if cfg.trainer != "rl_games":
        from isaac_rl.trainers import run_trainer  # rsl_rl, skrl: isaac_rl/trainers/, docs/trainers.md

        result, run_dir = run_trainer(cfg, resumed)
        if result is not None:  # rank 0's
            print(_summary_line(cfg, result, run_dir))
        return
    if cfg.capture_video:
        if cfg.task.env.get("gym_id"):
            raise ValueError("capture_video=True records isaac_rl tasks; gymnasium envs (task=GymEnv) are not rendered")
        from isaac_rl.utils.headless_gl import prefer_headless_gl

        prefer_headless_gl()  # before anything imports mujoco, which reads MUJOCO_GL once
    # imported here: a config error is reported before these ~10 s of imports
    import torch

    from isaac_rl import tasks
    from isaac_rl.rlgames import distributed, extensions, launch
    from isaac_rl.utils.seeding import set_seed
    from isaac_rl.utils.startup_timer import mark

    mark("imports done")

    extensions.load_extensions(cfg.extensions)
    if cfg.wandb_activate and not cfg.test:
        from isaac_rl.rlgames.wandb_logger import require_wandb

        require_wandb()
    if cfg.task.get("class_path"):
        tasks.register(cfg.task_name, cfg.task.class_path)
    is_gym = bool(cfg.task.env.get("gym_id"))
    if is_gym:
        from isaac_rl.rlgames import gym_env

        gym_env.check_train_config(cfg.task_name, cfg.train.params.config.env_name)
    task_class = None if is_gym else tasks.resolve(cfg.task_name)

    rank = distributed.current_rank(cfg.multi_gpu)
    if cfg.multi_gpu:
        cfg.sim_device = cfg.rl_device = rank.device
        distributed.bind(rank)
    note = apply_cpu_num_envs(cfg, torch.cuda.is_available())
    if note:
        print(note)
    if not cfg.test:
        check_batch(cfg)
    cfg.seed = set_seed(cfg.seed, cfg.torch_deterministic, rank=rank.global_rank)

    run_dir = None if cfg.test else _claim_run_dir(cfg, resumed, rank.is_main)
    task_cfg = OmegaConf.to_container(cfg.task, resolve=True)
    train_cfg = OmegaConf.to_container(cfg.train, resolve=True)
    config = train_cfg["params"]["config"]
    config.update(device=cfg.rl_device, device_name=cfg.rl_device, keep_checkpoints=cfg.keep_checkpoints, verbose=cfg.verbose)
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
            where = f"playing {config['player']['games_num']} episodes of {cfg.checkpoint}"
        else:
            where = f"run {run_dir}" if rank.is_main else f"rank {rank.global_rank}"
        print(f"isaac_rl: task {cfg.task_name}, {task_cfg['env']['numEnvs']} envs, sim {cfg.sim_device}, rl {cfg.rl_device}, physics {physics}, {where}")
        if run_dir is not None and rank.is_main:
            run_dirs.write_run_config(run_dir, OmegaConf.to_yaml(cfg, resolve=True), resumed is not None)  # the run is known to start
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
        mark("task built")
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
        result = launch.run(runner, train_cfg, test=cfg.test, checkpoint=cfg.checkpoint, verbose=cfg.verbose)
        if rank.is_main:
            print(_summary_line(cfg, result, run_dir))
    finally:
        for observer in observers:
            observer.finish()
        if run_dir is not None and resumed is None:
            run_dirs.remove_unstarted(run_dir, Path(cfg.train_dir))
        if cfg.multi_gpu:
            distributed.shutdown()


def _summary_line(cfg: DictConfig, result: RunResult, run_dir: Path | None) -> str:
    """The run's last line: epochs, the best mean reward, the best checkpoint, the run directory, the wall time."""
    seconds = time.perf_counter() - STARTED
    if cfg.test:
        if result.played_epoch is None:  # rl_games: what its checkpoint says of its training
            from isaac_rl.rlgames.checkpoint import load_checkpoint

            state = load_checkpoint(cfg.checkpoint)
            best = float(state.get("last_mean_rewards", -1e9))  # rl_games keeps it as a numpy float32
            result.played_epoch, result.played_best_reward = state.get("epoch"), best if best > -1e9 else None
        return play_line(result, cfg.checkpoint, _checkpoint_run_dir(cfg.checkpoint), seconds)
    if cfg.trainer == "rl_games":  # rl_games keeps a best reward (and writes the best checkpoint) only from epoch save_best_after on
        after = cfg.train.params.config.get("save_best_after", 100)
        no_best = f"no best reward or checkpoint yet (rl_games keeps them from epoch save_best_after={after} on)"
    else:
        no_best = f"no episode finished yet, last checkpoint {result.last_checkpoint}"
    return training_line(result, run_dir, seconds, no_best)


def _resume_command(argv: list[str], run: Path) -> str:
    """The command that continues `run`: this one's launcher and overrides, with resume= in place of resume= or
    checkpoint=. Under torchrun, torchrun with as many processes per node (and nodes, whose rendezvous options
    the user knows: `...`)."""
    kept = [arg for arg in argv if arg.split("=", 1)[0].lstrip("+~") not in ("resume", "checkpoint")]
    world, local = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    launcher = ["python"]
    if world > 1:
        nodes = [f"--nnodes={world // local}", "..."] if world > local else []
        launcher = ["torchrun", *nodes, f"--nproc_per_node={local}"]
    return " ".join([shlex.join(launcher).replace("'...'", "..."), shlex.join([sys.argv[0], *kept, f"resume={run}"])])


def _interrupted_line(stop, argv: list[str]) -> str:
    """One line for training stopped by a signal: the epoch, the checkpoint, and how to continue."""
    name = signal.Signals(stop.signum).name
    if stop.checkpoint is None:
        return f"isaac_rl: {name} before an epoch finished: nothing new to save"
    return f"isaac_rl: {name} after epoch {stop.epoch}: saved {stop.checkpoint}; continue with: {_resume_command(argv, _checkpoint_run_dir(stop.checkpoint))}"


def run_command_line(argv: list[str]) -> None:
    """Compose and check the config from `argv` (before any heavy import), then train or play."""
    from isaac_rl.rlgames.interrupt import TrainingInterrupted

    try:
        with exit_on_user_error():
            overrides = overrides_or_help(argv, __doc__)
            cfg = compose_checked(overrides)
            check_run_config(cfg, compose_reference(overrides))
            main(cfg)
    except TrainingInterrupted as stop:
        if os.environ.get("RANK", "0") == "0":
            print(_interrupted_line(stop, argv), flush=True)
        sys.exit(stop.exit_code)
    except KeyboardInterrupt:
        print("isaac_rl: interrupted (SIGINT), nothing saved", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    run_command_line(sys.argv[1:])
