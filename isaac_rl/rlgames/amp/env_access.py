"""Reaching the AMP parts of the task from rl_games' agent and player.

rl_games builds the model before it creates the env, but the discriminator's
input size comes from the env. rl_games also accepts a ready env in the
config (`env_info` + `vec_env`), so the AMP agent and player create it first.
"""

from __future__ import annotations

from typing import Any

from rl_games.common import vecenv


def create_env_first(config: dict[str, Any], for_player: bool = False):
    """Create the run's vec env into `config` (unless it has one) and return the task's AMP observation space."""
    if config.get("env_info") is None:
        env_config = config.get("env_config", {})
        if for_player:
            env_config = config.get("player", {}).get("env_config", env_config)
        env_config = {k: v for k, v in env_config.items() if k != "seed"}
        vec_env = vecenv.create_vec_env(config["env_name"], config["num_actors"], **env_config)
        config["vec_env"] = vec_env
        config["env_info"] = vec_env.get_env_info()
    space = config["env_info"].get("amp_observation_space")
    if space is None:
        raise ValueError(
            "algo amp_continuous needs a task with AMP observations (amp_observation_space, fetch_amp_obs_demo, "
            "extras['amp_obs']), e.g. task=HumanoidAMP; this task has none"
        )
    return space


def amp_task(vec_env: Any) -> Any:
    """The task behind rl_games' vec env (RLGPUEnv wraps it as `.env`), checked to serve demo AMP observations."""
    task = getattr(vec_env, "env", vec_env)
    if not callable(getattr(task, "fetch_amp_obs_demo", None)):
        raise ValueError(f"task {type(task).__name__} has no fetch_amp_obs_demo(num_samples): it cannot be trained with AMP")
    return task
