"""AMP (adversarial motion priors, Peng et al. 2021) for rl_games: agent, player, model and network."""

from importlib import import_module
from typing import Any

_EXPORTS = ("ALGO_NAME", "MODEL_NAME", "NETWORK_NAME", "register_amp")


def __getattr__(name: str) -> Any:
    # imported on first use: amp.config stays importable without rl_games and torch
    if name in _EXPORTS:
        return getattr(import_module("isaac_rl.rlgames.amp.registration"), name)
    raise AttributeError(f"module 'isaac_rl.rlgames.amp' has no attribute {name!r}")


__all__ = list(_EXPORTS)
