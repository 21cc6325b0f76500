"""Registering AMP into an rl_games Runner without editing rl_games."""

from __future__ import annotations

from rl_games.algos_torch import model_builder
from rl_games.torch_runner import Runner

from isaac_rl.rlgames.amp.agent import AMPAgent, StockAMPAgent
from isaac_rl.rlgames.amp.model import ModelAMPContinuous
from isaac_rl.rlgames.amp.network import AMPBuilder
from isaac_rl.rlgames.amp.player import AMPPlayer
from isaac_rl.rlgames.checkpoint import use_safe_loader_in_rl_games

ALGO_NAME = "amp_continuous"
STOCK_ALGO_NAME = "amp_continuous_stock"  # the same on rl_games' own agent, for comparison
MODEL_NAME = "continuous_amp"
NETWORK_NAME = "amp"


def register_amp(runner: Runner) -> None:
    """Make `algo: amp_continuous` (and `amp_continuous_stock`), `model: continuous_amp` and `network: amp` available to `runner`."""
    runner.algo_factory.register_builder(ALGO_NAME, lambda **kwargs: AMPAgent(**kwargs))
    runner.algo_factory.register_builder(STOCK_ALGO_NAME, lambda **kwargs: StockAMPAgent(**kwargs))
    for name in (ALGO_NAME, STOCK_ALGO_NAME):
        runner.player_factory.register_builder(name, lambda **kwargs: AMPPlayer(**kwargs))
    # AMPPlayer restores through rl_games' loader: make it the safe one also in a Runner not built by launch
    use_safe_loader_in_rl_games()
    # the model and network registries are rl_games-global: registering again is harmless
    model_builder.register_model(MODEL_NAME, ModelAMPContinuous)
    model_builder.register_network(NETWORK_NAME, AMPBuilder)
