"""AMP (adversarial motion priors, Peng et al. 2021) for rl_games: agent, player, model and network."""

from isaac_rl.rlgames.amp.registration import ALGO_NAME, MODEL_NAME, NETWORK_NAME, register_amp

__all__ = ["ALGO_NAME", "MODEL_NAME", "NETWORK_NAME", "register_amp"]
