"""rl_games integration: the RLGPU vec-env, registration and the algo observer."""

from isaac_rl.rlgames.env import RLGPUEnv
from isaac_rl.rlgames.observer import RLGPUAlgoObserver
from isaac_rl.rlgames.registration import ENV_NAME, VECENV_TYPE, register_rlgpu

__all__ = ["ENV_NAME", "RLGPUAlgoObserver", "RLGPUEnv", "VECENV_TYPE", "register_rlgpu"]
