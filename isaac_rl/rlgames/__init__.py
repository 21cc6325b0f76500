"""rl_games integration: the RLGPU vec-env, registration and the algo observer.

Names are imported on first use, so that the light modules here (the train
config schema) load without rl_games and torch.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "RLGPUEnv": "isaac_rl.rlgames.env",
    "RLGPUAlgoObserver": "isaac_rl.rlgames.observer",
    "ENV_NAME": "isaac_rl.rlgames.registration",
    "VECENV_TYPE": "isaac_rl.rlgames.registration",
    "register_rlgpu": "isaac_rl.rlgames.registration",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'isaac_rl.rlgames' has no attribute {name!r}")


__all__ = list(_EXPORTS)
