"""rl_games' PPO agents with crash-safe checkpoints, registered in place of the stock ones."""

from __future__ import annotations

from rl_games.algos_torch.a2c_continuous import A2CAgent
from rl_games.algos_torch.a2c_discrete import DiscreteA2CAgent
from rl_games.torch_runner import Runner

from isaac_rl.rlgames.checkpoint import SafeCheckpointMixin


class SafeA2CAgent(SafeCheckpointMixin, A2CAgent):
    """`a2c_continuous` with atomic, pruned checkpoints and a full-state resume."""


class SafeDiscreteA2CAgent(SafeCheckpointMixin, DiscreteA2CAgent):
    """`a2c_discrete` with atomic, pruned checkpoints and a full-state resume."""


def register_safe_agents(runner: Runner) -> None:
    """Runner hook: `a2c_continuous` gets the fast agent (isaac_rl/rlgames/fast_ppo.py),
    `a2c_continuous_stock` rl_games' own, `a2c_discrete` rl_games' own; all with safe checkpoints."""
    from rl_games.algos_torch.players import PpoPlayerContinuous

    from isaac_rl.rlgames.fast_ppo import FastA2CAgent

    runner.algo_factory.register_builder("a2c_continuous", lambda **kwargs: FastA2CAgent(**kwargs))
    runner.algo_factory.register_builder("a2c_continuous_stock", lambda **kwargs: SafeA2CAgent(**kwargs))
    runner.algo_factory.register_builder("a2c_discrete", lambda **kwargs: SafeDiscreteA2CAgent(**kwargs))
    runner.player_factory.register_builder("a2c_continuous_stock", lambda **kwargs: PpoPlayerContinuous(**kwargs))
