"""Train or play an isaac_rl task with rl_games, configured by hydra.

    python scripts/train.py task=Cartpole
    python scripts/train.py task=Ant num_envs=4096 headless=True
    python scripts/train.py task=Cartpole test=True checkpoint=runs/Cartpole/nn/Cartpole.pth
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from isaac_rl import tasks
from isaac_rl.rlgames import launch
from isaac_rl.utils.config import check_top_level, register_resolvers
from isaac_rl.utils.seeding import set_seed

register_resolvers()


def _experiment_dir(cfg: DictConfig) -> Path:
    return Path(cfg.train_dir) / cfg.train.params.config.full_experiment_name


def main(cfg: DictConfig) -> None:
    check_top_level(cfg)
    task_class = tasks.resolve(cfg.task_name)
    if cfg.checkpoint and not Path(cfg.checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint {cfg.checkpoint!r} does not exist (runs write them to runs/<experiment>/nn/*.pth)")
    if cfg.test and not cfg.checkpoint:
        raise ValueError("test=True plays a trained policy: give checkpoint=runs/<experiment>/nn/<name>.pth")

    rank = int(os.getenv("LOCAL_RANK", "0"))
    cfg.seed = set_seed(cfg.seed, cfg.torch_deterministic, rank=rank)

    task_cfg = OmegaConf.to_container(cfg.task, resolve=True)
    train_cfg = OmegaConf.to_container(cfg.train, resolve=True)
    params = train_cfg["params"]
    params["config"]["train_dir"] = cfg.train_dir
    params["config"]["device"] = cfg.rl_device
    params["config"]["device_name"] = cfg.rl_device
    params["seed"] = cfg.seed
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

    if not cfg.test:
        experiment_dir = _experiment_dir(cfg)
        experiment_dir.mkdir(parents=True, exist_ok=True)
        (experiment_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))

    runner = launch.build_runner(create_env)
    launch.run(runner, train_cfg, test=cfg.test, checkpoint=cfg.checkpoint)


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
