"""Registering isaac_rl with rl_games at run time, without editing rl_games."""

from __future__ import annotations

from typing import Any, Callable

from rl_games.common import env_configurations, vecenv

from isaac_rl.rlgames.env import RLGPUEnv

ENV_NAME = "rlgpu"
VECENV_TYPE = "RLGPU"


def register_rlgpu(create_env: Callable[..., Any], health_check_interval: int = 100) -> None:
    """Make `env_name: rlgpu` in a train config build tasks with `create_env(**kwargs)`."""
    vecenv.register(
        VECENV_TYPE,
        lambda config_name, num_actors, **kwargs: RLGPUEnv(config_name, num_actors, health_check_interval, **kwargs),
    )
    env_configurations.register(ENV_NAME, {"vecenv_type": VECENV_TYPE, "env_creator": create_env})
