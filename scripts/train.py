"""Train or play an isaac_rl task with rl_games, configured by hydra.

    python scripts/train.py task=Cartpole
    python scripts/train.py task=Ant num_envs=4096 headless=True
    python scripts/train.py task=Cartpole test=True checkpoint=runs/Cartpole/nn/Cartpole.pth
    python scripts/train.py task=Cartpole resume=True            # continue after a crash
    python scripts/train.py task=GymEnv task.env.gym_id=Pendulum-v1
    torchrun --nproc_per_node=2 scripts/train.py multi_gpu=True task=Ant
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from isaac_rl import tasks
from isaac_rl.rlgames import distributed, extensions, gym_env, launch
from isaac_rl.rlgames.checkpoint import check_keep_checkpoints, newest_checkpoint
from isaac_rl.utils.config import check_top_level, register_resolvers
from isaac_rl.utils.seeding import set_seed

register_resolvers()


def _experiment_dir(cfg: DictConfig) -> Path:
    return Path(cfg.train_dir) / cfg.train.params.config.full_experiment_name


def _resume_checkpoint(cfg: DictConfig) -> str:
    """The newest checkpoint of this experiment, or '' (a fresh start) when it has none."""
    if not isinstance(cfg.resume, bool):
        raise ValueError(f"config key resume={cfg.resume!r}: expected True or False")
    if not cfg.resume:
        return cfg.checkpoint
    if cfg.test:
        raise ValueError("resume=True continues training; to play a policy give test=True checkpoint=<file>.pth")
    if cfg.checkpoint:
        raise ValueError("give resume=True (the newest checkpoint of runs/<experiment>/nn/) or checkpoint=<file>.pth, not both")
    nn_dir = _experiment_dir(cfg) / "nn"
    found = newest_checkpoint(nn_dir)
    if found is None:
        print(f"resume=True: no checkpoint in {nn_dir} yet, starting a new run")
        return ""
    print(f"resume=True: continuing from {found}")
    return str(found)


def _check_gym_train_config(cfg: DictConfig) -> None:
    env_name = cfg.train.params.config.env_name
    if env_name != gym_env.ENV_NAME:
        raise ValueError(
            f"task {cfg.task_name!r} is a gymnasium env (task.env.gym_id) but its train config has env_name: {env_name}; "
            f"use a train config with env_name: {gym_env.ENV_NAME} (train=GymEnvPPO, or train=GymEnvDiscretePPO for discrete actions)"
        )


def _register_gym_env(cfg: DictConfig, task_cfg: dict) -> None:
    """Make `env_name: gym` build the task config's gymnasium env (`task.env.gym_id`)."""
    env = task_cfg["env"]
    gym_env.register_gym(gym_env.make_gym_creator(env["gym_id"], env.get("make_kwargs")), cfg.rl_device, cfg.seed)


def main(cfg: DictConfig) -> None:
    check_top_level(cfg)
    extensions.load_extensions(cfg.extensions)
    if cfg.task.get("class_path"):
        tasks.register(cfg.task_name, cfg.task.class_path)
    is_gym = bool(cfg.task.env.get("gym_id"))
    if is_gym:
        _check_gym_train_config(cfg)
    task_class = None if is_gym else tasks.resolve(cfg.task_name)
    keep_checkpoints = check_keep_checkpoints(cfg.keep_checkpoints)
    cfg.checkpoint = _resume_checkpoint(cfg)
    if cfg.checkpoint:
        launch.require_checkpoint_file(cfg.checkpoint)
    if cfg.test and not cfg.checkpoint:
        raise ValueError("test=True plays a trained policy: give checkpoint=runs/<experiment>/nn/<name>.pth")

    rank = distributed.current_rank(cfg.multi_gpu)
    if cfg.multi_gpu:
        cfg.sim_device = cfg.rl_device = rank.device
        distributed.bind(rank)
    if cfg.warp_cache_dir:
        # Warp reads this when it initialises, which happens when the first sim is built.
        os.environ["WARP_CACHE_PATH"] = str(Path(cfg.warp_cache_dir).expanduser().resolve())
    cfg.seed = set_seed(cfg.seed, cfg.torch_deterministic, rank=rank.global_rank)

    task_cfg = OmegaConf.to_container(cfg.task, resolve=True)
    train_cfg = OmegaConf.to_container(cfg.train, resolve=True)
    params = train_cfg["params"]
    params["config"]["train_dir"] = cfg.train_dir
    params["config"]["device"] = cfg.rl_device
    params["config"]["device_name"] = cfg.rl_device
    # rl_games adds the global rank to the seed itself under multi_gpu
    params["seed"] = cfg.seed - rank.global_rank
    params["config"]["keep_checkpoints"] = keep_checkpoints
    if not cfg.test:
        launch.check_train_params(params, task_cfg["env"]["numEnvs"])
    else:
        player = params["config"].setdefault("player", {})
        player["use_vecenv"] = True
        player.setdefault("games_num", cfg.num_test_games or task_cfg["env"]["numEnvs"])

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
        return env

    if not cfg.test and rank.is_main:
        experiment_dir = _experiment_dir(cfg)
        experiment_dir.mkdir(parents=True, exist_ok=True)
        (experiment_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))

    if is_gym:
        _register_gym_env(cfg, task_cfg)
        runner = launch.build_runner(None)
    else:
        runner = launch.build_runner(create_env)
    launch.run(runner, train_cfg, test=cfg.test, checkpoint=cfg.checkpoint)
    if cfg.multi_gpu:
        distributed.shutdown()


@hydra.main(version_base="1.3", config_path="../cfg", config_name="config")
def hydra_main(cfg: DictConfig) -> None:
    try:
        main(cfg)
    except (KeyError, ValueError, FileNotFoundError, RuntimeError) as error:
        if os.getenv("ISAAC_RL_TRACEBACK"):
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}\n(set ISAAC_RL_TRACEBACK=1 to see the traceback)", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    hydra_main()
